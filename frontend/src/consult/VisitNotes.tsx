import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { ApiError } from "../api/client";
import { useSession } from "../auth/session";
import { LoadError } from "../components/LoadError";
import { t, type MessageKey } from "../i18n";
import { formatDate, formatDateTime } from "../time";
import { byPatientKey, isSigned, listConsultations, startConsultation, type Consultation } from "./api";
import { consultationPath } from "./ConsultationButton";
import { NoteParts } from "./NoteEditor";
import "./consult.css";

const newestFirst = (a: Consultation, b: Consultation) => (b.signed_at || b.created_at).localeCompare(a.signed_at || a.created_at);

/**
 * VisitNotes lists a patient's signed visit notes: the date, the doctor and
 * the note's four parts. Only signed notes are shown, whatever the server
 * sends. For clinicians (withLinks) each opens its consultation, and the
 * consultations not signed yet are listed after them by date only; a
 * doctor (startable) can start one without an appointment.
 */
export function VisitNotes({ patientID, withLinks = false, startable = false }: { patientID: string; withLinks?: boolean; startable?: boolean }) {
  const { client } = useSession();
  const list = useQuery({ queryKey: byPatientKey(patientID), enabled: !!patientID, queryFn: () => listConsultations(client, { patient_id: patientID }) });
  const all = list.data ?? [];
  const signed = all.filter(isSigned).sort(newestFirst);
  const unsigned = withLinks ? all.filter((c) => !isSigned(c)).sort(newestFirst) : [];
  const notShared = list.error instanceof ApiError && list.error.status === 403;
  // A clinician refused a patient's notes sees the record's own refusal instead.
  if (notShared && withLinks) return null;

  return (
    <section className="card visit-notes" aria-labelledby="visit-notes-title">
      <h2 id="visit-notes-title" className="h2">
        {t("visitNotes.title")}
      </h2>
      {startable && <StartForPatient patientID={patientID} />}
      {notShared ? <p className="muted">{t("visitNotes.notShared")}</p> : <LoadError error={list.error} onRetry={() => list.refetch()} />}
      {list.data && signed.length === 0 && <p className="muted">{t("visitNotes.none")}</p>}
      <ul className="visit-note-list" aria-labelledby="visit-notes-title">
        {signed.map((c) => {
          const heading = t("visitNotes.heading", { date: formatDate(c.signed_at || c.created_at), doctor: c.doctor_name ?? "" });
          return (
            <li key={c.id} className="visit-note" aria-label={heading}>
              <div className="chat-head">
                <h3 className="h3">{heading}</h3>
                {withLinks && (
                  <Link to={consultationPath(c.id)} aria-label={t("visitNotes.open", { date: formatDate(c.signed_at || c.created_at) })}>
                    {t("consult.open")}
                  </Link>
                )}
              </div>
              <NoteParts note={c.note} />
            </li>
          );
        })}
      </ul>
      {unsigned.length > 0 && (
        <>
          <h3 id="visit-notes-unsigned" className="h3">
            {t("visitNotes.unsigned")}
          </h3>
          <ul className="entries" aria-labelledby="visit-notes-unsigned">
            {unsigned.map((c) => (
              <li key={c.id}>
                <Link to={consultationPath(c.id)}>{formatDateTime(c.created_at)}</Link> <span className="muted">· {t(`visitNotes.status.${c.note_status === "draft" ? "draft" : "none"}` as MessageKey)}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** StartForPatient starts a consultation for a patient without an appointment. */
export function StartForPatient({ patientID }: { patientID: string }) {
  const { client } = useSession();
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function go() {
    setBusy(true);
    setError(null);
    try {
      const c = await startConsultation(client, { patient_id: patientID });
      navigate(consultationPath(c.id));
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
      setBusy(false);
    }
  }

  return (
    <div className="form-actions">
      <button type="button" disabled={busy} onClick={() => void go()}>
        {t("consult.start")}
      </button>
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
