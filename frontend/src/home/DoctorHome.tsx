import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import type { Appointment } from "../api/types";
import { useSession } from "../auth/session";
import { LoadError } from "../components/LoadError";
import { t } from "../i18n";
import { listDoctors, listPatients, todayString } from "../portal/api";
import { AppointmentStatus } from "../components/AppointmentStatus";
import { dayAppointments, dayKey, nextUp, patientPath } from "../staff/day";
import { VisitRow } from "../staff/VisitRow";
import { formatTime } from "../time";
import { ConsultationButton } from "../consult/ConsultationButton";

/** consultable: an appointment a consultation can be held for (not cancelled, not missed). */
const consultable = (a: Appointment) => a.status !== "cancelled" && a.status !== "noshow" && a.status !== "entered-in-error";

/** DoctorHome: today's patients in order, the next one highlighted, each opening the patient's page. */
export function DoctorHome({ name }: { name: string }) {
  const { client, user } = useSession();
  const day = todayString();
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const patients = useQuery({ queryKey: ["patients", "all"], queryFn: () => listPatients(client) });
  const me = doctors.data?.find((d) => d.user_id === user?.id);
  const appts = useQuery({ queryKey: dayKey(day, me?.id), enabled: !!me, queryFn: () => dayAppointments(client, day, me!.id) });
  const names = new Map((patients.data ?? []).map((p) => [p.id, p.name]));
  const today = (appts.data ?? []).filter((a) => a.status !== "cancelled").sort((x, y) => x.start.localeCompare(y.start));
  const next = nextUp(today);

  const row = (a: Appointment) => {
    const patient = names.get(a.patient_id) ?? "…";
    return (
      <VisitRow
        key={a.id}
        a={a}
        patient={patient}
        about={<AppointmentStatus a={a} />}
        next={a.id === next?.id}
        actions={consultable(a) ? <ConsultationButton appointmentID={a.id} patient={patient} /> : undefined}
      />
    );
  };

  return (
    <section className="card" aria-labelledby="home-title">
      <div className="chat-head">
        <h1 id="home-title">{t("home.title", { name })}</h1>
        <div className="home-actions">
          <Link to="/schedule" className="button">{t("home.openSchedule")}</Link>
          <Link to="/assistant" className="button">{t("home.startChat")}</Link>
        </div>
      </div>
      <LoadError error={doctors.error ?? appts.error ?? patients.error} onRetry={() => Promise.all([doctors.refetch(), appts.refetch(), patients.refetch()])} />
      {doctors.data && !me && <p className="muted">{t("schedule.noProfile")}</p>}
      {next && (
        <div className="next-patient" role="region" aria-labelledby="home-next">
          <h2 id="home-next" className="h3">{t("home.nextPatient")}</h2>
          <p>
            <strong>{formatTime(next.start)}</strong> <Link to={patientPath(next.patient_id)}>{names.get(next.patient_id) ?? "…"}</Link>{" "}
            <span className="muted">· <AppointmentStatus a={next} /></span>
          </p>
        </div>
      )}
      <h2 id="home-today" className="h2">{t("home.today")}</h2>
      {appts.data && today.length === 0 && <p className="muted">{t("home.noneToday")}</p>}
      {appts.data && today.length > 0 && !next && <p className="muted">{t("home.allSeen")}</p>}
      <ul className="appointment-list" aria-labelledby="home-today">{today.map(row)}</ul>
    </section>
  );
}
