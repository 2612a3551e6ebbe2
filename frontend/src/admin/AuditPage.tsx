import { op } from "../api/operations";
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import type { AuditEvent, AuditReport as Report } from "../api/types";
import { useSession } from "../auth/session";
import { t, type MessageKey } from "../i18n";
import { doctorName } from "../components/doctors";
import { LoadError } from "../components/LoadError";
import { localDay } from "../portal/api";
import { patientPath } from "../staff/day";
import { formatDateTime } from "../time";

const actions = ["create", "read", "update", "delete", "search", "login", "logout", "export", "verify"];

type Draft = { user_id: string; patient_id: string; action: string; from: string; to: string };

/** auditQuery turns the filters into the API's query: days (this computer's zone) become instants, "to" includes its day. */
export function auditQuery(f: Draft): URLSearchParams {
  const q = new URLSearchParams();
  for (const k of ["user_id", "patient_id", "action"] as const) if (f[k].trim()) q.set(k, f[k].trim());
  if (f.from) q.set("from", localDay(f.from).toISOString());
  if (f.to) {
    const d = localDay(f.to);
    q.set("to", new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1).toISOString());
  }
  return q;
}

// Which sentence object a resource type reads as.
const objects: Record<string, MessageKey> = {
  patient: "audit.object.patient",
  clinical: "audit.object.clinical",
  clinical_entry: "audit.object.clinical",
  patient_history: "audit.object.clinical",
  appointment: "audit.object.appointment",
  audit: "audit.object.audit",
  audit_event: "audit.object.audit",
  user: "audit.object.account",
  account: "audit.object.account",
  session: "audit.object.session",
};

/** actorName is who acted, in words: their name (doctors as Dr), or their role when the account is gone. */
export function actorName(e: AuditEvent): string {
  if (e.actor_id === "anonymous") return t("audit.someone");
  if (!e.actor_name) return e.actor_role ? t("audit.unknownActor", { role: t(`role.${e.actor_role}` as MessageKey) }) : e.actor_id;
  return e.actor_role === "doctor" ? doctorName(e.actor_name) : e.actor_name;
}

/** describeEvent is an event as a sentence: "Dr Lee read the record of Ana Díaz". */
export function describeEvent(e: AuditEvent): string {
  const patient = e.patient_name || (e.patient_id ? t("audit.aPatient") : "");
  const key = objects[e.resource_type];
  const type = e.resource_type.replace(/_/g, " ");
  let object: string;
  if (key) object = t(key, { patient: patient || t("audit.aPatient") });
  else object = patient ? t("audit.object.otherOf", { type, patient }) : t("audit.object.other", { type });
  const known = actions.includes(e.action) || e.action === "list" || e.action === "set_status";
  const succeeded = e.outcome === "success";
  const verb = known ? t(`audit.${succeeded ? "past" : "verb"}.${e.action}` as MessageKey) : e.action;
  return t(succeeded ? "audit.did" : "audit.tried", { actor: actorName(e), verb, object }).trim();
}

