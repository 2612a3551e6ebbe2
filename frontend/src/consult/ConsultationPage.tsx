import { useQuery } from "@tanstack/react-query";
import { useCallback, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { useSession } from "../auth/session";
import { LoadError } from "../components/LoadError";
import { t } from "../i18n";
import { patientPath } from "../staff/day";
import { formatDateTime } from "../time";
import { consultKey, getConsultation, isSigned, type TranscriptSegment } from "./api";
import { NoteEditor } from "./NoteEditor";
import { RecordingPanel } from "./RecordingPanel";
import { TranscriptPanel } from "./TranscriptPanel";
import "./consult.css";

/**
 * ConsultationPage is one visit: the doctor notes the patient's consent,
 * records (or uploads a recording), watches the transcript appear, drafts
 * the visit note from it, edits and signs it. Anyone else allowed to open
 * it reads it; the server decides who that is.
 */
export function ConsultationPage() {
  const { id = "" } = useParams();
  const { client, user } = useSession();
  const view = useQuery({ queryKey: consultKey(id), queryFn: () => getConsultation(client, id) });
  const [streaming, setStreaming] = useState(false);
  const c = view.data?.consultation;
  const mine = !!c && !!user && user.id === c.doctor_user_id;
  const clinician = user?.role !== "patient";

  // Segments that arrive over the audio socket, shown with the transcript as read.
  const [live, setLive] = useState<TranscriptSegment[]>([]);
  const addSegment = useCallback((s: TranscriptSegment) => setLive((l) => [...l, s]), []);

  return (
    <div className="stack-wide consult-page">
      <section className="card" aria-labelledby="consult-title">
        <div className="chat-head">
          <h1 id="consult-title">{c ? t("consult.title", { patient: c.patient_name || "…" }) : t("consult.loading")}</h1>
          {c && clinician && (
            <Link className="button" to={patientPath(c.patient_id)}>
              {t("consult.openRecord")}
            </Link>
          )}
        </div>
        {c && <p className="muted">{t("consult.subtitle", { date: formatDateTime(c.created_at), doctor: c.doctor_name ?? "" })}</p>}
        {c && clinician && !mine && !isSigned(c) && <p className="muted">{t("consult.notYours")}</p>}
        <LoadError error={view.error} onRetry={() => view.refetch()} />
      </section>
      {c && (
        <div className="consult-grid">
          <div className="consult-column">
            {mine && !isSigned(c) && <RecordingPanel consultation={c} onSegment={addSegment} onActive={setStreaming} />}
            {clinician && <TranscriptPanel consultationID={c.id} streaming={streaming} live={live} />}
          </div>
          <NoteEditor consultation={c} editable={mine} />
        </div>
      )}
    </div>
  );
}
