import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { Appointment } from "../api/types";
import { useSession } from "../auth/session";
import { t } from "../i18n";
import { formatHour, formatWhen, listAppointments, listDoctors, listPatients, setStatus } from "./api";
import { AppointmentStatus } from "../components/AppointmentStatus";
import { PatientSummary } from "./PatientSummary";
import { WeekCalendar } from "./WeekCalendar";
import { useDoctorZones } from "./zones";
import { LoadError } from "../components/LoadError";
import { ConsultationButton } from "../consult/ConsultationButton";

type View = "list" | "calendar";
const viewKey = "healthhub.schedule.view";

/** SchedulePage is a doctor's day and week, as a list or a calendar; bookings made elsewhere appear live, and a click opens the patient's summary. */
export function SchedulePage() {
  const { client, user } = useSession();
  const queries = useQueryClient();
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const patients = useQuery({ queryKey: ["patients"], queryFn: () => listPatients(client) });
  const me = doctors.data?.find((d) => d.user_id === user?.id);
  const [start] = useState(() => {
    const d = new Date();
    d.setHours(0, 0, 0, 0);
    return d;
  });
  const appts = useQuery({
    queryKey: ["appointments", "doctor", me?.id],
    enabled: !!me,
    queryFn: () => listAppointments(client, { doctor_id: me!.id, from: start, to: new Date(start.getFullYear(), start.getMonth(), start.getDate() + 7) }),
  });
  // The doctor's hours are in their zone; a browser elsewhere shows the times on that clock, named.
  const zone = useDoctorZones([me?.id])(me?.id);
  const [view, setView] = useState<View>(() => (localStorage.getItem(viewKey) === "calendar" ? "calendar" : "list"));
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  // A booking by a new patient names someone not loaded yet.
  const names = new Map((patients.data ?? []).map((p) => [p.id, p.name]));
  const unknown = (appts.data ?? []).some((a) => !names.has(a.patient_id));
  useEffect(() => {
    if (unknown && !patients.isFetching) void patients.refetch();
  }, [unknown, patients]);

  function choose(v: View) {
    setView(v);
    localStorage.setItem(viewKey, v);
  }

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
  const endOfToday = new Date(start.getFullYear(), start.getMonth(), start.getDate() + 1);
  const today = live.filter((a) => new Date(a.start) < endOfToday);
  const later = live.filter((a) => new Date(a.start) >= endOfToday);

  const row = (a: Appointment, when: string, isToday = false) => {
    const who = names.get(a.patient_id) ?? "…";
    return (
      <li key={a.id} className="appointment">
        <div>
          <strong>{when}</strong>{" "}
          <button type="button" className="link" onClick={() => setOpen(a.patient_id)} aria-label={t("schedule.open", { time: when, patient: who })}>
            {who}
          </button>
          <div className="muted"><AppointmentStatus a={a} /></div>
        </div>
        <div className="actions">
          {a.status === "booked" && <button type="button" onClick={() => void mark(a, "arrived")}>{t("schedule.arrived")}</button>}
          {(a.status === "arrived" || a.status === "checked-in") && <button type="button" onClick={() => void mark(a, "fulfilled")}>{t("schedule.fulfilled")}</button>}
          {a.status === "booked" && <button type="button" onClick={() => void mark(a, "noshow")}>{t("schedule.noshow")}</button>}
          {isToday && a.status !== "noshow" && <ConsultationButton appointmentID={a.id} patient={who} />}
        </div>
      </li>
    );
  };

  return (
    <div className="stack-wide">
      <section className="card" aria-labelledby="schedule-title">
        <div className="chat-head">
          <h1 id="schedule-title">{t("schedule.title")}</h1>
          <div className="segmented" role="group" aria-label={t("schedule.view")}>
            <button type="button" aria-pressed={view === "list"} onClick={() => choose("list")}>{t("schedule.list")}</button>
            <button type="button" aria-pressed={view === "calendar"} onClick={() => choose("calendar")}>{t("schedule.calendar")}</button>
          </div>
        </div>
        <LoadError error={appts.error ?? doctors.error} onRetry={() => Promise.all([doctors.refetch(), appts.refetch()])} />
        {error && <p className="error-banner" role="alert">{error}</p>}
        {view === "list" ? (
          <>
            <h2 className="h3">{t("schedule.today")}</h2>
            {appts.data && today.length === 0 && <p className="muted">{t("schedule.none")}</p>}
            <ul className="appointment-list" aria-label={t("schedule.today")}>{today.map((a) => row(a, formatHour(a.start, zone), true))}</ul>
            <h2 className="h3">{t("schedule.week")}</h2>
            {appts.data && later.length === 0 && <p className="muted">{t("schedule.none")}</p>}
            <ul className="appointment-list" aria-label={t("schedule.week")}>{later.map((a) => row(a, formatWhen(a.start, zone)))}</ul>
          </>
        ) : (
          <WeekCalendar start={start} zone={zone} appts={live} names={names} onOpen={(a) => setOpen(a.patient_id)} />
        )}
      </section>
      {open && <PatientSummary patientID={open} onClose={() => setOpen(null)} />}
    </div>
  );
}
