import { op } from "./api/operations";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { Client } from "./api/client";
import { notify } from "./desktop";
import { t } from "./i18n";

/** A live event from /api/v1/ws. */
export interface LiveEvent {
  type: string;
  id: string;
  at: string;
  data?: unknown;
}

export type LiveState = "connecting" | "open" | "closed";

/** backoff is the wait before reconnection attempt n (from 0): 1 s doubling to 30 s, with jitter. */
export function backoff(n: number, random = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** n);
  return Math.round(base / 2 + (random() * base) / 2);
}

/**
 * Live keeps a WebSocket to the server open while the user is signed in,
 * reconnecting with back-off when it drops.
 */
export class Live {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer = 0;
  private stopped = false;
  state: LiveState = "connecting";

  constructor(
    private readonly client: Client,
    private readonly onEvent: (e: LiveEvent) => void,
    private readonly onState: (s: LiveState) => void,
    private readonly makeSocket: (url: string) => WebSocket = (url) => new WebSocket(url),
    private readonly random: () => number = Math.random,
  ) {
    void this.connect();
  }

  private set(state: LiveState) {
    this.state = state;
    this.onState(state);
  }

  private async connect() {
    if (this.stopped) return;
    this.set("connecting");
    let token: string | null = null;
    try {
      token = await this.client.accessToken();
    } catch {
      token = null;
    }
    if (this.stopped) return;
    if (!token) return this.retry();
    const url = new URL(op("GET /api/v1/ws")[1], this.client.baseURL);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("access_token", token);
    const ws = this.makeSocket(url.toString());
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.set("open");
    };
    ws.onmessage = (m) => {
      try {
        const e = JSON.parse(String(m.data)) as LiveEvent;
        if (e.type && e.type !== "pong") this.onEvent(e);
      } catch {
        // not an event
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // A refused token (policy violation) is renewed before the next try.
      if (ev.code === 1008) this.client.expireAccess();
      this.retry();
    };
  }

  private retry() {
    if (this.stopped) return;
    this.set("closed");
    this.timer = window.setTimeout(() => void this.connect(), backoff(this.attempt++, this.random));
  }

  close() {
    this.stopped = true;
    window.clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
  }
}

/**
 * ingestionFinished tells, from a knowledge.ingestion event, that a source
 * that was being read is now done: the counts for a notification, or null.
 * scanning remembers the sources seen in progress.
 */
export function ingestionFinished(scanning: Set<string>, e: LiveEvent): { indexed: number; failed: number } | null {
  const p = e.data as { source_id?: string; scanning?: boolean; pending?: number; indexed?: number; failed?: number } | undefined;
  if (!p?.source_id) return null;
  if (p.scanning || (p.pending ?? 0) > 0) {
    scanning.add(p.source_id);
    return null;
  }
  if (!scanning.delete(p.source_id)) return null;
  return { indexed: p.indexed ?? 0, failed: p.failed ?? 0 };
}

/**
 * staleAfter lists the cached queries (by key prefix) a live event makes
 * out of date. An appointment's change also changes this installation's
 * sync queue; a sync conflict cancels the booking that lost and adds a
 * conflict to rebook.
 */
export function staleAfter(e: LiveEvent): string[][] {
  if (e.type.startsWith("appointment.")) return [["appointments"], ["slots"], ["sync", "status"]];
  if (e.type.startsWith("sync.")) return [["sync"], ["appointments"], ["slots"]];
  if (e.type.startsWith("notification.")) return [["notifications"]];
  if (e.type.startsWith("knowledge.")) return [["knowledge"]];
  return [];
}

/**
 * useLiveUpdates applies live events to the cached queries while mounted,
 * so a booking made elsewhere appears without a reload, and reports
 * whether the connection is up.
 */
export function useLiveUpdates(client: Client): LiveState {
  const queries = useQueryClient();
  const [state, setState] = useState<LiveState>("connecting");
  useEffect(() => {
    const scanning = new Set<string>();
    const live = new Live(
      client,
      (e) => {
        for (const queryKey of staleAfter(e)) void queries.invalidateQueries({ queryKey });
        if (e.type.startsWith("notification.")) {
          const n = e.data as { subject?: string; body?: string } | undefined;
          if (n?.subject) notify(n.subject, n.body ?? "");
        } else if (e.type.startsWith("knowledge.")) {
          const done = ingestionFinished(scanning, e);
          if (done) notify(t("knowledge.finishedTitle"), t("knowledge.finishedBody", done));
        }
      },
      setState,
    );
    return () => live.close();
  }, [client, queries]);
  return state;
}
