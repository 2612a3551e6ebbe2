import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useNavigate } from "react-router-dom";
import { useSession } from "../auth/session";
import { t } from "../i18n";
import { byAppointmentKey, listConsultations, startConsultation } from "./api";

/** consultationPath is the page of a consultation. */
export const consultationPath = (id: string) => `/consultations/${encodeURIComponent(id)}`;

/**
 * ConsultationButton starts the consultation of an appointment, or opens
 * it when there is one, and goes to its page.
 */
export function ConsultationButton({ appointmentID, patient }: { appointmentID: string; patient: string }) {
  const { client } = useSession();
  const queries = useQueryClient();
  const navigate = useNavigate();
  const existing = useQuery({ queryKey: byAppointmentKey(appointmentID), queryFn: () => listConsultations(client, { appointment_id: appointmentID }) });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const found = existing.data?.[0];

  async function go() {
    setError(null);
    if (found) return navigate(consultationPath(found.id));
    setBusy(true);
    try {
      const c = await startConsultation(client, { appointment_id: appointmentID });
      queries.setQueryData(byAppointmentKey(appointmentID), [c]);
      navigate(consultationPath(c.id));
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
      setBusy(false);
    }
  }

  return (
    <>
      <button type="button" disabled={busy || existing.isPending} onClick={() => void go()} aria-label={t(found ? "consult.openFor" : "consult.startFor", { patient })}>
        {t(found ? "consult.open" : "consult.start")}
      </button>
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </>
  );
}
