import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { op } from "../api/operations";
import type { Patient } from "../api/types";
import { useSession } from "../auth/session";
import { errorsFor, Field, TextField } from "../components/Field";
import { LoadError } from "../components/LoadError";
import { t, type MessageKey } from "../i18n";
import { getRetention, liftHold, listHolds, placeHold, runRetention, saveRetention, type RetentionReport } from "./retention";

const periods = ["clinical_records_years", "audit_events_years"] as const;
type Period = (typeof periods)[number];

/** RetentionPage: the admin sets how long data is kept, within the legal floors, and places or lifts legal holds on patients. */
export function RetentionPage() {
  return (
    <div className="stack-wide">
      <PolicyForm />
      <Holds />
    </div>
  );
}

function PolicyForm() {
  const { client } = useSession();
  const queries = useQueryClient();
  const policy = useQuery({ queryKey: ["retention"], queryFn: () => getRetention(client) });
  const [typed, setTyped] = useState<Partial<Record<Period, string>>>({});
  const [errors, setErrors] = useState<Partial<Record<Period | "form", string>>>({});
  const [status, setStatus] = useState<string | null>(null);
  const [report, setReport] = useState<RetentionReport | null>(null);
  const [busy, setBusy] = useState(false);
  const value = (k: Period) => typed[k] ?? (policy.data ? String(policy.data[k]) : "");
  const floor = (k: Period) => (k === "audit_events_years" ? policy.data?.audit_events_floor_years : policy.data?.clinical_records_floor_years) ?? 6;

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setStatus(null);
    const body: Partial<Record<Period, number>> = {};
    const wrong: Partial<Record<Period, string>> = {};
    for (const k of periods) {
      const v = value(k).trim();
      if (!/^\d+$/.test(v)) wrong[k] = t("limits.wholeNumber");
      else if (Number(v) < floor(k)) wrong[k] = t("retention.belowFloor", { years: floor(k) });
      else body[k] = Number(v);
    }
    if (Object.keys(wrong).length > 0) {
      setErrors(wrong);
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      queries.setQueryData(["retention"], await saveRetention(client, body));
      setTyped({});
      setStatus(t("retention.saved"));
    } catch (err) {
      setErrors(errorsFor(err, periods));
    } finally {
      setBusy(false);
    }
  }

  async function preview() {
    setBusy(true);
    setStatus(null);
    try {
      setReport(await runRetention(client, true));
    } catch (err) {
      setErrors({ form: err instanceof Error ? err.message : t("error.generic") });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="retention-title">
      <h1 id="retention-title">{t("retention.title")}</h1>
      <p className="help">{t("retention.intro")}</p>
      {status && <p className="notice" role="status">{status}</p>}
      <LoadError error={policy.error} onRetry={() => policy.refetch()} />
      {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
      <form className="stack-form" onSubmit={submit} noValidate>
        <div className="limits">
          {periods.map((k) => (
            <div className="with-help" key={k}>
              <TextField id={`retention-${k}`} label={t(`retention.${k}` as MessageKey)} error={errors[k]} value={value(k)} onValue={(v) => setTyped({ ...typed, [k]: v })}
                inputMode="numeric" autoComplete="off" disabled={!policy.data}
                aria-describedby={errors[k] ? `retention-${k}-error retention-${k}-help` : `retention-${k}-help`} />
              <p className="help" id={`retention-${k}-help`}>{t(`retention.${k}Help` as MessageKey, { years: floor(k) })}</p>
            </div>
          ))}
        </div>
        <p className="help">{t("retention.conversations")}</p>
        <div className="form-actions">
          <button type="submit" className="primary" disabled={busy || !policy.data}>{t("retention.save")}</button>
          <button type="button" onClick={() => void preview()} disabled={busy || !policy.data}>{t("retention.preview")}</button>
        </div>
      </form>
      {report && (
        <p className="notice" role="status" aria-live="polite">
          {t("retention.previewResult", { patients: report.patients, holds: report.legal_holds })}
        </p>
      )}
    </section>
  );
}

function Holds() {
  const { client } = useSession();
  const queries = useQueryClient();
  const holds = useQuery({ queryKey: ["legal-holds"], queryFn: () => listHolds(client) });
  const [q, setQ] = useState("");
  const found = useQuery({
    queryKey: ["patients", "hold-search", q],
    enabled: q.trim().length >= 2,
    queryFn: () => client.request<{ patients: Patient[] }>(...op("GET /api/v1/patients", {}, new URLSearchParams({ q: q.trim(), limit: "20" }))).then((r) => r.patients),
  });
  const [patientID, setPatientID] = useState("");
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Partial<Record<"patient_id" | "reason" | "form", string>>>({});
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function place(ev: FormEvent) {
    ev.preventDefault();
    setStatus(null);
    const wrong: typeof errors = {};
    if (!patientID) wrong.patient_id = t("retention.choosePatient");
    if (!reason.trim()) wrong.reason = t("retention.needReason");
    if (Object.keys(wrong).length > 0) {
      setErrors(wrong);
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const h = await placeHold(client, patientID, reason.trim());
      setStatus(t("retention.placed", { name: h.patient_name || found.data?.find((p) => p.id === patientID)?.name || patientID }));
      setPatientID("");
      setReason("");
      setQ("");
      await queries.invalidateQueries({ queryKey: ["legal-holds"] });
    } catch (err) {
      setErrors(errorsFor(err, ["patient_id", "reason"] as const));
    } finally {
      setBusy(false);
    }
  }

  async function lift(id: string, name: string) {
    setStatus(null);
    try {
      await liftHold(client, id);
      setStatus(t("retention.lifted", { name }));
      await queries.invalidateQueries({ queryKey: ["legal-holds"] });
    } catch (err) {
      setErrors({ form: err instanceof Error ? err.message : t("error.generic") });
    }
  }

  return (
    <section className="card" aria-labelledby="holds-title">
      <h2 id="holds-title" className="h2">{t("retention.holds")}</h2>
      <p className="help">{t("retention.holdsIntro")}</p>
      {status && <p className="notice" role="status">{status}</p>}
      {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
      <LoadError error={holds.error} onRetry={() => holds.refetch()} />
      {holds.data?.length === 0 && <p className="muted">{t("retention.noHolds")}</p>}
      <ul className="appointment-list" aria-label={t("retention.holds")}>
        {holds.data?.map((h) => {
          const name = h.patient_name || h.patient_id;
          return (
            <li key={h.patient_id} className="appointment hold-row" data-patient={h.patient_id}>
              <div>
                <strong>{name}</strong>
                <div className="muted">{t("retention.holdSince", { time: new Date(h.placed_at).toLocaleString(), reason: h.reason })}</div>
              </div>
              <div className="actions">
                <button type="button" onClick={() => void lift(h.patient_id, name)} aria-label={t("retention.liftOf", { name })}>{t("retention.lift")}</button>
              </div>
            </li>
          );
        })}
      </ul>
      <form className="stack" onSubmit={place} noValidate aria-labelledby="hold-place">
        <h3 id="hold-place" className="h3">{t("retention.place")}</h3>
        <TextField id="hold-search" label={t("retention.searchPatient")} type="search" value={q} onValue={setQ} autoComplete="off" />
        <Field id="hold-patient" label={t("retention.patient")} error={errors.patient_id}>
          <select id="hold-patient" value={patientID} onChange={(e) => setPatientID(e.target.value)} aria-invalid={!!errors.patient_id}>
            <option value="">{t("retention.pickPatient")}</option>
            {found.data?.map((p) => <option key={p.id} value={p.id}>{`${p.name} · ${p.date_of_birth}`}</option>)}
          </select>
        </Field>
        <TextField id="hold-reason" label={t("retention.reason")} error={errors.reason} value={reason} onValue={setReason} maxLength={500} autoComplete="off" />
        <button type="submit" className="primary" disabled={busy}>{t("retention.placeSubmit")}</button>
      </form>
    </section>
  );
}
