import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useLocation } from "react-router-dom";
import { useSession } from "../auth/session";
import { t } from "../i18n";
import { formatHour, listAppointments, listDoctors, listPatients, localDay, statusText, todayString } from "../portal/api";
import { LoadError } from "../components/LoadError";

/** ClinicDayPage: every doctor's appointments on one day, updated live. */
export function ClinicDayPage() {
  const { client } = useSession();
  const [day, setDay] = useState(todayString());
  const booked = (useLocation().state as { booked?: string } | null)?.booked;
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const patients = useQuery({ queryKey: ["patients", "all"], queryFn: () => listPatients(client) });
  const appts = useQuery({
    queryKey: ["appointments", "day", day],
    queryFn: () => {
      const from = localDay(day);
      return listAppointments(client, { from, to: new Date(from.getTime() + 24 * 3600_000) });
    },
  });
  const names = new Map((patients.data ?? []).map((p) => [p.id, p.name]));
  const live = (appts.data ?? []).filter((a) => a.status !== "cancelled");
  const error = appts.error ?? doctors.error;
  return (
    <section className="card" aria-labelledby="day-title">
      <h1 id="day-title">{t("day.title")}</h1>
      {booked && <p className="notice" role="status">{booked}</p>}
      <label className="filters">
        {t("day.day")}
        <input type="date" value={day} onChange={(e) => setDay(e.target.value)} />
      </label>
      <LoadError error={error} onRetry={() => appts.refetch()} />
      {(doctors.data ?? []).map((d) => {
        const mine = live.filter((a) => a.doctor_id === d.id);
        return (
          <div key={d.id} className="doctor-day">
            <h2 className="h3">{d.name} <span className="muted">({d.specialization})</span></h2>
            {appts.data && mine.length === 0 && <p className="muted">{t("day.none")}</p>}
            <ul className="appointment-list" aria-label={d.name}>
              {mine.map((a) => (
                <li key={a.id} className="appointment">
                  <div>
                    <strong>{formatHour(a.start)}</strong> {names.get(a.patient_id) ?? "…"}
                    <div className="muted">{statusText(a)}</div>
                  </div>
                </li>
              ))}
            </ul>
          </div>
        );
      })}
    </section>
  );
}
