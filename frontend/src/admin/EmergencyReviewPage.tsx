import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { useSession } from "../auth/session";
import { errorsFor, Field } from "../components/Field";
import { LoadError } from "../components/LoadError";
import { op } from "../api/operations";
import type { User } from "../api/types";
import { decide, officersKey, privacyOfficers, reviewKey, reviewList, setPrivacyOfficer, type ReviewedGrant } from "../emergency/api";
import "../emergency/emergency.css";
import { t, type MessageKey } from "../i18n";
import { formatDateTime } from "../time";
import "./admin.css";

/**
 * EmergencyReviewPage is the privacy officer's list of emergency access
 * grants: who opened which patient's record, why, until when and what they
 * did under it, each waiting for a decision on whether it was justified.
 */
export function EmergencyReviewPage() {
  const { client, user } = useSession();
  const [status, setStatus] = useState<"pending" | "all">("pending");
  const list = useQuery({ queryKey: [...reviewKey, status], queryFn: () => reviewList(client, status) });
  const [notice, setNotice] = useState<string | null>(null);
  return (
    <section className="card" aria-labelledby="review-title">
      <h1 id="review-title">{t("emergency.reviewTitle")}</h1>
      <p className="muted">{t("emergency.reviewIntro")}</p>
      <div className="segmented" role="group" aria-label={t("emergency.show")}>
        {(["pending", "all"] as const).map((s) => (
          <button key={s} type="button" aria-pressed={status === s} onClick={() => setStatus(s)}>{t(`emergency.show.${s}` as MessageKey)}</button>
        ))}
      </div>
      {notice && <p className="notice" role="status">{notice}</p>}
      <LoadError error={list.error} onRetry={() => list.refetch()} />
      {list.data && list.data.length === 0 && <p className="muted">{t(status === "pending" ? "emergency.nonePending" : "emergency.none")}</p>}
      <ul className="break-glass-review" aria-label={t("emergency.reviewTitle")}>
        {(list.data ?? []).map((g) => <GrantItem key={g.id} g={g} onDecided={setNotice} />)}
      </ul>
      {user?.role === "admin" && <Officers />}
    </section>
  );
}

/**
 * Officers lets an administrator give members of staff or doctors the
 * privacy officer's capability: they are notified of emergency access and
 * decide on it, as administrators do.
 */
