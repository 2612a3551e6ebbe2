import type { Appointment } from "../api/types";
import { t } from "../i18n";
import { formatHour, statusText } from "./api";

const hourLabel = new Intl.DateTimeFormat(undefined, { hour: "numeric" });
const dayHead = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
const hourMinutes = 60;
const pxPerMinute = 1; // 60 px an hour

/** hourRange is the hours a week's grid shows: at least 8–18, widened to hold every appointment. */
export function hourRange(appts: Appointment[]): [number, number] {
  let first = 8;
  let last = 18;
  for (const a of appts) {
    const s = new Date(a.start);
    const e = new Date(a.end);
    first = Math.min(first, s.getHours());
    last = Math.max(last, e.getHours() + (e.getMinutes() > 0 ? 1 : 0) + (e.getDate() !== s.getDate() ? 24 : 0));
  }
  return [first, Math.min(last, 24)];
}

/** WeekCalendar draws seven days from start as columns, each appointment a block at its time. */
export function WeekCalendar({ start, appts, names, onOpen }: { start: Date; appts: Appointment[]; names: Map<string, string>; onOpen: (a: Appointment) => void }) {
  const days = Array.from({ length: 7 }, (_, i) => new Date(start.getFullYear(), start.getMonth(), start.getDate() + i));
  const [first, last] = hourRange(appts);
  const height = (last - first) * hourMinutes * pxPerMinute;
  const hours = Array.from({ length: last - first }, (_, i) => first + i);
  const label = t("schedule.calendarLabel", { from: dayHead.format(days[0]), to: dayHead.format(days[6]) });
  return (
    <div className="week-scroll">
      <div className="week" role="region" aria-label={label} style={{ ["--week-height" as string]: `${height}px` }}>
        <div className="week-hours" aria-hidden="true">
          {hours.map((h) => (
            <span key={h} style={{ top: (h - first) * hourMinutes * pxPerMinute }}>{hourLabel.format(new Date(2000, 0, 1, h))}</span>
          ))}
        </div>
        {days.map((d) => {
          const next = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1);
          const mine = appts.filter((a) => new Date(a.start) >= d && new Date(a.start) < next);
          const today = d.toDateString() === new Date().toDateString();
          return (
            <div key={d.toISOString()} className={today ? "week-day today" : "week-day"}>
              <h2 className="week-head">{dayHead.format(d)}</h2>
              <ul className="week-body" aria-label={dayHead.format(d)}>
                {mine.map((a) => {
                  const s = new Date(a.start);
                  const e = new Date(a.end);
                  const top = ((s.getHours() - first) * hourMinutes + s.getMinutes()) * pxPerMinute;
                  const len = Math.max(20, ((e.getTime() - s.getTime()) / 60_000) * pxPerMinute);
                  const who = names.get(a.patient_id) ?? "…";
                  return (
                    <li key={a.id} className="week-slot" style={{ top, height: len }}>
                      <button
                        type="button"
                        className={`week-appt status-${a.status}`}
                        onClick={() => onOpen(a)}
                        aria-label={`${t("schedule.open", { time: formatHour(a.start), patient: who })} (${statusText(a, false)})`}
                      >
                        <span className="week-time">{formatHour(a.start)}</span> {who}
                      </button>
                    </li>
                  );
                })}
              </ul>
            </div>
          );
        })}
      </div>
    </div>
  );
}
