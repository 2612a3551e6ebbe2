import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { op } from "../api/operations";
import type { Availability, DayException, WeeklyHours } from "../api/types";
import { useSession } from "../auth/session";
import { t, type MessageKey } from "../i18n";
import { listDoctors, localDay, todayString } from "./api";
import { LoadError } from "../components/LoadError";
import { browserTimeZone } from "../components/doctors";
import { TimeZoneSelect } from "../components/TimeZoneSelect";

interface Day {
  open: boolean;
  start: string;
  end: string;
}

const week = [1, 2, 3, 4, 5, 6, 0];

/** Draft is the time-off or extra-hours entry being added. */
interface Draft {
  date: string;
  kind: "off" | "part" | "extra";
  start: string;
  end: string;
}

export function sortExceptions(list: DayException[]): DayException[] {
  return [...list].sort((a, b) => a.date.localeCompare(b.date) || (a.start ?? "").localeCompare(b.start ?? ""));
}

const dateFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric" });

/** describeException says in words what an exception does to a day. */
export function describeException(e: DayException): string {
  const date = dateFormat.format(localDay(e.date));
  if (!e.start) return t("hours.describeDayOff", { date });
  return t(e.available ? "hours.describeExtra" : "hours.describePartOff", { date, start: e.start, end: e.end ?? "" });
}

function daysOf(weekly: WeeklyHours[]): Record<number, Day> {
  const out: Record<number, Day> = {};
  for (const d of week) {
    const w = weekly.find((x) => x.weekday === d);
    out[d] = w ? { open: true, start: w.start, end: w.end } : { open: false, start: "09:00", end: "17:00" };
  }
  return out;
}

/** HoursPage: a doctor's weekly bookable hours, appointment length, time off (whole or part of a day) and extra hours. */
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
  // Every doctor's hours start in the zone chosen when the doctor was made
  // (the clinic's by default); this device's zone is only for older doctors
  // made without hours.
  const [timeZone, setTimeZone] = useState(browserTimeZone());
  const [slot, setSlot] = useState(30);
  const [days, setDays] = useState<Record<number, Day>>(daysOf([]));
  const [exceptions, setExceptions] = useState<DayException[]>([]);
  const [draft, setDraft] = useState<Draft>({ date: "", kind: "off", start: "12:00", end: "14:00" });
  const [draftError, setDraftError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const a = current.data;
    if (!a) return;
    setTimeZone(a.time_zone);
    setSlot(a.slot_minutes);
    setDays(daysOf(a.weekly));
    setExceptions(sortExceptions(a.exceptions));
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
        exceptions,
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

  function addException() {
    setDraftError(null);
    const e: DayException =
      draft.kind === "off" ? { date: draft.date, available: false } : { date: draft.date, start: draft.start, end: draft.end, available: draft.kind === "extra" };
    if (e.start && e.end && e.end <= e.start) {
      setDraftError(t("hours.badRange"));
      return;
    }
    if (exceptions.some((x) => x.date === e.date && (x.start ?? "") === (e.start ?? "") && x.available === e.available)) {
      setDraftError(t("hours.duplicate"));
      return;
    }
    setExceptions(sortExceptions([...exceptions, e]));
    setDraft({ ...draft, date: "" });
  }

  if (doctors.data && !me) return <p className="card">{t("schedule.noProfile")}</p>;
  const set = (d: number, patch: Partial<Day>) => setDays({ ...days, [d]: { ...days[d], ...patch } });
  return (
    <section className="card" aria-labelledby="hours-title">
      <h1 id="hours-title">{t("hours.title")}</h1>
      <p className="muted">{t("hours.intro")}</p>
      <LoadError error={current.error ?? doctors.error} onRetry={() => Promise.all([doctors.refetch(), current.refetch()])} />
      <form className="stack" onSubmit={save}>
        <div className="filters">
          <label>
            {t("hours.timeZone")}
            <TimeZoneSelect id="hours-time-zone" value={timeZone} onChange={setTimeZone} />
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
          {exceptions.length === 0 && <p className="muted">{t("hours.noExceptions")}</p>}
          <ul className="entries" aria-label={t("hours.timeOff")}>
            {exceptions.map((e) => {
              const what = describeException(e);
              return (
                <li key={`${e.date}/${e.start ?? ""}/${e.available}`}>
                  {what}{" "}
                  <button type="button" className="link" onClick={() => setExceptions(exceptions.filter((x) => x !== e))}>{t("hours.remove", { date: what })}</button>
                </li>
              );
            })}
          </ul>
          <div className="filters">
            <label>
              {t("hours.exceptionDate")}
              <input type="date" min={todayString()} value={draft.date} onChange={(e) => setDraft({ ...draft, date: e.target.value })} />
            </label>
            <label>
              {t("hours.exceptionKind")}
              <select value={draft.kind} onChange={(e) => setDraft({ ...draft, kind: e.target.value as Draft["kind"] })}>
                <option value="off">{t("hours.kindDayOff")}</option>
                <option value="part">{t("hours.kindPartOff")}</option>
                <option value="extra">{t("hours.kindExtra")}</option>
              </select>
            </label>
            {draft.kind !== "off" && (
              <>
                <label>
                  {t("hours.from")}
                  <input type="time" value={draft.start} onChange={(e) => setDraft({ ...draft, start: e.target.value })} />
                </label>
                <label>
                  {t("hours.to")}
                  <input type="time" value={draft.end} onChange={(e) => setDraft({ ...draft, end: e.target.value })} />
                </label>
              </>
            )}
            <button type="button" disabled={!draft.date} onClick={addException}>
              {t("hours.addException")}
            </button>
          </div>
          {draftError && <p className="field-error" role="alert">{draftError}</p>}
        </fieldset>
        {error && <p className="error-banner" role="alert">{error}</p>}
        {status && <p className="notice" role="status">{status}</p>}
        <button type="submit" className="primary" disabled={busy || !me}>{t("hours.save")}</button>
      </form>
    </section>
  );
}
