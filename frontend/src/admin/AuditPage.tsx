import { op } from "../api/operations";
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import type { AuditEvent, AuditReport as Report } from "../api/types";
import { useSession } from "../auth/session";
import { t } from "../i18n";
import { LoadError } from "../components/LoadError";

const actions = ["create", "read", "update", "delete", "search", "login", "logout", "export", "verify"];

/** AuditPage: the audit log with filters, and the chain check. */
export function AuditPage() {
  const { client } = useSession();
  const [draft, setDraft] = useState({ user_id: "", patient_id: "", action: "" });
  const [filter, setFilter] = useState(draft);
  const [report, setReport] = useState<Report | null>(null);
  const [verifying, setVerifying] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const events = useInfiniteQuery({
    queryKey: ["audit", filter],
    initialPageParam: 0,
    queryFn: ({ pageParam }) => {
      const q = new URLSearchParams({ limit: "100" });
      for (const [k, v] of Object.entries(filter)) if (v.trim()) q.set(k, v.trim());
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

  function apply(ev: FormEvent) {
    ev.preventDefault();
    setFilter(draft);
  }

  const rows = events.data?.pages.flatMap((p) => p.events) ?? [];
  return (
    <section className="card" aria-labelledby="audit-title">
      <div className="chat-head">
        <h1 id="audit-title">{t("audit.title")}</h1>
        <button type="button" className="primary" onClick={() => void verify()} disabled={verifying}>
          {verifying ? t("audit.verifying") : t("audit.verify")}
        </button>
      </div>
      {report && (
        <p className={report.ok ? "notice" : "error-banner"} role="status">
          {report.ok ? t("audit.ok", { events: report.events, seq: report.head_seq }) : t("audit.broken", { seq: report.broken_at ?? 0, problem: report.problem ?? "" })}
        </p>
      )}
      {error && <p className="error-banner" role="alert">{error}</p>}
      <form className="filters" onSubmit={apply}>
        <label>
          {t("audit.filterUser")}
          <input value={draft.user_id} onChange={(e) => setDraft({ ...draft, user_id: e.target.value })} />
        </label>
        <label>
          {t("audit.filterPatient")}
          <input value={draft.patient_id} onChange={(e) => setDraft({ ...draft, patient_id: e.target.value })} />
        </label>
        <label>
          {t("audit.filterAction")}
          <select value={draft.action} onChange={(e) => setDraft({ ...draft, action: e.target.value })}>
            <option value="">{t("audit.any")}</option>
            {actions.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
        </label>
        <button type="submit">{t("audit.apply")}</button>
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
              <th scope="col">{t("audit.action")}</th>
              <th scope="col">{t("audit.resource")}</th>
              <th scope="col">{t("audit.outcome")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((e) => (
              <tr key={e.seq}>
                <td>{e.seq}</td>
                <td>{new Date(e.time).toLocaleString()}</td>
                <td>{e.actor_role} <code>{e.actor_id.slice(0, 8)}</code></td>
                <td>{e.action}</td>
                <td>{e.resource_type} <code>{e.resource_id.slice(0, 8)}</code></td>
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
