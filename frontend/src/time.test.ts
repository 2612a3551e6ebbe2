import { addDays, formatClock, formatDate, formatDateTime, formatSpan, formatTime, instantAt, showsZone, viewerZone, wallClock, zoneLabel } from "./time";

// An instant whose wall clock differs by zone: 08:30 UTC is 17:30 in Tokyo
// and 03:30 in New York.
const instant = "2026-12-07T08:30:00Z";
const elsewhere = viewerZone() === "Asia/Tokyo" ? "America/New_York" : "Asia/Tokyo";
const elsewhereClock = elsewhere === "Asia/Tokyo" ? /(17|0?5):30/ : /0?3:30/;

describe("time", () => {
  it("shows a time in another zone on that zone's clock, with the zone named", () => {
    const shown = formatTime(instant, elsewhere);
    expect(shown).toMatch(elsewhereClock);
    expect(shown).toContain(zoneLabel(elsewhere, new Date(instant)));
    expect(zoneLabel(elsewhere, new Date(instant))).not.toBe("");
    expect(formatDateTime(instant, elsewhere)).toContain(zoneLabel(elsewhere, new Date(instant)));
  });

  it("names no zone when the time is in the viewer's own zone or has none", () => {
    const own = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" }).format(new Date(instant));
    expect(formatTime(instant, viewerZone())).toBe(own);
    expect(formatTime(instant)).toBe(own);
    expect(formatTime(instant, null)).toBe(own);
    expect(zoneLabel(viewerZone())).toBe("");
    expect(showsZone(viewerZone())).toBe(false);
  });

  it("names no zone for another name of the viewer's own", () => {
    const alias = new Intl.DateTimeFormat(undefined, { timeZone: "Etc/UTC" }).resolvedOptions().timeZone;
    const utcViewer = viewerZone() === alias;
    expect(showsZone("Etc/UTC")).toBe(!utcViewer);
    expect(showsZone("UTC")).toBe(!utcViewer);
  });

  it("treats an unknown zone as none rather than failing", () => {
    expect(showsZone("Not/AZone")).toBe(false);
    expect(formatTime(instant, "Not/AZone")).toBe(formatTime(instant));
  });

  it("gives the day in the zone, which can be another day than the viewer's", () => {
    // 23:30 UTC on the 7th is already the 8th in Tokyo.
    const late = "2026-12-07T23:30:00Z";
    expect(formatDate(late, "Asia/Tokyo")).toBe(
      new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "Asia/Tokyo" }).format(new Date(late)),
    );
  });

  it("shows nothing for a time it cannot read", () => {
    expect(formatDateTime("not a time", elsewhere)).toBe("");
  });

  it("reads an instant on a zone's clock, for grids laid out in that zone", () => {
    expect(wallClock("2026-12-07T23:30:00Z", "Asia/Tokyo")).toEqual({ day: "2026-12-08", hour: 8, minute: 30 });
    expect(wallClock("2026-12-07T23:30:00Z", "America/New_York")).toEqual(
      viewerZone() === "America/New_York" ? wallClock("2026-12-07T23:30:00Z") : { day: "2026-12-07", hour: 18, minute: 30 },
    );
    expect(formatClock(instant, elsewhere)).toMatch(elsewhereClock);
    expect(formatClock(instant, elsewhere)).not.toContain(zoneLabel(elsewhere, new Date(instant)));
  });

  it("finds the instant a zone's clock reads a time, for forms that ask on the doctor's clock", () => {
    expect(instantAt("2026-12-08", "09:00", "Asia/Tokyo").toISOString()).toBe("2026-12-08T00:00:00.000Z");
    expect(instantAt("2026-12-08", "00:30", "Asia/Tokyo").toISOString()).toBe("2026-12-07T15:30:00.000Z");
    // Summer and winter time in New York.
    if (viewerZone() !== "America/New_York") {
      expect(instantAt("2026-07-01", "09:00", "America/New_York").toISOString()).toBe("2026-07-01T13:00:00.000Z");
      expect(instantAt("2026-12-01", "09:00", "America/New_York").toISOString()).toBe("2026-12-01T14:00:00.000Z");
    }
    // Without a zone, the viewer's clock.
    expect(instantAt("2026-12-08", "09:15").getTime()).toBe(new Date(2026, 11, 8, 9, 15).getTime());
    for (const zone of ["Asia/Tokyo", "America/New_York", "Europe/Berlin", undefined]) {
      expect(wallClock(instantAt("2026-03-29", "14:45", zone), zone)).toEqual({ day: "2026-03-29", hour: 14, minute: 45 });
    }
  });

  it("shows a block within one day once, on the zone's clock, and a longer one in full", () => {
    const day = formatSpan("2026-12-08T00:00:00Z", "2026-12-08T03:00:00Z", "Asia/Tokyo");
    expect(day).toBe(`${formatDate("2026-12-08T00:00:00Z", "Asia/Tokyo")}, ${formatClock("2026-12-08T00:00:00Z", "Asia/Tokyo")}–${formatTime("2026-12-08T03:00:00Z", "Asia/Tokyo")}`);
    expect(day).toMatch(/0?9:00( AM)?–(12|0?3):00/);
    const long = formatSpan("2026-12-08T00:00:00Z", "2026-12-09T03:00:00Z", "Asia/Tokyo");
    expect(long).toBe(`${formatDateTime("2026-12-08T00:00:00Z", "Asia/Tokyo")} – ${formatDateTime("2026-12-09T03:00:00Z", "Asia/Tokyo")}`);
  });

  it("moves days across months and years", () => {
    expect(addDays("2026-12-30", 3)).toBe("2027-01-02");
    expect(addDays("2026-03-01", -1)).toBe("2026-02-28");
  });
});
