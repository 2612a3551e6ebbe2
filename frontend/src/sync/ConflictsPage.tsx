import { useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";
import { op } from "../api/operations";
import type { Patient } from "../api/types";
import { useSession } from "../auth/session";
import { doctorName } from "../components/doctors";
import { LoadError } from "../components/LoadError";
import { t, type MessageKey } from "../i18n";
import { formatWhen, listDoctors, todayString } from "../portal/api";
import { useDoctorZones } from "../portal/zones";
import { patientPath } from "../staff/day";
import { formatDateTime } from "../time";
import { conflictsKey, isSet, listConflicts, resolveConflict, shownState, useSyncStatus, type SyncConflict } from "./api";

/** rebookPath is the booking flow for the patient and doctor of a lost booking, on its day, marking it dealt with once rebooked. */
export function rebookPath(c: SyncConflict): string {
  const q = new URLSearchParams({ patient: c.patient_id, doctor: c.doctor_id, conflict: c.id });
  if (isSet(c.start)) q.set("day", todayString(new Date(c.start)));
  return `/book?${q.toString()}`;
}

/**
 * ConflictsPage lists the bookings made here that the main server could not
 * confirm (another booking took the time first, or it refused the change):
 * who, with which doctor, when (on the doctor's clock) and why, with where
 * to rebook and a button to mark each as dealt with.
 */
export function ConflictsPage() {
  const { client } = useSession();
  const queries = useQueryClient();
  const status = useSyncStatus();
  const conflicts = useQuery({ queryKey: conflictsKey, queryFn: () => listConflicts(client) });
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const list = [...(conflicts.data ?? [])].sort((x, y) => x.start.localeCompare(y.start));
  const patientIDs = [...new Set(list.map((c) => c.patient_id))];
  const patients = useQueries({
    queries: patientIDs.map((id) => ({
      queryKey: ["patient", id],
      queryFn: () => client.request<Patient>(...op("GET /api/v1/patients/{id}", { id })),
      retry: false,
    })),
  });
  const patientNames = new Map(patientIDs.map((id, i) => [id, patients[i]?.isError ? t("audit.aPatient") : patients[i]?.data?.name]));
  const doctorNames = new Map((doctors.data ?? []).map((d) => [d.id, doctorName(d.name)]));
  const zoneOf = useDoctorZones(list.map((c) => c.doctor_id));
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  async function resolve(c: SyncConflict, patient: string, time: string) {
    setBusy(c.id);
    setError(null);
    setNotice(null);
    try {
      await resolveConflict(client, c.id);
      setNotice(t("sync.resolved", { patient, time }));
      await queries.invalidateQueries({ queryKey: ["sync"] });
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    } finally {
      setBusy(null);
    }
  }

  const st = status.data;
  return (
    <section className="card" aria-labelledby="conflicts-title">
      <h1 id="conflicts-title">{t("sync.conflictsTitle")}</h1>
      <p className="muted">{t("sync.conflictsIntro")}</p>
      {st?.enrolled && (
        <p className={`sync-summary ${shownState(st)}`}>
          <strong>{t("sync.label")}: {t(`sync.state.${shownState(st)}` as MessageKey)}.</strong> {t(`sync.explain.${shownState(st)}` as MessageKey)}
        </p>
      )}
      {notice && <p className="notice" role="status">{notice}</p>}
      {error && <p className="error-banner" role="alert">{error}</p>}
      <LoadError error={conflicts.error ?? doctors.error} onRetry={() => Promise.all([conflicts.refetch(), doctors.refetch()])} />
      {conflicts.data && list.length === 0 && <p className="muted">{t("sync.noConflicts")}</p>}
      <ul className="appointment-list" aria-label={t("sync.conflictsLabel")}>
        {list.map((c) => {
          const patient = patientNames.get(c.patient_id) ?? "…";
          const doctor = doctorNames.get(c.doctor_id) ?? "…";
          const time = formatWhen(c.start, zoneOf(c.doctor_id));
          const what = t(c.kind === "update" ? "sync.conflictWhat.update" : "sync.conflictWhat.book", { patient, doctor });
          return (
            <li key={c.id} className="appointment conflict">
              <div>
                <strong>{what}</strong>
                <div>{t("sync.conflictWhen", { time })}</div>
                {c.reason && <div>{t("sync.conflictReason", { reason: c.reason })}</div>}
                {isSet(c.created_at) && <div className="muted">{t("sync.conflictNoted", { time: formatDateTime(c.created_at) })}</div>}
              </div>
              <div className="actions">
                {/* A lost booking is booked again; a lost move leaves the appointment where it was, to move again from the patient's page. */}
                {c.kind === "update" ? (
                  <Link className="button primary" to={patientPath(c.patient_id)}>{patient}</Link>
                ) : (
                  <Link className="button primary" to={rebookPath(c)} aria-label={t("sync.rebookNamed", { patient, doctor })}>
                    {t("sync.rebook")}
                  </Link>
                )}
                <button type="button" disabled={busy === c.id} onClick={() => void resolve(c, patient, time)} aria-label={t("sync.resolveNamed", { patient, time })}>
                  {t("sync.resolve")}
                </button>
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
