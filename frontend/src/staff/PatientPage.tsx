import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "react-router-dom";
import { op } from "../api/operations";
import type { Patient } from "../api/types";
import { useSession } from "../auth/session";
import { LoadError } from "../components/LoadError";
import { t } from "../i18n";
import { listAppointments, listDoctors } from "../portal/api";
import { AppointmentStatus } from "../components/AppointmentStatus";
import { PatientFacts, PatientSummary } from "../portal/PatientSummary";
import { formatDateTime } from "../time";
import { VisitNotes } from "../consult/VisitNotes";

/**
 * PatientPage is a patient's page for the clinic, opened from any list: a
 * doctor sees the medical summary; the front desk (and admins) see the
 * details they keep and the appointments, without medical history.
 */
export function PatientPage() {
  const { id = "" } = useParams();
  const { user } = useSession();
  const navigate = useNavigate();
  if (user?.role === "doctor") {
    return (
      <div className="stack-wide">
        <h1 className="visually-hidden">{t("summary.loading")}</h1>
        <PatientSummary patientID={id} onClose={() => navigate(-1)} />
        <VisitNotes patientID={id} withLinks startable />
      </div>
    );
  }
  return <FrontDeskPatient id={id} />;
}

function FrontDeskPatient({ id }: { id: string }) {
  const { client } = useSession();
  const patient = useQuery({ queryKey: ["patient", id], queryFn: () => client.request<Patient>(...op("GET /api/v1/patients/{id}", { id })) });
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const visits = useQuery({
    queryKey: ["appointments", "patient", id],
    queryFn: () => listAppointments(client, { patient_id: id, from: new Date(Date.now() - 365 * 24 * 3600_000) }),
  });
  const names = new Map((doctors.data ?? []).map((d) => [d.id, d.name]));
  const p = patient.data;
  const list = [...(visits.data ?? [])].sort((x, y) => y.start.localeCompare(x.start));
  return (
    <section className="card" aria-labelledby="patient-title">
      <div className="chat-head">
        <h1 id="patient-title">{p ? p.name : t("summary.loading")}</h1>
        {p && <Link className="button primary" to={`/book?patient=${encodeURIComponent(p.id)}`}>{t("patients.book", { name: p.name })}</Link>}
      </div>
      <LoadError error={patient.error ?? visits.error} onRetry={() => Promise.all([patient.refetch(), visits.refetch()])} />
      {p && <PatientFacts patient={p} withEmail />}
      <h2 id="patient-appts" className="h2">{t("patient.appointments")}</h2>
      {visits.data && list.length === 0 && <p className="muted">{t("patient.none")}</p>}
      <ul className="appointment-list" aria-labelledby="patient-appts">
        {list.map((a) => (
          <li key={a.id} className="appointment">
            <div>
              <strong>{formatDateTime(a.start)}</strong> {t("appts.with", { doctor: names.get(a.doctor_id) ?? "…" })}
              <div className="muted"><AppointmentStatus a={a} /></div>
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}
