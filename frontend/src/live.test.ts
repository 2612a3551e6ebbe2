import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Client } from "./api/client";
import { backoff, Live, staleAfter, type LiveEvent, type LiveState } from "./live";

class FakeSocket {
  static all: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: string }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  close() {
    this.closed = true;
  }
}

function fakeClient(tokens: string[]): Client & { expired: number } {
  const c = {
    baseURL: "https://clinic.example",
    expired: 0,
    accessToken: vi.fn(async () => tokens.shift() ?? null),
    expireAccess() {
      c.expired++;
    },
  };
  return c as unknown as Client & { expired: number };
}

describe("backoff", () => {
  it("doubles from about a second up to thirty, with jitter in the upper half", () => {
    expect(backoff(0, () => 0)).toBe(500);
    expect(backoff(0, () => 1)).toBe(1000);
    expect(backoff(3, () => 1)).toBe(8000);
    expect(backoff(20, () => 1)).toBe(30000);
    expect(backoff(20, () => 0)).toBe(15000);
  });
});

describe("Live", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
  });
  afterEach(() => vi.useRealTimers());

  it("connects with the token, passes events on and reconnects with back-off after a drop", async () => {
    const events: LiveEvent[] = [];
    const states: LiveState[] = [];
    const client = fakeClient(["t1", "t2"]);
    const live = new Live(client, (e) => events.push(e), (s) => states.push(s), (url) => new FakeSocket(url) as unknown as WebSocket);
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.all).toHaveLength(1);
    expect(FakeSocket.all[0].url).toBe("wss://clinic.example/api/v1/ws?access_token=t1");
    FakeSocket.all[0].onopen!();
    FakeSocket.all[0].onmessage!({ data: JSON.stringify({ type: "appointment.booked", id: "e1", at: "" }) });
    FakeSocket.all[0].onmessage!({ data: "not json" });
    FakeSocket.all[0].onmessage!({ data: JSON.stringify({ type: "pong" }) });
    expect(events.map((e) => e.id)).toEqual(["e1"]);

    // The server refuses the token: it is renewed and the socket comes back after a pause.
    FakeSocket.all[0].onclose!({ code: 1008 });
    expect(client.expired).toBe(1);
    expect(states.at(-1)).toBe("closed");
    await vi.advanceTimersByTimeAsync(400);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.all).toHaveLength(2);
    expect(FakeSocket.all[1].url).toContain("access_token=t2");
    FakeSocket.all[1].onopen!();
    expect(states.at(-1)).toBe("open");

    live.close();
    expect(FakeSocket.all[1].closed).toBe(true);
    FakeSocket.all[1].onclose!({ code: 1000 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it("waits longer after each failed attempt", async () => {
    const client = fakeClient([]);
    // The jitter at its largest: waits of 1 s, then 2 s.
    new Live(client, () => {}, () => {}, (url) => new FakeSocket(url) as unknown as WebSocket, () => 1);
    // No token: nothing to connect with; it tries again later, further apart.
    await vi.advanceTimersByTimeAsync(0);
    expect(client.accessToken).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(client.accessToken).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(client.accessToken).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(client.accessToken).toHaveBeenCalledTimes(3);
  });
});

describe("staleAfter", () => {
  const event = (type: string): LiveEvent => ({ type, id: "x", at: "" });

  it("refreshes appointments, free times and the sync queue when an appointment is booked or changes (a booking confirmed upstream)", () => {
    for (const type of ["appointment.booked", "appointment.changed", "appointment.cancelled"]) {
      expect(staleAfter(event(type))).toEqual([["appointments"], ["slots"], ["sync", "status"]]);
    }
  });

  it("refreshes the sync state, the conflicts and the appointments on a sync conflict (the booking that lost is cancelled)", () => {
    expect(staleAfter(event("sync.conflict"))).toEqual([["sync"], ["appointments"], ["slots"]]);
  });

  it("leaves the sync state alone for other events", () => {
    expect(staleAfter(event("notification.created"))).toEqual([["notifications"]]);
    expect(staleAfter(event("knowledge.ingestion"))).toEqual([["knowledge"]]);
    expect(staleAfter(event("pong"))).toEqual([]);
  });
});
