import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { Link } from "react-router-dom";
import { op } from "../api/operations";
import type * as S from "../api/schema";
import type { AuditReport } from "../api/types";
import { useSession } from "../auth/session";
import { LoadError } from "../components/LoadError";
import { t, type MessageKey } from "../i18n";
import { SyncCard } from "../sync/SyncCard";
import { formatDateTime } from "../time";

type Health = S.InstallationHealth;

/** AdminHome: the installation's health, each line with where to fix it. */
export function AdminHome({ name }: { name: string }) {
  const { client } = useSession();
  const queries = useQueryClient();
  const health = useQuery({ queryKey: ["admin", "health"], queryFn: () => client.request<Health>(...op("GET /api/v1/admin/health")) });
  const [verifying, setVerifying] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function verify() {
    setVerifying(true);
    setError(null);
    try {
      await client.request<AuditReport>(...op("GET /api/v1/audit/verify"));
      await queries.invalidateQueries({ queryKey: ["admin", "health"] });
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    } finally {
      setVerifying(false);
    }
  }

  const h = health.data;
  return (
    <div className="stack-wide">
      <section className="card" aria-labelledby="home-title">
        <h1 id="home-title">{t("home.title", { name })}</h1>
        <h2 id="health-title" className="h2">{t("health.title")}</h2>
        <LoadError error={health.error} onRetry={() => health.refetch()} />
        {error && <p className="error-banner" role="alert">{error}</p>}
        {h && (
          <ul className="health-list" aria-labelledby="health-title">
            <Line title="health.assistant" ok={true} fix={<Link to="/admin/assistant">{t("health.fixAssistant")}</Link>}>
              {h.assistant.offline ? t("health.assistantOffline") : t("health.assistantProvider", { name: h.assistant.provider_name ?? "", kind: h.assistant.kind ?? "" })}
              {!h.assistant.offline && h.assistant.external && <> {t("health.assistantExternal")}</>}
            </Line>
            <Line title="health.email" ok={h.email.configured}>
              {h.email.configured ? t("health.emailOn") : t("health.emailOff")}
            </Line>
            <Line title="health.knowledge" ok={h.knowledge.sources > 0 && h.knowledge.problems.length === 0} fix={<Link to="/admin/knowledge">{t("health.fixKnowledge")}</Link>}>
              {h.knowledge.sources === 0
                ? t("health.knowledgeNone")
                : h.knowledge.problems.length === 0
                  ? t("health.knowledgeOk", { sources: h.knowledge.sources, indexed: h.knowledge.indexed })
                  : t("health.knowledgeFailed", { failed: h.knowledge.failed_files })}
              {h.knowledge.problems.length > 0 && (
                <ul className="failures">
                  {h.knowledge.problems.map((p) => (
                    <li key={p.id}>
                      {p.last_error ? t("health.sourceError", { location: p.location, error: p.last_error }) : t("health.sourceProblem", { location: p.location, failed: p.failed_files })}
                    </li>
                  ))}
                </ul>
              )}
            </Line>
            <Line
              title="health.audit"
              ok={h.audit.verified && h.audit.ok}
              fix={
                <>
                  <button type="button" onClick={() => void verify()} disabled={verifying}>{verifying ? t("health.verifying") : t("health.verifyNow")}</button>{" "}
                  <Link to="/admin/audit">{t("health.openAudit")}</Link>
                </>
              }
            >
              {!h.audit.verified
                ? t("health.auditNever")
                : h.audit.ok
                  ? t("health.auditOk", { time: formatDateTime(h.audit.verified_at ?? ""), by: h.audit.by ?? "" })
                  : t("health.auditBroken", { time: formatDateTime(h.audit.verified_at ?? ""), by: h.audit.by ?? "", detail: h.audit.detail ?? "" })}
            </Line>
            <Line
              title="health.accounts"
              ok={h.accounts.doctors_without_profile.length === 0 && h.accounts.doctors_without_hours.length === 0}
              fix={<Link to="/admin/users">{t("health.fixUsers")}</Link>}
            >
              {Object.entries(h.accounts.by_role)
                .map(([role, n]) => t("health.roleCount", { role: t(`role.${role}` as MessageKey), n }))
                .join(" · ")}
              {h.accounts.doctors_without_profile.length > 0 && <div>{t("health.noProfile", { names: h.accounts.doctors_without_profile.map((p) => p.name).join(", ") })}</div>}
              {h.accounts.doctors_without_hours.length > 0 && <div>{t("health.noHours", { names: h.accounts.doctors_without_hours.map((p) => p.name).join(", ") })}</div>}
            </Line>
            <BackupLine backup={h.backup} />
          </ul>
        )}
      </section>
      <SyncCard />
    </div>
  );
}

/** BackupLine: how the installation is backed up, how recently, and the last restore drill. */
function BackupLine({ backup: b }: { backup: Health["backup"] }) {
  const configured = b.methods.length > 0;
  const drill = b.last_drill;
  return (
    <Line title="health.backup" ok={configured && !b.alarm && (drill?.passed ?? false)}>
      {b.problem && <div role={b.alarm ? "alert" : undefined}>{b.problem}</div>}
      {configured && <div>{t("health.backupMethods", { methods: b.methods.map((m) => t(`health.backupMethod.${m}` as MessageKey)).join(", ") })}</div>}
      {b.last_replicated && <div>{t("health.backupReplicated", { time: formatDateTime(b.last_replicated), lag: seconds(b.lag_seconds) })}</div>}
      {b.last_backup && <div>{t("health.backupLast", { time: formatDateTime(b.last_backup) })}</div>}
      <div>
        {!drill
          ? t("health.backupDrillNever")
          : drill.passed
            ? t("health.backupDrillPassed", { time: formatDateTime(drill.at), rpo: seconds(drill.rpo_seconds), rto: seconds(drill.rto_seconds) })
            : t("health.backupDrillFailed", { time: formatDateTime(drill.at), failures: (drill.failures ?? []).join("; ") })}
      </div>
    </Line>
  );
}

/** seconds as "0.4 s", "42 s", "7 min" or "3 h". */
function seconds(s: number): string {
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** Line is one finding: what it is about, whether it is fine, what it says, and where to fix it. */
function Line({ title, ok, fix, children }: { title: MessageKey; ok: boolean; fix?: ReactNode; children: ReactNode }) {
  return (
    <li className={ok ? "health ok" : "health attention"}>
      <h3 className="h3">
        {t(title)} <span className="health-state">{ok ? t("health.ok") : t("health.attention")}</span>
      </h3>
      <div>{children}</div>
      {fix && <div className="health-fix">{fix}</div>}
    </li>
  );
}
