import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { addDays, dayIn, daysOf } from "./figures";
import { browserTimeZone, FiguresPage } from "./FiguresPage";
import { renderAsAdmin, type Call } from "./testing";

afterEach(cleanup);

const zone = browserTimeZone();
const today = dayIn(new Date(), zone);
const yesterday = addDays(today, -1);

function server(rate: number | null) {
  return (c: Call) => {
    if (c.path === "/api/v1/ai/usage") {
      return {
        body: {
          usage: [
            { user_id: "u1", day: today, provider: "Cloud", messages: 3, tokens_in: 300, tokens_out: 900 },
            { user_id: "u2", day: today, provider: "Cloud", messages: 1, tokens_in: 100, tokens_out: 100 },
            { user_id: "u2", day: yesterday, provider: "", messages: 2, tokens_in: 7, tokens_out: 8 },
          ],
        },
      };
    }
    if (c.path === "/api/v1/analytics/appointments") {
      const from = c.query.get("from")!;
      const to = c.query.get("to")!;
      const days = daysOf(from, to).map((day) => ({ day, total: 0, open: 0, fulfilled: 0, noshow: 0, cancelled: 0 }));
      days[days.length - 1] = { day: to, total: 6, open: 2, fulfilled: 3, noshow: 1, cancelled: 0 };
      return { body: { from, to, time_zone: c.query.get("time_zone"), days, no_show_rate: rate } };
    }
    return undefined;
  };
}

const cells = (row: HTMLElement) => within(row).getAllByRole("cell").map((c) => c.textContent);

describe("FiguresPage", () => {
  it("asks for the last 30 days in the browser's time zone and charts the numbers", async () => {
    const calls = await renderAsAdmin(<FiguresPage />, server(0.25));
    const messages = await screen.findByRole("table", { name: /assistant messages per day/i });
    const day = (d: string) => within(messages).getAllByRole("row").find((r) => r.getAttribute("data-category") === d)!;
    expect(cells(day(today))).toEqual(["4"]);
    expect(cells(day(yesterday))).toEqual(["2"]);
    expect(within(messages).getAllByRole("row")).toHaveLength(31); // header and 30 days

    const tokens = screen.getByRole("table", { name: /tokens per provider/i });
    expect(cells(within(tokens).getByRole("row", { name: /Cloud/ }))).toEqual(["400", (1000).toLocaleString(), (1400).toLocaleString()]);
    expect(cells(within(tokens).getByRole("row", { name: /Unknown/ }))).toEqual(["7", "8", "15"]);

    const appts = screen.getByRole("table", { name: /appointments per day/i });
    const last = within(appts).getAllByRole("row").at(-1)!;
    expect(cells(last)).toEqual(["3", "1", "2", "0", "6"]);
    expect(screen.getByTestId("no-show-rate")).toHaveTextContent("25%");
    expect(screen.getByTestId("fulfilled-count")).toHaveTextContent("3");
    expect(screen.getByTestId("noshow-count")).toHaveTextContent("1");

    const stats = calls.find((c) => c.path === "/api/v1/analytics/appointments")!;
    expect(stats.query.get("time_zone")).toBe(zone);
    expect(stats.query.get("to")).toBe(today);
    expect(stats.query.get("from")).toBe(addDays(today, -29));
    expect(calls.find((c) => c.path === "/api/v1/ai/usage")!.query.get("from")).toBe(addDays(today, -29));
  });

  it("says which days each figure counts, in which zone, and that later bookings today are booked ahead", async () => {
    await renderAsAdmin(<FiguresPage />, server(0.25));
    await screen.findByRole("table", { name: /appointments per day/i });
    const card = (title: string) => screen.getByRole("heading", { name: title }).closest("section")!;
    const words = `${new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC" }).format(new Date(`${addDays(today, -29)}T00:00:00Z`))} to`;
    for (const title of ["Assistant messages per day", "Tokens per provider"]) {
      expect(card(title)).toHaveTextContent(words);
      expect(card(title)).toHaveTextContent("days in UTC");
    }
    for (const title of ["Appointments per day", "No-show rate"]) {
      expect(card(title)).toHaveTextContent(words);
      expect(card(title)).toHaveTextContent(`days in ${zone}`);
      expect(card(title)).toHaveTextContent(/booked ahead/i);
    }
  });

  it("shows a dash when no appointment came to an outcome, and follows the chosen period", async () => {
    const calls = await renderAsAdmin(<FiguresPage />, server(null));
    await screen.findByRole("table", { name: /appointments per day/i });
    expect(screen.getByTestId("no-show-rate")).toHaveTextContent("—");
    expect(screen.getByText(/has been marked seen or no-show yet/)).toBeInTheDocument();

    await act(async () => fireEvent.click(screen.getByRole("button", { name: "7 days" })));
    const messages = await screen.findByRole("table", { name: /assistant messages per day/i });
    await vi.waitFor(() => expect(within(messages).getAllByRole("row")).toHaveLength(8));
    expect(calls.some((c) => c.path === "/api/v1/ai/usage" && c.query.get("from") === addDays(today, -6))).toBe(true);
  });

  it("offers to try again when the figures cannot be read", async () => {
    let fail = true;
    await renderAsAdmin(<FiguresPage />, (c) => (fail && c.path === "/api/v1/ai/usage" ? { status: 503, body: { error: { code: "unavailable", message: "The assistant is switched off." } } } : server(0)(c)));
    const alerts = await screen.findAllByText("The assistant is switched off.");
    expect(alerts.length).toBeGreaterThan(0);
    fail = false;
    await act(async () => fireEvent.click(screen.getAllByRole("button", { name: "Try again" })[0]));
    expect(await screen.findByRole("table", { name: /assistant messages per day/i })).toBeInTheDocument();
  });
});
