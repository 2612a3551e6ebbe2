import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { op } from "../api/operations";
import type { Appointment, ClinicalEntry, Patient } from "../api/types";
import { useSession } from "../auth/session";
import { errorsFor, Field, TextField } from "../components/Field";
import { t, type MessageKey } from "../i18n";
import { formatWhen, listAppointments } from "./api";
import { AppointmentStatus } from "../components/AppointmentStatus";
import { LoadError } from "../components/LoadError";
import { useDoctorZones } from "./zones";
import { EmergencyBanner, EmergencyGate, refusedRecord } from "../emergency/EmergencyAccess";

export const entryKinds: { kind: string; title: MessageKey }[] = [
  { kind: "allergy", title: "record.allergies" },
  { kind: "condition", title: "record.conditions" },
  { kind: "medication", title: "record.medications" },
];

/** PatientFacts lists who a patient is and how to reach them; the e-mail address only where asked. */
export function PatientFacts({ patient: p, withEmail = false }: { patient: Patient; withEmail?: boolean }) {
  const age = ageOn(p.date_of_birth);
  return (
    <dl className="facts">
      <dt>{t("record.dob")}</dt>
      <dd>{p.date_of_birth}{age !== null ? ` (${t("summary.age", { age })})` : ""}</dd>
      <dt>{t("record.phone")}</dt>
      <dd>{p.phone || "—"}</dd>
      {withEmail && (
        <>
          <dt>{t("record.email")}</dt>
          <dd>{p.email || "—"}</dd>
        </>
      )}
      <dt>{t("record.emergency")}</dt>
      <dd>{p.emergency_contacts?.length ? p.emergency_contacts.map((c) => `${c.name}, ${c.phone}`).join("; ") : "—"}</dd>
    </dl>
  );
}

/** ageOn is the age in whole years of someone born on dob (YYYY-MM-DD). */
export function ageOn(dob: string, now = new Date()): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(dob);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  let age = now.getFullYear() - y;
  if (now.getMonth() + 1 < mo || (now.getMonth() + 1 === mo && now.getDate() < d)) age--;
  return age;
}

/**
 * PatientSummary: what a doctor needs at a glance about a patient —
 * allergies first, history, medications, past and coming appointments —
 * and a short form to add to the record.
 */