/** AuditPage: the audit log in words, with filters, full ids on demand, export, and the chain check. */
export function AuditPage() {
  const { client } = useSession();
  const [draft, setDraft] = useState<Draft>({ user_id: "", patient_id: "", action: "", from: "", to: "" });
  const [filter, setFilter] = useState(draft);
  const [details, setDetails] = useState(false);
  const [report, setReport] = useState<Report | null>(null);
  const [verifying, setVerifying] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const events = useInfiniteQuery({
    queryKey: ["audit", filter],
    initialPageParam: 0,
    queryFn: ({ pageParam }) => {
      const q = auditQuery(filter);
      q.set("limit", "100");
      if (pageParam) q.set("before", String(pageParam));
      return client.request<{ events: AuditEvent[]; next_before: number }>(...op("GET /api/v1/audit/events", {}, q));
    },
    getNextPageParam: (last) => (last.next_before > 0 ? last.next_before : undefined),
  });

  async function verify() {
    setVerifying(true);
    setError(null);
    try {
      setReport(await client.request<Report>(...op("GET /api/v1/audit/verify")));
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    } finally {
      setVerifying(false);
    }
  }

  async function exportView() {
    setError(null);
    try {
      const res = await client.open(...op("GET /api/v1/audit/export", {}, auditQuery(filter)), undefined, "application/fhir+ndjson");
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = "audit-events.ndjson";
      a.click();
      URL.revokeObjectURL(url);
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    }
  }

  function apply(ev: FormEvent) {
    ev.preventDefault();
    if (draft.from && draft.to && draft.to < draft.from) {
      setError(t("audit.badRange"));
      return;
    }
    setError(null);
    setFilter(draft);
  }

  const rows = events.data?.pages.flatMap((p) => p.events) ?? [];
  const set = (k: keyof Draft) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  return (
    <section className="card" aria-labelledby="audit-title">
      <div className="chat-head">
        <h1 id="audit-title">{t("audit.title")}</h1>
        <div className="home-actions">
          <button type="button" onClick={() => void exportView()} aria-describedby="audit-export-help">{t("audit.export")}</button>
          <button type="button" className="primary" onClick={() => void verify()} disabled={verifying}>
            {verifying ? t("audit.verifying") : t("audit.verify")}
          </button>
        </div>
      </div>
      <p id="audit-export-help" className="muted">{t("audit.exportHelp")}</p>
      {report && (
        <p className={report.ok ? "notice" : "error-banner"} role="status">
          {report.ok ? t("audit.ok", { events: report.events, seq: report.head_seq }) : t("audit.broken", { seq: report.broken_at ?? 0, problem: report.problem ?? "" })}
        </p>
      )}
      {error && <p className="error-banner" role="alert">{error}</p>}
      <form className="filters" onSubmit={apply}>
        <label>
          {t("audit.filterUser")}
          <input value={draft.user_id} onChange={set("user_id")} />
        </label>
        <label>
          {t("audit.filterPatient")}
          <input value={draft.patient_id} onChange={set("patient_id")} />
        </label>
        <label>
          {t("audit.filterAction")}
          <select value={draft.action} onChange={set("action")}>
            <option value="">{t("audit.any")}</option>
            {actions.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
        </label>
        <label>
          {t("audit.from")}
          <input type="date" value={draft.from} onChange={set("from")} />
        </label>
        <label>
          {t("audit.to")}
          <input type="date" value={draft.to} onChange={set("to")} />
        </label>
        <button type="submit">{t("audit.apply")}</button>
        <label className="check">
          <input type="checkbox" checked={details} onChange={(e) => setDetails(e.target.checked)} />
          {t("audit.details")}
        </label>
      </form>
      <LoadError error={events.error} onRetry={() => events.refetch()} />
      {events.data && rows.length === 0 && <p className="muted">{t("audit.none")}</p>}
      <div className="table-scroll">
        <table className="audit">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">{t("audit.time")}</th>
              <th scope="col">{t("audit.actor")}</th>
              <th scope="col">{t("audit.what")}</th>
              <th scope="col">{t("audit.patient")}</th>
              <th scope="col">{t("audit.outcome")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.seq} className={e.outcome === "success" ? undefined : "audit-refused"}>
                <td>{e.seq}</td>
                <td>{formatDateTime(e.time)}</td>
                <td>
                  {actorName(e)}
                  {e.actor_role && <div className="muted">{t(`role.${e.actor_role}` as MessageKey)}</div>}
                  {details && <code className="audit-id">{e.actor_id}</code>}
                </td>
                <td>
                  {describeEvent(e)}
                  {details && (
                    <div className="muted">
                      {e.action} {e.resource_type} <code className="audit-id">{e.resource_id}</code>
                      {e.detail && <> · {e.detail}</>}
                      {e.request_id && <> · <code className="audit-id">{e.request_id}</code></>}
                    </div>
                  )}
                </td>
                <td>
                  {e.patient_id && <Link to={patientPath(e.patient_id)}>{e.patient_name || t("audit.aPatient")}</Link>}
                  {details && e.patient_id && <code className="audit-id">{e.patient_id}</code>}
                </td>
                <td>{e.outcome}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {events.hasNextPage && (
        <button type="button" onClick={() => void events.fetchNextPage()} disabled={events.isFetchingNextPage}>
          {t("audit.more")}
        </button>
      )}
    </section>
  );
}
