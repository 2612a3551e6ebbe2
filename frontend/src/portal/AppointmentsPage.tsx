import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useLocation } from "react-router-dom";
import type { Appointment } from "../api/types";
import { useSession } from "../auth/session";
import { t, type MessageKey } from "../i18n";
import { cancelAppointment, formatWhen, listAppointments, listDoctors, myPatient } from "./api";

/** AppointmentsPage lists the patient's coming appointments, with cancel. */
export function AppointmentsPage() {
  const { client } = useSession();
  const queries = useQueryClient();
  const booked = (useLocation().state as { booked?: string } | null)?.booked;
  const patient = useQuery({ queryKey: ["me", "patient"], queryFn: () => myPatient(client) });
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const appts = useQuery({
    queryKey: ["appointments", "mine", patient.data?.id],
    enabled: !!patient.data,
    queryFn: () => listAppointments(client, { patient_id: patient.data!.id, from: new Date() }),
  });
  const [error, setError] = useState<string | null>(null);
  const names = new Map((doctors.data ?? []).map((d) => [d.id, d.name]));

  async function cancel(a: Appointment) {
    if (!window.confirm(t("appts.cancelConfirm", { time: formatWhen(a.start) }))) return;
    setError(null);
    try {
      await cancelAppointment(client, a.id);
      await queries.invalidateQueries({ queryKey: ["appointments"] });
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    }
  }

  const loadError = patient.error ?? appts.error;
  const upcoming = (appts.data ?? []).filter((a) => a.status !== "cancelled");
  return (
    <section className="card" aria-labelledby="appts-title">
      <div className="chat-head">
        <h1 id="appts-title">{t("appts.title")}</h1>
        <Link to="/book" className="button primary">{t("book.title")}</Link>
      </div>
      {booked && <p className="notice" role="status">{booked}</p>}
      {loadError && (
        <div className="error-banner" role="alert">
          <p>{loadError.message}</p>
          <button type="button" onClick={() => void appts.refetch()}>{t("error.retry")}</button>
        </div>
      )}
      {error && <p className="error-banner" role="alert">{error}</p>}
      {appts.data && upcoming.length === 0 && <p className="muted">{t("appts.none")}</p>}
      <ul className="appointment-list">
        {upcoming.map((a) => (
          <li key={a.id} className="appointment">
            <div>
              <strong>{formatWhen(a.start)}</strong> {t("appts.with", { doctor: names.get(a.doctor_id) ?? "" })}
              <div className="muted">
                {t(`status.${a.status}` as MessageKey)}
                {a.reason ? ` · ${a.reason}` : ""}
              </div>
            </div>
            <button type="button" onClick={() => void cancel(a)} aria-label={`${t("appts.cancel")} ${formatWhen(a.start)}`}>
              {t("appts.cancel")}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