function Officers() {
  const { client } = useSession();
  const queries = useQueryClient();
  const officers = useQuery({ queryKey: officersKey, queryFn: () => privacyOfficers(client) });
  const accounts = useQuery({
    queryKey: ["users", "staff-and-doctors"],
    queryFn: async () => {
      const list = (role: string) =>
        client.request<{ users: User[] }>(...op("GET /api/v1/users", {}, new URLSearchParams({ role, limit: "500" }))).then((r) => r.users);
      return [...(await list("staff")), ...(await list("doctor"))].filter((u) => !u.disabled);
    },
  });
  const [chosen, setChosen] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ids = new Set(officers.data ?? []);
  const names = new Map((accounts.data ?? []).map((u) => [u.id, `${u.name} (${u.email})`]));

  async function change(userID: string, on: boolean) {
    setBusy(true);
    setError(null);
    try {
      await setPrivacyOfficer(client, userID, on);
      setChosen("");
      await queries.invalidateQueries({ queryKey: officersKey });
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="officers-title" className="break-glass-officers">
      <h2 id="officers-title" className="h2">{t("emergency.officers")}</h2>
      <p className="muted">{t("emergency.officersIntro")}</p>
      {error && <p className="error-banner" role="alert">{error}</p>}
      <LoadError error={officers.error ?? accounts.error} onRetry={() => Promise.all([officers.refetch(), accounts.refetch()])} />
      {officers.data && officers.data.length === 0 && <p className="muted">{t("emergency.noOfficers")}</p>}
      <ul className="appointment-list" aria-label={t("emergency.officers")} hidden={!officers.data?.length}>
        {(officers.data ?? []).map((id) => (
          <li key={id} className="appointment">
            <span>{names.get(id) ?? id}</span>
            <button type="button" disabled={busy} onClick={() => void change(id, false)} aria-label={t("emergency.removeOfficer", { name: names.get(id) ?? id })}>
              {t("emergency.remove")}
            </button>
          </li>
        ))}
      </ul>
      <form className="filters" onSubmit={(e) => { e.preventDefault(); if (chosen) void change(chosen, true); }}>
        <Field id="officer-add" label={t("emergency.addOfficer")}>
          <select id="officer-add" value={chosen} onChange={(e) => setChosen(e.target.value)}>
            <option value="">{t("emergency.chooseAccount")}</option>
            {(accounts.data ?? []).filter((u) => !ids.has(u.id)).map((u) => <option key={u.id} value={u.id}>{names.get(u.id)}</option>)}
          </select>
        </Field>
        <button type="submit" disabled={busy || !chosen}>{t("emergency.add")}</button>
      </form>
    </section>
  );
}

function GrantItem({ g, onDecided }: { g: ReviewedGrant; onDecided: (msg: string) => void }) {
  const { client } = useSession();
  const queries = useQueryClient();
  const [decision, setDecision] = useState<"" | "justified" | "not_justified">("");
  const [note, setNote] = useState("");
  const [errors, setErrors] = useState<Partial<Record<"decision" | "note" | "form", string>>>({});
  const [busy, setBusy] = useState(false);
  const who = g.user_name || t("emergency.someone");
  const patient = g.patient_name || t("audit.aPatient");
  const headingID = `grant-${g.id}`;

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    if (!decision) {
      setErrors({ decision: t("emergency.decisionRequired") });
      return;
    }
    if (decision === "not_justified" && !note.trim()) {
      setErrors({ note: t("emergency.noteRequired") });
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      await decide(client, g.id, { decision, note: note.trim() });
      onDecided(t("emergency.decided", { who, decision: t(`emergency.decision.${decision}` as MessageKey) }));
      await queries.invalidateQueries({ queryKey: reviewKey });
    } catch (err) {
      setErrors(errorsFor(err, ["decision", "note"] as const));
    } finally {
      setBusy(false);
    }
  }

  return (
    <li className={g.escalated ? "break-glass-item escalated" : "break-glass-item"} aria-labelledby={headingID}>
      <h2 id={headingID}>
        {t("emergency.itemTitle", { who, patient })}
        {g.escalated && <> <span className="status-badge">{t("emergency.escalated")}</span></>}
      </h2>
      <dl className="facts">
        <dt>{t("emergency.reason")}</dt>
        <dd>{g.reason_label || g.reason}{g.details ? ` — ${g.details}` : ""}</dd>
        <dt>{t("emergency.when")}</dt>
        <dd>{formatDateTime(g.created_at)} – {formatDateTime(g.expires_at)}</dd>
        {g.node_id && (
          <>
            <dt>{t("emergency.where")}</dt>
            <dd>{t("emergency.onNode", { node: g.node_id })}</dd>
          </>
        )}
        <dt>{t("emergency.patient")}</dt>
        <dd>{g.node_id ? patient : <Link to={`/patients/${encodeURIComponent(g.patient_id)}`}>{patient}</Link>}</dd>
      </dl>
      <h3 className="h3">{t("emergency.uses", { n: g.uses.length })}</h3>
      {g.uses.length === 0 ? (
        <p className="muted">{g.node_id ? t("emergency.usesOnNode") : t("emergency.noUses")}</p>
      ) : (
        <ol className="break-glass-uses">
          {g.uses.map((u, i) => (
            <li key={i}>{formatDateTime(u.time)} · {describeUse(u.action, u.resource_type)}</li>
          ))}
        </ol>
      )}
      {g.review_status !== "pending" ? (
        <p className={g.review_status === "justified" ? "notice" : "error-banner"}>
          {t(`emergency.decision.${g.review_status}` as MessageKey)}{g.review_note ? `: ${g.review_note}` : ""}
          {g.reviewed_at ? ` (${formatDateTime(g.reviewed_at)})` : ""}
        </p>
      ) : (
        <form className="break-glass-decision" onSubmit={submit} noValidate aria-label={t("emergency.decisionFor", { who })}>
          {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
          <fieldset className="break-glass-choice" aria-invalid={!!errors.decision} aria-describedby={errors.decision ? `decision-${g.id}-error` : undefined}>
            <legend>{t("emergency.decision")}</legend>
            {(["justified", "not_justified"] as const).map((d) => (
              <label key={d}>
                <input type="radio" name={`decision-${g.id}`} value={d} checked={decision === d} onChange={() => setDecision(d)} /> {t(`emergency.decision.${d}` as MessageKey)}
              </label>
            ))}
            {errors.decision && <p className="field-error" id={`decision-${g.id}-error`} role="alert">{errors.decision}</p>}
          </fieldset>
          <Field id={`note-${g.id}`} label={t("emergency.note")} error={errors.note}>
            <textarea id={`note-${g.id}`} className="break-glass-text" rows={2} maxLength={2000} value={note} aria-invalid={!!errors.note} onChange={(e) => setNote(e.target.value)} />
          </Field>
          <button type="submit" disabled={busy}>{t("emergency.record")}</button>
        </form>
      )}
    </li>
  );
}

/** describeUse says in words what one access under a grant was. */
function describeUse(action: string, resource: string): string {
  const what: Record<string, MessageKey> = { patient: "emergency.what.patient", clinical: "emergency.what.clinical", appointment: "emergency.what.appointment" };
  return t(action === "create" ? "emergency.use.create" : "emergency.use.read", { what: t(what[resource] ?? "emergency.what.record") });
}
