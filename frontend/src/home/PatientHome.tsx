import { useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { op } from "../api/operations";
import type { Availability, Notification } from "../api/types";
import { useSession } from "../auth/session";
import { LoadError } from "../components/LoadError";
import { t } from "../i18n";
import { AppointmentStatus } from "../components/AppointmentStatus";
import { useMyComingAppointments } from "../portal/mine";
import { formatDateTime } from "../time";

const shown = 3;

/** PatientHome: the patient's next appointments, what is new for them, and where to go next. */
export function PatientHome({ name }: { name: string }) {
  const { client } = useSession();
  const queries = useQueryClient();
  const { patient, doctors, appts } = useMyComingAppointments();
  const notes = useQuery({
    queryKey: ["notifications"],
    queryFn: () => client.request<{ notifications: Notification[] }>(...op("GET /api/v1/notifications")).then((r) => r.notifications),
  });
  const next = (appts.data ?? []).filter((a) => a.status !== "cancelled").sort((x, y) => x.start.localeCompare(y.start)).slice(0, shown);
  // A time is the doctor's: shown in the zone of their hours, named when it is not the patient's own.
  const doctorIDs = [...new Set(next.map((a) => a.doctor_id))];
  const zones = useQueries({
    queries: doctorIDs.map((id) => ({
      queryKey: ["availability", id],
      queryFn: () => client.request<Availability>(...op("GET /api/v1/doctors/{id}/availability", { id })),
    })),
  });
  const zoneOf = new Map(doctorIDs.map((id, i) => [id, zones[i]?.data?.time_zone]));
  const names = new Map((doctors.data ?? []).map((d) => [d.id, d.name]));
  const unread = (notes.data ?? []).filter((n) => !n.read_at);

  async function markRead(n: Notification) {
    await client.request(...op("POST /api/v1/notifications/{id}/read", { id: n.id }));
    await queries.invalidateQueries({ queryKey: ["notifications"] });
  }

  return (
    <div className="stack-wide">
      <section className="card" aria-labelledby="home-title">
        <div className="chat-head">
          <h1 id="home-title">{t("home.title", { name })}</h1>
          <div className="home-actions">
            <Link to="/book" className="button primary">{t("book.title")}</Link>
            <Link to="/assistant" className="button">{t("home.startChat")}</Link>
          </div>
        </div>
        <h2 className="h2" id="home-next">{t("home.next")}</h2>
        <LoadError error={patient.error ?? appts.error ?? doctors.error} onRetry={() => Promise.all([patient.refetch(), appts.refetch(), doctors.refetch()])} />
        {appts.data && next.length === 0 && <p className="muted">{t("home.noAppointments")}</p>}
        <ul className="appointment-list" aria-labelledby="home-next">
          {next.map((a) => {
            const when = formatDateTime(a.start, zoneOf.get(a.doctor_id));
            return (
              <li key={a.id} className="appointment">
                <div>
                  <strong>{t("home.withDoctor", { time: when, doctor: names.get(a.doctor_id) ?? "…" })}</strong>
                  <div className="muted"><AppointmentStatus a={a} /></div>
                </div>
                <Link to="/appointments" aria-label={t("home.changeNamed", { time: when })}>{t("home.change")}</Link>
              </li>
            );
          })}
        </ul>
      </section>
      <section className="card" aria-labelledby="home-unread">
        <h2 id="home-unread" className="h2">{t("home.unread")}</h2>
        <LoadError error={notes.error} onRetry={() => notes.refetch()} />
        {notes.data && unread.length === 0 && <p className="muted">{t("home.noUnread")}</p>}
        <ul className="appointment-list" aria-labelledby="home-unread">
          {unread.map((n) => (
            <li key={n.id} className="appointment">
              <div>
                <strong>{n.subject}</strong>
                <div className="muted">{n.body}</div>
              </div>
              <button type="button" onClick={() => void markRead(n)} aria-label={t("home.markReadNamed", { subject: n.subject })}>
                {t("notifications.markRead")}
              </button>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
