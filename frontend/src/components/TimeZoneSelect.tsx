import { useMemo } from "react";
import { timeZones } from "./doctors";

/**
 * TimeZoneSelect chooses an IANA time zone from a list, so no one has to
 * type "Europe/Berlin" right; label it with a <label htmlFor={id}>.
 */
export function TimeZoneSelect({ id, value, onChange, keep, error }: { id: string; value: string; onChange: (zone: string) => void; keep?: string; error?: string }) {
  const zones = useMemo(() => timeZones(value, keep), [value, keep]);
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.target.value)} aria-invalid={!!error} aria-describedby={error ? `${id}-error` : undefined}>
      {zones.map((z) => (
        <option key={z} value={z}>
          {z.replace(/_/g, " ")}
        </option>
      ))}
    </select>
  );
}
