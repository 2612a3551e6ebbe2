import { t } from "../i18n";

/**
 * hasDoctorTitle: the name already begins with a doctor's title (Dr, Dr.,
 * Doctor), by the same rule as the server's messages (notify.HasDoctorTitle).
 */
export function hasDoctorTitle(name: string): boolean {
  const first = name.trim().split(/[\s.]+/)[0]?.toLowerCase();
  return first === "dr" || first === "doctor";
}

/** doctorName is a doctor as people address them: "Dr Lee", never "Dr Dr. Lee". */
export function doctorName(name: string): string {
  const n = name.trim();
  return hasDoctorTitle(n) ? n : t("audit.doctor", { name: n });
}

/** Zones offered where the browser cannot list its own (older engines). */
const fallbackZones = [
  "UTC",
  "Africa/Cairo", "Africa/Johannesburg", "Africa/Lagos", "Africa/Nairobi",
  "America/Anchorage", "America/Argentina/Buenos_Aires", "America/Bogota", "America/Chicago", "America/Denver",
  "America/Halifax", "America/Los_Angeles", "America/Mexico_City", "America/New_York", "America/Phoenix",
  "America/Sao_Paulo", "America/St_Johns", "America/Toronto", "America/Vancouver",
  "Asia/Bangkok", "Asia/Dubai", "Asia/Hong_Kong", "Asia/Jakarta", "Asia/Jerusalem", "Asia/Karachi", "Asia/Kolkata",
  "Asia/Manila", "Asia/Seoul", "Asia/Shanghai", "Asia/Singapore", "Asia/Tokyo",
  "Atlantic/Reykjavik", "Australia/Adelaide", "Australia/Brisbane", "Australia/Perth", "Australia/Sydney",
  "Europe/Amsterdam", "Europe/Athens", "Europe/Berlin", "Europe/Brussels", "Europe/Dublin", "Europe/Helsinki",
  "Europe/Istanbul", "Europe/Lisbon", "Europe/London", "Europe/Madrid", "Europe/Moscow", "Europe/Oslo", "Europe/Paris",
  "Europe/Prague", "Europe/Rome", "Europe/Stockholm", "Europe/Vienna", "Europe/Warsaw", "Europe/Zurich",
  "Pacific/Auckland", "Pacific/Honolulu",
];

/**
 * timeZones lists the IANA zones to choose from: the browser's own list, or
 * a fallback, always with UTC and with the given zones (the current value,
 * the clinic's) so a saved choice is never lost from the list.
 */
export function timeZones(...keep: (string | undefined | null)[]): string[] {
  let zones: string[] = [];
  try {
    zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  } catch {
    zones = [];
  }
  if (zones.length === 0) zones = fallbackZones;
  const all = new Set([...zones, "UTC"]);
  for (const z of keep) if (z) all.add(z);
  return [...all].sort((a, b) => (a === "UTC" ? -1 : b === "UTC" ? 1 : a.localeCompare(b)));
}

/** browserTimeZone is this device's zone, the last resort of a default. */
export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}
