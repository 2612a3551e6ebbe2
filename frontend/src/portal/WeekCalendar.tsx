import type { Appointment } from "../api/types";
import { t } from "../i18n";
import { addDays, formatClock, formatTime, showsZone, wallClock, zoneLabel } from "../time";
import { statusText } from "./api";

const hourLabel = new Intl.DateTimeFormat(undefined, { hour: "numeric", timeZone: "UTC" });
// Days are YYYY-MM-DD on the calendar's clock; noon UTC of that date names it in any zone.
const dayHead = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
const dayName = (day: string) => dayHead.format(new Date(`${day}T12:00:00Z`));
const hourMinutes = 60;
const pxPerMinute = 1; // 60 px an hour

/** hourRange is the hours a week's grid shows on zone's clock: at least 8–18, widened to hold every appointment. */
export function hourRange(appts: Appointment[], zone?: string): [number, number] {
  let first = 8;
  let last = 18;
  for (const a of appts) {
    const s = wallClock(a.start, zone);
    const e = wallClock(a.end, zone);
    first = Math.min(first, s.hour);
    last = Math.max(last, e.hour + (e.minute > 0 ? 1 : 0) + (e.day !== s.day ? 24 : 0));
  }
  return [first, Math.min(last, 24)];
}

/**
 * WeekCalendar draws seven days from start as columns, each appointment a
 * block at its time, on the clock of zone (the doctor's); when that is not
 * the viewer's zone, the calendar says which zone its times are in.
 */
export function WeekCalendar({ start, zone, appts, names, onOpen }: { start: Date; zone?: string; appts: Appointment[]; names: Map<string, string>; onOpen: (a: Appointment) => void }) {
  const first0 = wallClock(start, zone).day;
  const days = Array.from({ length: 7 }, (_, i) => addDays(first0, i));
  const [first, last] = hourRange(appts, zone);
  const height = (last - first) * hourMinutes * pxPerMinute;
  const hours = Array.from({ length: last - first }, (_, i) => first + i);
  const label = t("schedule.calendarLabel", { from: dayName(days[0]), to: dayName(days[6]) });
  const todayKey = wallClock(new Date(), zone).day;
  return (
    <div className="week-scroll">
      {showsZone(zone) && <p className="muted week-zone">{t("time.inZone", { zone: `${zoneLabel(zone, start)} (${zone})` })}</p>}
      <div className="week" role="region" aria-label={label} style={{ ["--week-height" as string]: `${height}px` }}>
        <div className="week-hours" aria-hidden="true">
          {hours.map((h) => (
            <span key={h} style={{ top: (h - first) * hourMinutes * pxPerMinute }}>{hourLabel.format(Date.UTC(2000, 0, 1, h))}</span>
          ))}
        </div>
        {days.map((d) => {
          const mine = appts.filter((a) => wallClock(a.start, zone).day === d);
          return (
            <div key={d} className={d === todayKey ? "week-day today" : "week-day"}>
              <h2 className="week-head">{dayName(d)}</h2>
              <ul className="week-body" aria-label={dayName(d)}>
                {mine.map((a) => {
                  const s = wallClock(a.start, zone);
                  const top = ((s.hour - first) * hourMinutes + s.minute) * pxPerMinute;
                  const len = Math.max(20, ((new Date(a.end).getTime() - new Date(a.start).getTime()) / 60_000) * pxPerMinute);
                  const who = names.get(a.patient_id) ?? "…";
                  return (
                    <li key={a.id} className="week-slot" style={{ top, height: len }}>
                      <button
                        type="button"
                        className={`week-appt status-${a.status}`}
                        onClick={() => onOpen(a)}
                        aria-label={`${t("schedule.open", { time: formatTime(a.start, zone), patient: who })} (${statusText(a, false)})`}
                      >
                        <span className="week-time">{formatClock(a.start, zone)}</span> {who}
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
