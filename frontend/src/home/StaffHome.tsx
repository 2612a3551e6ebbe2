import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import type { Appointment } from "../api/types";
import { useSession } from "../auth/session";
import { AppointmentStatus } from "../components/AppointmentStatus";
import { LoadError } from "../components/LoadError";
import { t, type MessageKey } from "../i18n";
import { listDoctors, listPatients, todayString } from "../portal/api";
import { dayAppointments, dayKey, isExpected, isWaiting } from "../staff/day";
import { VisitRow } from "../staff/VisitRow";
import { useSyncStatus } from "../sync/api";
import { conflictsPath } from "../sync/SyncIndicator";

const statusOrder = ["pending", "booked", "arrived", "checked-in", "fulfilled", "noshow", "cancelled"];

/** StaffHome: the clinic's day at a glance for the front desk: counts by status, who is waiting, who comes next. */
export function StaffHome({ name }: { name: string }) {
  const { client } = useSession();
  const day = todayString();
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const patients = useQuery({ queryKey: ["patients", "all"], queryFn: () => listPatients(client) });
  const appts = useQuery({ queryKey: dayKey(day), queryFn: () => dayAppointments(client, day) });
  const patientNames = new Map((patients.data ?? []).map((p) => [p.id, p.name]));
  const doctorNames = new Map((doctors.data ?? []).map((d) => [d.id, d.name]));
  const all = [...(appts.data ?? [])].sort((x, y) => x.start.localeCompare(y.start));
  const counts = new Map<string, number>();
  for (const a of all) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
  const statuses = [...counts.keys()].sort((x, y) => (statusOrder.indexOf(x) + 1 || 99) - (statusOrder.indexOf(y) + 1 || 99));
  const waiting = all.filter(isWaiting);
  const expected = all.filter((a) => isExpected(a)).slice(0, 5);
  const sync = useSyncStatus().data;
  const toRebook = sync?.enrolled ? sync.open_conflicts : 0;

  const row = (a: Appointment) => (
    <VisitRow key={a.id} a={a} patient={patientNames.get(a.patient_id) ?? "…"}
      about={<>{t("appts.with", { doctor: doctorNames.get(a.doctor_id) ?? "…" })} · <AppointmentStatus a={a} withReason={false} /></>} />
  );

  return (
    <section className="card" aria-labelledby="home-title">
      <div className="chat-head">
        <h1 id="home-title">{t("home.title", { name })}</h1>
        <div className="home-actions">
          <Link to="/clinic-day" className="button primary">{t("home.openDay")}</Link>
          <Link to="/patients" className="button">{t("home.findPatient")}</Link>
        </div>
      </div>
      {toRebook > 0 && (
        <p className="error-banner sync-home">
          {t("sync.homeConflicts", { n: toRebook })} <Link to={conflictsPath}>{t("sync.homeConflictsLink")}</Link>
        </p>
      )}
      <h2 id="home-counts" className="h2">{t("home.clinicToday")}</h2>
      <LoadError error={appts.error ?? doctors.error ?? patients.error} onRetry={() => Promise.all([appts.refetch(), doctors.refetch(), patients.refetch()])} />
      {appts.data && all.length === 0 && <p className="muted">{t("home.noneBooked")}</p>}
      {statuses.length > 0 && (
        <dl className="counts status-counts" aria-label={t("home.byStatus")}>
          {statuses.map((s) => (
            <div key={s} className="fact">
              <dt>{t(`status.${s}` as MessageKey)}</dt>
              <dd>{counts.get(s)}</dd>
            </div>
          ))}
        </dl>
      )}
      <h2 id="home-waiting" className="h3">{t("home.waiting")}</h2>
      {appts.data && waiting.length === 0 && <p className="muted">{t("home.noneWaiting")}</p>}
      <ul className="appointment-list" aria-labelledby="home-waiting">{waiting.map(row)}</ul>
      <h2 id="home-expected" className="h3">{t("home.nextUp")}</h2>
      {appts.data && expected.length === 0 && <p className="muted">{t("home.noneExpected")}</p>}
      <ul className="appointment-list" aria-labelledby="home-expected">{expected.map(row)}</ul>
    </section>
  );
}
