import { render, screen, within } from "@testing-library/react";
import type { Appointment } from "../api/types";
import { viewerZone } from "../time";
import { WeekCalendar } from "./WeekCalendar";

// 23:30 UTC on 7 December is 08:30 on 8 December in Tokyo.
const zone = viewerZone() === "Asia/Tokyo" ? "Pacific/Auckland" : "Asia/Tokyo";
const appt: Appointment = { id: "a1", doctor_id: "d1", patient_id: "p1", start: "2026-12-07T23:30:00Z", end: "2026-12-08T00:00:00Z", status: "booked", reason: "" } as Appointment;
const dayName = (day: string) => new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" }).format(new Date(`${day}T12:00:00Z`));

describe("WeekCalendar", () => {
  it("lays out appointments on the doctor's clock and says which zone that is", () => {
    render(<WeekCalendar start={new Date("2026-12-07T00:00:00Z")} zone={zone} appts={[appt]} names={new Map([["p1", "Ana"]])} onOpen={() => undefined} />);
    expect(screen.getByText(new RegExp(`Times in .*\\(${zone}\\)`))).toBeInTheDocument();
    const day = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(appt.start));
    const column = screen.getByRole("list", { name: dayName(day) });
    expect(within(column).getByRole("button", { name: /Ana/ })).toBeInTheDocument();
  });

  it("names no zone when the doctor's zone is the viewer's", () => {
    render(<WeekCalendar start={new Date("2026-12-07T00:00:00Z")} zone={viewerZone()} appts={[appt]} names={new Map()} onOpen={() => undefined} />);
    expect(screen.queryByText(/Times in/)).not.toBeInTheDocument();
  });
});
