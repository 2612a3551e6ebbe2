import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { Appointment } from "../api/types";
import { useSession } from "../auth/session";
import { t, type MessageKey } from "../i18n";
import { formatHour, formatWhen, listAppointments, listDoctors, listPatients, setStatus } from "./api";

/** SchedulePage is a doctor's day and week; bookings made elsewhere appear live. */
export function SchedulePage() {
  const { client, user } = useSession();
  const queries = useQueryClient();
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const patients = useQuery({ queryKey: ["patients"], queryFn: () => listPatients(client) });
  const me = doctors.data?.find((d) => d.user_id === user?.id);
  const start = new Date();
  start.setHours(0, 0, 0, 0);
  const appts = useQuery({
    queryKey: ["appointments", "doctor", me?.id],
    enabled: !!me,
    queryFn: () => listAppointments(client, { doctor_id: me!.id, from: start, to: new Date(start.getTime() + 7 * 24 * 3600_000) }),
  });
  const [error, setError] = useState<string | null>(null);
  // A booking by a new patient names someone not loaded yet.
  const names = new Map((patients.data ?? []).map((p) => [p.id, p.name]));
  const unknown = (appts.data ?? []).some((a) => !names.has(a.patient_id));
  useEffect(() => {
    if (unknown && !patients.isFetching) void patients.refetch();
  }, [unknown, patients]);

  async function mark(a: Appointment, status: string) {
    setError(null);
    try {
      await setStatus(client, a.id, status);
      await queries.invalidateQueries({ queryKey: ["appointments"] });
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    }
  }

  if (doctors.data && !me) return <p className="card">{t("schedule.noProfile")}</p>;
  const live = (appts.data ?? []).filter((a) => a.status !== "cancelled");
  const endOfToday = new Date(start.getTime() + 24 * 3600_000);
  const today = live.filter((a) => new Date(a.start) < endOfToday);
  const later = live.filter((a) => new Date(a.start) >= endOfToday);

  const row = (a: Appointment, when: string) => (
    <li key={a.id} className="appointment">
      <div>
        <strong>{when}</strong> {names.get(a.patient_id) ?? "…"}
        <div className="muted">
          {t(`status.${a.status}` as MessageKey)}
          {a.reason ? ` · ${a.reason}` : ""}
        </div>
      </div>
      <div className="actions">
        {a.status === "booked" && <button type="button" onClick={() => void mark(a, "arrived")}>{t("schedule.arrived")}</button>}
        {(a.status === "arrived" || a.status === "checked-in") && <button type="button" onClick={() => void mark(a, "fulfilled")}>{t("schedule.fulfilled")}</button>}
        {a.status === "booked" && <button type="button" onClick={() => void mark(a, "noshow")}>{t("schedule.noshow")}</button>}
      </div>
    </li>
  );

  return (
    <section className="card" aria-labelledby="schedule-title">
      <h1 id="schedule-title">{t("schedule.title")}</h1>
      {(appts.error ?? doctors.error) && (
        <div className="error-banner" role="alert">
          <p>{(appts.error ?? doctors.error)!.message}</p>
          <button type="button" onClick={() => void appts.refetch()}>{t("error.retry")}</button>
        </div>
      )}
      {error && <p className="error-banner" role="alert">{error}</p>}
      <h2 className="h3">{t("schedule.today")}</h2>
      {appts.data && today.length === 0 && <p className="muted">{t("schedule.none")}</p>}
      <ul className="appointment-list" aria-label={t("schedule.today")}>{today.map((a) => row(a, formatHour(a.start)))}</ul>
      <h2 className="h3">{t("schedule.week")}</h2>
      {appts.data && later.length === 0 && <p className="muted">{t("schedule.none")}</p>}
      <ul className="appointment-list" aria-label={t("schedule.week")}>{later.map((a) => row(a, formatWhen(a.start)))}</ul>
    </section>
  );
}
