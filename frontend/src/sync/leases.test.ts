import { describe, expect, it } from "vitest";
import { staleAfter } from "../live";
import { confirmMargin, expired, leasesKey, ownLeases, slotMark, ttlSeconds, type SyncLease } from "./leases";

const never = "0001-01-01T00:00:00Z";
const now = new Date("2030-03-04T08:00:00Z");
const lease = (over: Partial<SyncLease>): SyncLease => ({
  id: "l1", node_id: "", doctor_id: "d-lee", start: "2030-03-04T09:00:00Z", end: "2030-03-04T12:00:00Z",
  expires_at: "2030-03-04T12:00:00Z", created_at: "2030-03-04T07:00:00Z", released_at: never, ...over,
});
const slot = (start: string, end: string) => ({ start: `2030-03-04T${start}:00Z`, end: `2030-03-04T${end}:00Z` });

describe("slot leases", () => {
  it("marks a free time inside another site's lease as held, even where it only overlaps", () => {
    const theirs = [lease({ node_id: "ws-2" })];
    expect(slotMark(slot("09:00", "09:30"), "d-lee", theirs, now)).toBe("held");
    expect(slotMark(slot("08:45", "09:15"), "d-lee", theirs, now)).toBe("held");
    expect(slotMark(slot("11:30", "12:00"), "d-lee", theirs, now)).toBe("held");
    // Touching its ends is outside it.
    expect(slotMark(slot("08:30", "09:00"), "d-lee", theirs, now)).toBeNull();
    expect(slotMark(slot("12:00", "12:30"), "d-lee", theirs, now)).toBeNull();
    // Another doctor's time is not held.
    expect(slotMark(slot("09:00", "09:30"), "d-kim", theirs, now)).toBeNull();
  });

  it("holds another site's time until the lease is released, past its expiry too (the main server releases it)", () => {
    expect(slotMark(slot("09:00", "09:30"), "d-lee", [lease({ node_id: "ws-2", expires_at: "2030-03-04T07:00:00Z" })], now)).toBe("held");
    expect(slotMark(slot("09:00", "09:30"), "d-lee", [lease({ node_id: "ws-2", released_at: "2030-03-04T07:30:00Z" })], now)).toBeNull();
  });

  it("confirms at once only inside this installation's own lease, whole, and not in its last 15 minutes", () => {
    const mine = [lease({})];
    expect(slotMark(slot("09:00", "09:30"), "d-lee", mine, now)).toBe("own");
    expect(slotMark(slot("11:30", "12:00"), "d-lee", mine, now)).toBe("own");
    expect(slotMark(slot("08:45", "09:15"), "d-lee", mine, now)).toBeNull();
    expect(slotMark(slot("09:00", "09:30"), "d-lee", [lease({ released_at: "2030-03-04T07:30:00Z" })], now)).toBeNull();
    const expires = new Date(now.getTime() + confirmMargin).toISOString();
    expect(slotMark(slot("09:00", "09:30"), "d-lee", [lease({ expires_at: expires })], now)).toBeNull();
    expect(slotMark(slot("09:00", "09:30"), "d-lee", [lease({ expires_at: new Date(now.getTime() + confirmMargin + 60_000).toISOString() })], now)).toBe("own");
    expect(slotMark(slot("09:00", "09:30"), "d-lee", undefined, now)).toBeNull();
  });

  it("lists this installation's own leases that still hold, by start", () => {
    const list = [
      lease({ id: "late", start: "2030-03-05T09:00:00Z" }),
      lease({ id: "theirs", node_id: "ws-2" }),
      lease({ id: "given-back", released_at: "2030-03-04T07:30:00Z" }),
      lease({ id: "early" }),
    ];
    expect(ownLeases(list).map((l) => l.id)).toEqual(["early", "late"]);
    expect(expired(lease({ expires_at: "2030-03-04T08:00:00Z" }), now)).toBe(true);
    expect(expired(lease({}), now)).toBe(false);
  });

  it("is refreshed by the live events of sync (the leases' key is under \"sync\")", () => {
    for (const type of ["sync.status", "sync.conflict"]) {
      const prefixes = staleAfter({ type, id: "x", at: "" });
      expect(prefixes.some((p) => p.every((k, i) => leasesKey[i] === k))).toBe(true);
    }
  });

  it("asks for a hold until the block ends (0) or for a number of hours in seconds", () => {
    expect(ttlSeconds({ kind: "end" })).toBe(0);
    expect(ttlSeconds({ kind: "hours", hours: 24 })).toBe(86_400);
    expect(ttlSeconds({ kind: "hours", hours: 168 })).toBe(604_800);
  });
});
