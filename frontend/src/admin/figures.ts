// Turning the server's figures into what the charts draw.
import type { AppointmentDay, Usage } from "./api";
import { addDays } from "../time";

/** The periods the figures page offers, in days ending today. */
export const periods = [7, 30, 90] as const;
export type Period = (typeof periods)[number];

/** dayIn is the calendar day (YYYY-MM-DD) a moment falls on in a time zone. */
export function dayIn(moment: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(moment);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return `${part("year")}-${part("month")}-${part("day")}`;
}

export { addDays } from "../time";

/** rangeEnding is the first and last day of the `days` days ending on `last`. */
export function rangeEnding(last: string, days: number): { from: string; to: string } {
  return { from: addDays(last, -(days - 1)), to: last };
}

/** daysOf lists every day from `from` to `to`, both included. */
export function daysOf(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}

/** messagesPerDay sums the assistant's answers on each of `days`, across users and providers. */
export function messagesPerDay(rows: Usage[], days: string[]): number[] {
  const byDay = new Map<string, number>();
  for (const r of rows) byDay.set(r.day, (byDay.get(r.day) ?? 0) + r.messages);
  return days.map((d) => byDay.get(d) ?? 0);
}

export interface ProviderTokens {
  /** provider is the provider's name; "" for use recorded before providers were counted. */
  provider: string;
  tokensIn: number;
  tokensOut: number;
}

/** tokensPerProvider sums tokens by provider, the busiest first. */
export function tokensPerProvider(rows: Usage[]): ProviderTokens[] {
  const by = new Map<string, ProviderTokens>();
  for (const r of rows) {
    const p = by.get(r.provider) ?? { provider: r.provider, tokensIn: 0, tokensOut: 0 };
    p.tokensIn += r.tokens_in;
    p.tokensOut += r.tokens_out;
    by.set(r.provider, p);
  }
  return [...by.values()].sort((a, b) => b.tokensIn + b.tokensOut - (a.tokensIn + a.tokensOut) || a.provider.localeCompare(b.provider));
}

export type Outcomes = Omit<AppointmentDay, "day">;

/** outcomeTotals adds up the appointments of every day by outcome. */
export function outcomeTotals(days: AppointmentDay[]): Outcomes {
  const sum: Outcomes = { total: 0, open: 0, fulfilled: 0, noshow: 0, cancelled: 0 };
  for (const d of days) {
    sum.total += d.total;
    sum.open += d.open;
    sum.fulfilled += d.fulfilled;
    sum.noshow += d.noshow;
    sum.cancelled += d.cancelled;
  }
  return sum;
}
