// Times in the UI: one place that turns an RFC 3339 instant into words.
// A time belongs to a zone (a doctor's hours, the clinic's day). When that
// zone is not the viewer's own, the time is shown in that zone and says so
// ("09:00 CET"), so a patient abroad or a workstation set to UTC never reads
// a clinic time as their own. Without a zone, times are the viewer's.

/** viewerZone is the IANA time zone of this browser or desktop window. */
export function viewerZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** showsZone is true when times in zone need their zone named: it is not the viewer's (nor another name of it, as Etc/UTC is of UTC). */
export function showsZone(zone: string | undefined | null): zone is string {
  return !!zone && validZone(zone) && zone !== viewerZone() && cached("probe", { timeZone: zone }).resolvedOptions().timeZone !== viewerZone();
}

const formats = new Map<string, Intl.DateTimeFormat>();

function validZone(zone: string): boolean {
  try {
    cached("probe", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function cached(kind: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${kind}|${options.timeZone ?? ""}|${options.timeZoneName ?? ""}`; // each kind has one set of fields
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(undefined, options);
    formats.set(key, f);
  }
  return f;
}

const timeOnly: Intl.DateTimeFormatOptions = { hour: "2-digit", minute: "2-digit" };
const dateAndTime: Intl.DateTimeFormatOptions = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
const dateOnly: Intl.DateTimeFormatOptions = { weekday: "short", day: "numeric", month: "short", year: "numeric" };

function format(kind: string, base: Intl.DateTimeFormatOptions, iso: string | Date, zone?: string | null): string {
  const at = typeof iso === "string" ? new Date(iso) : iso;
  if (Number.isNaN(at.getTime())) return "";
  const options: Intl.DateTimeFormatOptions = showsZone(zone) ? { ...base, timeZone: zone, timeZoneName: "short" } : { ...base };
  return cached(kind, options).format(at);
}

/** formatTime is "09:30", or "09:30 CET" when zone is not the viewer's (the time is then zone's wall clock). */
export const formatTime = (iso: string | Date, zone?: string | null) => format("time", timeOnly, iso, zone);

/** formatDateTime is "Mon 7 Dec, 09:30", with the zone named when it is not the viewer's. */
export const formatDateTime = (iso: string | Date, zone?: string | null) => format("datetime", dateAndTime, iso, zone);

/** formatClock is "09:30" on zone's clock without naming the zone: for a grid whose caption names it. */
export function formatClock(iso: string | Date, zone?: string | null): string {
  const at = typeof iso === "string" ? new Date(iso) : iso;
  if (Number.isNaN(at.getTime())) return "";
  return cached("clock", showsZone(zone) ? { ...timeOnly, timeZone: zone } : timeOnly).format(at);
}

/** formatDate is the day of an instant in zone ("Mon 7 Dec 2026"); a day has no zone name. */
export function formatDate(iso: string | Date, zone?: string | null): string {
  const at = typeof iso === "string" ? new Date(iso) : iso;
  if (Number.isNaN(at.getTime())) return "";
  return cached("date", showsZone(zone) ? { ...dateOnly, timeZone: zone } : dateOnly).format(at);
}

/** zoneLabel names zone briefly as it reads at a moment ("CET", "GMT+1"); "" when it is the viewer's zone. */
export function zoneLabel(zone: string | undefined | null, at: Date = new Date()): string {
  if (!showsZone(zone)) return "";
  const part = cached("zone", { timeZone: zone, timeZoneName: "short" })
    .formatToParts(at)
    .find((p) => p.type === "timeZoneName");
  return part?.value ?? zone;
}

/** WallClock is what a clock in a zone reads at an instant. */
export interface WallClock {
  day: string; // YYYY-MM-DD
  hour: number;
  minute: number;
}

/** wallClock reads an instant on zone's clock, or the viewer's when zone is absent or the viewer's own. */
export function wallClock(iso: string | Date, zone?: string | null): WallClock {
  const at = typeof iso === "string" ? new Date(iso) : iso;
  const parts = cached("wall", {
    timeZone: showsZone(zone) ? zone : viewerZone(),
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  } as Intl.DateTimeFormatOptions).formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "0";
  return { day: `${part("year")}-${part("month")}-${part("day")}`, hour: Number(part("hour")) % 24, minute: Number(part("minute")) };
}

/** addDays moves a YYYY-MM-DD day by n days. */
export function addDays(day: string, n: number): string {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/**
 * instantAt is the instant a clock in zone reads hh:mm on day (YYYY-MM-DD),
 * or the viewer's clock when zone is absent: the inverse of wallClock, for
 * a form that asks for a time on the doctor's clock. A time a daylight
 * saving change skips comes out an hour off, as the clock would read it.
 */
export function instantAt(day: string, clock: string, zone?: string | null): Date {
  const [y, m, d] = day.split("-").map(Number);
  const [h, mi] = clock.split(":").map(Number);
  const want = Date.UTC(y, m - 1, d, h, mi);
  let guess = want;
  for (let i = 0; i < 3; i++) {
    const w = wallClock(new Date(guess), zone);
    const [wy, wm, wd] = w.day.split("-").map(Number);
    const diff = want - Date.UTC(wy, wm - 1, wd, w.hour, w.minute);
    if (diff === 0) break;
    guess += diff;
  }
  return new Date(guess);
}

/**
 * formatSpan is a block of time on zone's clock: "Tue 8 Dec 2026, 09:00–12:00"
 * within one day (the zone named after the end when it is not the viewer's),
 * else both ends in full.
 */
export function formatSpan(start: string | Date, end: string | Date, zone?: string | null): string {
  const from = wallClock(start, zone);
  const to = wallClock(end, zone);
  if (from.day === to.day) return `${formatDate(start, zone)}, ${formatClock(start, zone)}–${formatTime(end, zone)}`;
  return `${formatDateTime(start, zone)} – ${formatDateTime(end, zone)}`;
}
