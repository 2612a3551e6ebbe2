// Slot leases, as the UI reads them: a block of a doctor's time that the
// main server lends to one installation. Inside this installation's own
// lease its bookings are confirmed at once, even offline; inside another
// site's, the databases refuse anyone else's booking.
import { useQuery } from "@tanstack/react-query";
import { useLocation } from "react-router-dom";
import type { Client } from "../api/client";
import { op } from "../api/operations";
import type * as S from "../api/schema";
import { useSession } from "../auth/session";
import { isSet, useSyncStatus } from "./api";

export type SyncLease = S.SyncLease;
export type LeaseRequest = S.LeaseRequest;

/** leasesKey is the prefix of the leases' queries: a live "sync." event or a change here refreshes them. */
export const leasesKey = ["sync", "leases"];

export const listLeases = (c: Client) => c.request<{ leases: SyncLease[] }>(...op("GET /api/v1/sync/node/leases")).then((r) => r.leases ?? []);
export const borrowLease = (c: Client, body: LeaseRequest) => c.request<SyncLease>(...op("POST /api/v1/sync/node/leases"), body);
export const giveBackLease = (c: Client, id: string) => c.request<SyncLease>(...op("POST /api/v1/sync/node/leases/{id}/release", { id }));

/** The longest a lease is held, in hours (the main server's limit: 7 days). */
export const maxHoldHours = 168;

/**
 * confirmMargin: this installation stops confirming at once 15 minutes
 * before its lease expires, in case its clock runs ahead of the main
 * server's (the server's upstream.ClockMargin).
 */
export const confirmMargin = 15 * 60_000;

/** The roles that book and so see which free times are whose. */
const bookers = new Set(["staff", "admin"]);

/**
 * useLeases is the leases this installation knows of, only when it is
 * enrolled with an upstream and for the front desk and admins. It is
 * fetched once per page view (the key carries the navigation's key) and
 * again when a live sync event or a change made here invalidates "sync".
 */
export function useLeases() {
  const { client, user } = useSession();
  const status = useSyncStatus();
  const view = useLocation().key;
  const enabled = !!user && bookers.has(user.role) && !!status.data?.enrolled;
  return useQuery({
    queryKey: [...leasesKey, view],
    enabled,
    queryFn: () => listLeases(client),
    staleTime: Infinity,
    gcTime: 60_000,
    retry: false,
  });
}

/** isOwn: the lease is this installation's (node_id "" is this installation). */
export const isOwn = (l: Pick<SyncLease, "node_id">) => !l.node_id;

/** holds: the lease still holds its time (not given back; an expired one holds until the main server releases it). */
export const holds = (l: Pick<SyncLease, "released_at">) => !isSet(l.released_at);

/** ownLeases are this installation's leases that still hold time, by start. */
export function ownLeases(list: SyncLease[]): SyncLease[] {
  return list.filter((l) => isOwn(l) && holds(l)).sort((a, b) => a.start.localeCompare(b.start) || a.id.localeCompare(b.id));
}

/** expired: the lease's hold is over (it still holds until the main server hears from this installation). */
export const expired = (l: Pick<SyncLease, "expires_at">, now = new Date()) => new Date(l.expires_at).getTime() <= now.getTime();

/** SlotMark is how a free time reads for the front desk: another site holds it, or a booking there is confirmed at once. */
export type SlotMark = "held" | "own" | null;

const ms = (iso: string) => new Date(iso).getTime();

/**
 * slotMark tells whether a free time of a doctor lies in a lease: "held"
 * when another site's lease that still holds overlaps it (the databases
 * refuse a booking there), "own" when one of this installation's leases
 * covers it whole and is not in its last 15 minutes (a booking there is
 * confirmed at once), else null.
 */
export function slotMark(slot: { start: string; end: string }, doctorID: string, leases: SyncLease[] | undefined, now = new Date()): SlotMark {
  if (!leases?.length) return null;
  const start = ms(slot.start);
  const end = ms(slot.end);
  let own = false;
  for (const l of leases) {
    if (l.doctor_id !== doctorID || !holds(l)) continue;
    if (!isOwn(l)) {
      if (ms(l.start) < end && start < ms(l.end)) return "held";
    } else if (ms(l.start) <= start && end <= ms(l.end) && now.getTime() < ms(l.expires_at) - confirmMargin) {
      own = true;
    }
  }
  return own ? "own" : null;
}

/** HoldFor is how long to keep a lease: until its block ends, or a number of hours. */
export type HoldFor = { kind: "end" } | { kind: "hours"; hours: number };

/** ttlSeconds is the request's ttl_seconds: 0 holds it until the block ends. */
export const ttlSeconds = (h: HoldFor) => (h.kind === "end" ? 0 : Math.round(h.hours * 3600));
