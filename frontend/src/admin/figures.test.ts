import { describe, expect, it } from "vitest";
import type { Usage } from "./api";
import { addDays, dayIn, daysOf, messagesPerDay, outcomeTotals, rangeEnding, tokensPerProvider } from "./figures";

const use = (user_id: string, day: string, provider: string, messages: number, tokens_in: number, tokens_out: number): Usage => ({ user_id, day, provider, messages, tokens_in, tokens_out });

const rows = [
  use("u1", "2026-03-01", "Cloud", 2, 100, 400),
  use("u2", "2026-03-01", "Local", 1, 10, 20),
  use("u1", "2026-03-03", "Cloud", 4, 50, 50),
  use("u3", "2026-03-03", "", 1, 5, 5),
  use("u3", "2026-02-20", "Local", 9, 1, 1), // before the range
];

describe("figures", () => {
  it("counts messages per day across users and providers, with the quiet days as zero", () => {
    expect(messagesPerDay(rows, daysOf("2026-03-01", "2026-03-04"))).toEqual([3, 0, 5, 0]);
  });

  it("sums tokens in and out per provider, busiest first, keeping unnamed use apart", () => {
    expect(tokensPerProvider(rows)).toEqual([
      { provider: "Cloud", tokensIn: 150, tokensOut: 450 },
      { provider: "Local", tokensIn: 11, tokensOut: 21 },
      { provider: "", tokensIn: 5, tokensOut: 5 },
    ]);
    expect(tokensPerProvider([])).toEqual([]);
  });

  it("lists the days of a period ending today, across month and year ends", () => {
    expect(rangeEnding("2026-03-02", 7)).toEqual({ from: "2026-02-24", to: "2026-03-02" });
    expect(daysOf("2025-12-30", "2026-01-02")).toEqual(["2025-12-30", "2025-12-31", "2026-01-01", "2026-01-02"]);
    expect(daysOf(...(Object.values(rangeEnding("2026-01-15", 90)) as [string, string]))).toHaveLength(90);
    expect(addDays("2024-02-28", 1)).toBe("2024-02-29");
  });

  it("finds today's date in the time zone asked for", () => {
    const lateUTC = new Date("2026-01-01T23:30:00Z");
    expect(dayIn(lateUTC, "UTC")).toBe("2026-01-01");
    expect(dayIn(lateUTC, "Europe/Berlin")).toBe("2026-01-02");
    expect(dayIn(new Date("2026-01-01T03:00:00Z"), "America/New_York")).toBe("2025-12-31");
  });

  it("adds up appointments by outcome", () => {
    expect(
      outcomeTotals([
        { day: "2026-03-01", total: 4, open: 1, fulfilled: 2, noshow: 1, cancelled: 0 },
        { day: "2026-03-02", total: 3, open: 0, fulfilled: 1, noshow: 0, cancelled: 2 },
      ]),
    ).toEqual({ total: 7, open: 1, fulfilled: 3, noshow: 1, cancelled: 2 });
  });
});
