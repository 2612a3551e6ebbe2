import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { NavLink } from "react-router-dom";
import { ApiError } from "../api/client";
import { useSession } from "../auth/session";
import { Dialog } from "../admin/Dialog";
import { errorsFor, Field, TextField } from "../components/Field";
import { t } from "../i18n";
import { formatClock } from "../time";
import { activeGrant, emergencyKey, emergencyOptions, requestEmergencyAccess } from "./api";
import "./emergency.css";

/** refusedRecord reports whether err is the rules' refusal of a record (403), which emergency access can open. */
export function refusedRecord(err: unknown): boolean {
  return err instanceof ApiError && err.status === 403;
}

/**
 * EmergencyBanner says, for as long as the signed-in clinician holds
 * emergency access to the patient, until when and that every view is
 * recorded.
 */
export function EmergencyBanner({ patientID }: { patientID: string }) {
  const { client, user } = useSession();
  const grant = useQuery({
    queryKey: emergencyKey(patientID),
    queryFn: () => activeGrant(client, patientID),
    enabled: user?.role === "doctor",
    // Ends on its own: look again around the time it runs out.
    refetchInterval: 60_000,
  });
  const g = grant.data;
  if (!g || new Date(g.expires_at).getTime() <= Date.now()) return null;
  return (
    <p className="break-glass-banner" role="status">
      <strong>{t("emergency.banner", { time: formatClock(g.expires_at) })}</strong>
    </p>
  );
}

/**
 * EmergencyGate stands where a refused record would be: it says the
 * clinician does not treat the patient and offers emergency access, asked
 * for in a dialog with a reason and the clinician's password (or code).
 */
export function EmergencyGate({ patientID, onGranted }: { patientID: string; onGranted: () => unknown }) {
  const [open, setOpen] = useState(false);
  return (
    <div className="break-glass-gate" role="region" aria-labelledby="break-glass-title">
      <h3 id="break-glass-title" className="h3">{t("emergency.notYours")}</h3>
      <p>{t("emergency.notYoursBody")}</p>
      <button type="button" className="danger" onClick={() => setOpen(true)}>{t("emergency.open")}</button>
      {open && <EmergencyDialog patientID={patientID} onClose={() => setOpen(false)} onGranted={() => { setOpen(false); void onGranted(); }} />}
    </div>
  );
}

type FormField = "reason" | "details" | "password" | "totp_code";

function EmergencyDialog({ patientID, onClose, onGranted }: { patientID: string; onClose: () => void; onGranted: () => void }) {
  const { client } = useSession();
  const queries = useQueryClient();
  const options = useQuery({ queryKey: ["emergency", "options"], queryFn: () => emergencyOptions(client) });
  const [form, setForm] = useState({ reason: "", details: "", password: "", totp_code: "" });
  const [errors, setErrors] = useState<Partial<Record<FormField | "form", string>>>({});
  const [busy, setBusy] = useState(false);
  const hours = Math.round((options.data?.default_minutes ?? 240) / 60);

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const missing: Partial<Record<FormField, string>> = {};
    if (!form.reason) missing.reason = t("emergency.reasonRequired");
    if (form.reason === "other" && !form.details.trim()) missing.details = t("emergency.detailsRequired");
    if (!form.password && !form.totp_code.trim()) missing.password = t("emergency.passwordRequired");
    setErrors(missing);
    if (Object.keys(missing).length > 0) return;
    setBusy(true);
    try {
      await requestEmergencyAccess(client, {
        patient_id: patientID,
        reason: form.reason,
        details: form.details.trim(),
        ...(form.password ? { password: form.password } : { totp_code: form.totp_code.trim() }),
      });
      await queries.invalidateQueries({ queryKey: emergencyKey(patientID) });
      onGranted();
    } catch (err) {
      setErrors(errorsFor(err, ["reason", "details", "password", "totp_code"] as const));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("emergency.dialogTitle")} onClose={onClose}>
      <form className="stack" onSubmit={submit} noValidate>
        <p className="break-glass-warning">{t("emergency.warning", { hours })}</p>
        {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
        <Field id="emergency-reason" label={t("emergency.reason")} error={errors.reason}>
          <select id="emergency-reason" value={form.reason} required aria-invalid={!!errors.reason} aria-describedby={errors.reason ? "emergency-reason-error" : undefined}
            onChange={(e) => setForm({ ...form, reason: e.target.value })}>
            <option value="">{t("emergency.chooseReason")}</option>
            {(options.data?.reasons ?? []).map((r) => <option key={r.code} value={r.code}>{r.label}</option>)}
          </select>
        </Field>
        <Field id="emergency-details" label={t("emergency.details")} error={errors.details}>
          <textarea id="emergency-details" className="break-glass-text" rows={3} maxLength={1000} value={form.details} aria-invalid={!!errors.details}
            aria-describedby={errors.details ? "emergency-details-error" : undefined} onChange={(e) => setForm({ ...form, details: e.target.value })} />
        </Field>
        <TextField id="emergency-password" type="password" autoComplete="current-password" label={t("emergency.password")} error={errors.password}
          value={form.password} onValue={(v) => setForm({ ...form, password: v })} />
        <TextField id="emergency-code" inputMode="numeric" autoComplete="one-time-code" label={t("emergency.code")} error={errors.totp_code}
          value={form.totp_code} onValue={(v) => setForm({ ...form, totp_code: v })} />
        <div className="composer-actions">
          <button type="button" onClick={onClose}>{t("emergency.cancel")}</button>
          <button type="submit" className="danger" disabled={busy}>{t("emergency.submit")}</button>
        </div>
      </form>
    </Dialog>
  );
}

/**
 * PrivacyNavItem is the navigation's way to the review for a member of
 * staff or a doctor given the privacy officer's capability (administrators
 * have it in their own navigation); nothing for anyone else.
 */
export function PrivacyNavItem() {
  const { client, user } = useSession();
  const options = useQuery({
    queryKey: ["emergency", "options"],
    queryFn: () => emergencyOptions(client),
    enabled: user?.role === "staff" || user?.role === "doctor",
    staleTime: 5 * 60_000,
  });
  if (!options.data?.privacy_officer || user?.role === "admin") return null;
  return (
    <li>
      <NavLink to="/admin/emergency-access">{t("emergency.nav")}</NavLink>
    </li>
  );
}