export function PatientSummary({ patientID, onClose }: { patientID: string; onClose: () => void }) {
  const { client } = useSession();
  const queries = useQueryClient();
  const heading = useRef<HTMLHeadingElement>(null);
  const patient = useQuery({ queryKey: ["patient", patientID], queryFn: () => client.request<Patient>(...op("GET /api/v1/patients/{id}", { id: patientID })) });
  const entries = useQuery({
    queryKey: ["entries", patientID],
    queryFn: () => client.request<{ entries: ClinicalEntry[] }>(...op("GET /api/v1/patients/{id}/entries", { id: patientID })).then((r) => r.entries),
  });
  const visits = useQuery({
    queryKey: ["appointments", "patient", patientID],
    queryFn: () => listAppointments(client, { patient_id: patientID, from: new Date(Date.now() - 2 * 365 * 24 * 3600_000) }),
  });
  const [draft, setDraft] = useState({ kind: "allergy", description: "", detail: "" });
  const [errors, setErrors] = useState<Partial<Record<"kind" | "description" | "detail" | "form", string>>>({});
  const [busy, setBusy] = useState(false);

  useEffect(() => heading.current?.focus(), [patientID]);

  async function add(ev: FormEvent) {
    ev.preventDefault();
    setErrors({});
    if (!draft.description.trim()) {
      setErrors({ description: t("summary.descriptionRequired") });
      return;
    }
    setBusy(true);
    try {
      await client.request<ClinicalEntry>(...op("POST /api/v1/patients/{id}/entries", { id: patientID }), {
        kind: draft.kind,
        description: draft.description.trim(),
        detail: draft.detail.trim(),
      });
      setDraft({ ...draft, description: "", detail: "" });
      await queries.invalidateQueries({ queryKey: ["entries", patientID] });
    } catch (err) {
      setErrors(errorsFor(err, ["kind", "description", "detail"] as const));
    } finally {
      setBusy(false);
    }
  }

  const zoneOf = useDoctorZones((visits.data ?? []).map((a) => a.doctor_id));
  const p = patient.data;
  const error = patient.error ?? entries.error ?? visits.error;
  const now = Date.now();
  const past = (visits.data ?? []).filter((a) => new Date(a.start).getTime() < now).reverse();
  const coming = (visits.data ?? []).filter((a) => new Date(a.start).getTime() >= now && a.status !== "cancelled");
  const visit = (a: Appointment) => (
    <li key={a.id}>
      {formatWhen(a.start, zoneOf(a.doctor_id))} · <AppointmentStatus a={a} />
    </li>
  );
  if (refusedRecord(patient.error)) {
    return (
      <section className="card summary-card" aria-labelledby="summary-title">
        <div className="chat-head">
          <h2 id="summary-title" className="h2" tabIndex={-1} ref={heading}>{t("summary.loading")}</h2>
          <button type="button" onClick={onClose}>{t("summary.close")}</button>
        </div>
        <EmergencyGate patientID={patientID} onGranted={() => Promise.all([patient.refetch(), entries.refetch(), visits.refetch()])} />
      </section>
    );
  }
  return (
    <section className="card summary-card" aria-labelledby="summary-title">
      <div className="chat-head">
        <h2 id="summary-title" className="h2" tabIndex={-1} ref={heading}>
          {p ? p.name : t("summary.loading")}
        </h2>
        <button type="button" onClick={onClose}>{t("summary.close")}</button>
      </div>
      <EmergencyBanner patientID={patientID} />
      <LoadError error={error} onRetry={() => Promise.all([patient.refetch(), entries.refetch(), visits.refetch()])} />
      {p && <PatientFacts patient={p} />}
      <div className="summary-grid">
        {entryKinds.map(({ kind, title }) => {
          const list = (entries.data ?? []).filter((e) => e.kind === kind);
          return (
            <div key={kind} className={kind === "allergy" && list.length > 0 ? "summary-block alert" : "summary-block"}>
              <h3 className="h3">{t(title)}</h3>
              {entries.data && list.length === 0 && <p className="muted">{t("record.noneRecorded")}</p>}
              <ul className="entries" aria-label={t(title)}>
                {list.map((e) => (
                  <li key={e.id}>
                    <strong>{e.description}</strong>
                    {e.detail ? ` — ${e.detail}` : ""}
                    {e.status && e.status !== "active" ? <span className="muted"> · {e.status}</span> : null}
                  </li>
                ))}
              </ul>
            </div>
          );
        })}
        <div className="summary-block">
          <h3 className="h3">{t("summary.past")}</h3>
          {visits.data && past.length === 0 && <p className="muted">{t("summary.noVisits")}</p>}
          <ul className="entries" aria-label={t("summary.past")}>{past.slice(0, 10).map(visit)}</ul>
          {coming.length > 0 && (
            <>
              <h3 className="h3">{t("summary.coming")}</h3>
              <ul className="entries" aria-label={t("summary.coming")}>{coming.map(visit)}</ul>
            </>
          )}
        </div>
      </div>
      <form className="stack" onSubmit={add} noValidate aria-labelledby="summary-add">
        <h3 id="summary-add" className="h3">{t("summary.add")}</h3>
        {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
        <div className="filters">
          <Field id="entry-kind" label={t("summary.kind")} error={errors.kind}>
            <select id="entry-kind" value={draft.kind} onChange={(e) => setDraft({ ...draft, kind: e.target.value })}>
              {entryKinds.map(({ kind }) => <option key={kind} value={kind}>{t(`summary.kind.${kind}` as MessageKey)}</option>)}
            </select>
          </Field>
          <TextField id="entry-description" label={t("summary.description")} error={errors.description} value={draft.description} onValue={(v) => setDraft({ ...draft, description: v })} autoComplete="off" />
          <TextField id="entry-detail" label={t("summary.detail")} error={errors.detail} value={draft.detail} onValue={(v) => setDraft({ ...draft, detail: v })} autoComplete="off" />
        </div>
        <button type="submit" disabled={busy}>{t("summary.addSubmit")}</button>
      </form>
    </section>
  );
}
