import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { op } from "../api/operations";
import type { Availability, WeeklyHours } from "../api/types";
import { useSession } from "../auth/session";
import { t, type MessageKey } from "../i18n";
import { listDoctors, todayString } from "./api";

interface Day {
  open: boolean;
  start: string;
  end: string;
}

const week = [1, 2, 3, 4, 5, 6, 0];

function daysOf(weekly: WeeklyHours[]): Record<number, Day> {
  const out: Record<number, Day> = {};
  for (const d of week) {
    const w = weekly.find((x) => x.weekday === d);
    out[d] = w ? { open: true, start: w.start, end: w.end } : { open: false, start: "09:00", end: "17:00" };
  }
  return out;
}

/** HoursPage: a doctor's weekly bookable hours, appointment length and days off. */
export function HoursPage() {
  const { client, user } = useSession();
  const queries = useQueryClient();
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const me = doctors.data?.find((d) => d.user_id === user?.id);
  const current = useQuery({
    queryKey: ["availability", me?.id],
    enabled: !!me,
    retry: false,
    queryFn: () =>
      client.request<Availability>(...op("GET /api/v1/doctors/{id}/availability", { id: me!.id })).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return null; // none published yet
        throw err;
      }),
  });
  const [timeZone, setTimeZone] = useState(Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
  const [slot, setSlot] = useState(30);
  const [days, setDays] = useState<Record<number, Day>>(daysOf([]));
  const [off, setOff] = useState<string[]>([]);
  const [newOff, setNewOff] = useState("");
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const a = current.data;
    if (!a) return;
    setTimeZone(a.time_zone);
    setSlot(a.slot_minutes);
    setDays(daysOf(a.weekly));
    setOff(a.exceptions.filter((e) => !e.available).map((e) => e.date));
  }, [current.data]);

  async function save(ev: FormEvent) {
    ev.preventDefault();
    setStatus(null);
    setError(null);
    if (week.some((d) => days[d].open && days[d].end <= days[d].start)) {
      setError(t("hours.badRange"));
      return;
    }
    setBusy(true);
    try {
      const base = current.data ?? null;
      await client.request<Availability>(...op("PUT /api/v1/doctors/{id}/availability", { id: me!.id }), {
        ...(base ? { buffer_minutes: base.buffer_minutes, horizon_days: base.horizon_days, min_notice_minutes: base.min_notice_minutes } : {}),
        time_zone: timeZone,
        slot_minutes: slot,
        weekly: week.filter((d) => days[d].open).map((d) => ({ weekday: d, start: days[d].start, end: days[d].end })),
        exceptions: [...(base?.exceptions.filter((e) => e.available) ?? []), ...off.map((date) => ({ date, available: false }))],
      });
      setStatus(t("hours.saved"));
      await queries.invalidateQueries({ queryKey: ["availability"] });
      await queries.invalidateQueries({ queryKey: ["slots"] });
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    } finally {
      setBusy(false);
    }
  }

  if (doctors.data && !me) return <p className="card">{t("schedule.noProfile")}</p>;
  const set = (d: number, patch: Partial<Day>) => setDays({ ...days, [d]: { ...days[d], ...patch } });
  return (
    <section className="card" aria-labelledby="hours-title">
      <h1 id="hours-title">{t("hours.title")}</h1>
      <p className="muted">{t("hours.intro")}</p>
      {(current.error ?? doctors.error) && (
        <div className="error-banner" role="alert">
          <p>{(current.error ?? doctors.error)!.message}</p>
          <button type="button" onClick={() => void current.refetch()}>{t("error.retry")}</button>
        </div>
      )}
      <form className="stack" onSubmit={save}>
        <div className="filters">
          <label>
            {t("hours.timeZone")}
            <input value={timeZone} onChange={(e) => setTimeZone(e.target.value)} />
          </label>
          <label>
            {t("hours.slot")}
            <input type="number" min={5} max={240} step={5} value={slot} onChange={(e) => setSlot(Number(e.target.value))} />
          </label>
        </div>
        <fieldset className="slots">
          <legend>{t("hours.weekly")}</legend>
          <table className="audit">
            <tbody>
              {week.map((d) => {
                const name = t(`weekday.${d}` as MessageKey);
                return (
                  <tr key={d}>
                    <th scope="row">
                      <label>
                        <input type="checkbox" checked={days[d].open} onChange={(e) => set(d, { open: e.target.checked })} /> {name}
                      </label>
                    </th>
                    <td>
                      <input type="time" aria-label={`${name} ${t("hours.from")}`} value={days[d].start} disabled={!days[d].open} onChange={(e) => set(d, { start: e.target.value })} />
                    </td>
                    <td>
                      <input type="time" aria-label={`${name} ${t("hours.to")}`} value={days[d].end} disabled={!days[d].open} onChange={(e) => set(d, { end: e.target.value })} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </fieldset>
        <fieldset className="slots">
          <legend>{t("hours.timeOff")}</legend>
          <ul className="entries">
            {off.map((date) => (
              <li key={date}>
                {date}{" "}
                <button type="button" className="link" onClick={() => setOff(off.filter((x) => x !== date))}>{t("hours.remove", { date })}</button>
              </li>
            ))}
          </ul>
          <div className="filters">
            <label>
              {t("hours.addDayOff")}
              <input type="date" min={todayString()} value={newOff} onChange={(e) => setNewOff(e.target.value)} />
            </label>
            <button type="button" disabled={!newOff || off.includes(newOff)} onClick={() => { setOff([...off, newOff].sort()); setNewOff(""); }}>
              {t("hours.addDayOff")}
            </button>
          </div>
        </fieldset>
        {error && <p className="error-banner" role="alert">{error}</p>}
        {status && <p className="notice" role="status">{status}</p>}
        <button type="submit" className="primary" disabled={busy || !me}>{t("hours.save")}</button>
      </form>
    </section>
  );
}
