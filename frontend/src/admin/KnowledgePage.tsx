import { op } from "../api/operations";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import type { Client } from "../api/client";
import type { KnowledgeFile, SourceStatus } from "../api/types";
import { useSession } from "../auth/session";
import { errorsFor, Field } from "../components/Field";
import { t } from "../i18n";
import { LoadError } from "../components/LoadError";
import { desktop, localServer } from "../desktop";

const listSources = (c: Client) => c.request<{ sources: SourceStatus[] }>(...op("GET /api/v1/knowledge/sources")).then((r) => r.sources);

/** KnowledgePage: the admin adds folders and watches them index, live. */
export function KnowledgePage() {
  const { client } = useSession();
  const queries = useQueryClient();
  // Ingestion progress arrives as live events (useLiveUpdates invalidates
  // "knowledge"); while a scan runs, poll as well in case events are missed.
  const sources = useQuery({
    queryKey: ["knowledge", "sources"],
    queryFn: () => listSources(client),
    refetchInterval: (q) => (q.state.data?.some((s) => s.scanning) ? 2000 : false),
  });
  const [path, setPath] = useState("");
  const [visibility, setVisibility] = useState<"staff" | "everyone">("staff");
  const [errors, setErrors] = useState<Partial<Record<"path" | "form", string>>>({});
  const [busy, setBusy] = useState(false);

  async function pickFolder() {
    const chosen = await desktop()?.PickFolder(t("knowledge.chooseTitle")).catch(() => "");
    if (chosen) setPath(chosen);
  }

  async function add(ev: FormEvent) {
    ev.preventDefault();
    if (!path.trim()) {
      setErrors({ path: t("knowledge.pathRequired") });
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      await client.request(...op("POST /api/v1/knowledge/sources"), { kind: "folder", path: path.trim(), visibility });
      setPath("");
      await queries.invalidateQueries({ queryKey: ["knowledge"] });
    } catch (err) {
      setErrors(errorsFor(err, ["path"] as const));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="stack-wide">
      <section className="card" aria-labelledby="knowledge-title">
        <h1 id="knowledge-title">{t("knowledge.title")}</h1>
        <p className="muted">{t("knowledge.intro")}</p>
        <LoadError error={sources.error} onRetry={() => sources.refetch()} />
        {sources.data?.length === 0 && <p className="muted">{t("knowledge.none")}</p>}
        <ul className="appointment-list" aria-label={t("knowledge.title")}>
          {sources.data?.map((s) => <SourceRow key={s.id} s={s} />)}
        </ul>
      </section>
      <section className="card" aria-labelledby="knowledge-add">
        <h2 id="knowledge-add" className="h2">{t("knowledge.add")}</h2>
        <form className="stack" onSubmit={add} noValidate>
          {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
          <Field id="path" label={t("knowledge.path")} error={errors.path}>
            <div className="path-row">
              <input id="path" value={path} onChange={(e) => setPath(e.target.value)} aria-invalid={!!errors.path}
                aria-describedby={errors.path ? "path-error path-help" : "path-help"} />
              {localServer() && (
                <button type="button" onClick={() => void pickFolder()}>{t("knowledge.choose")}</button>
              )}
            </div>
          </Field>
          <p id="path-help" className="muted">{t("knowledge.pathHelp")}</p>
          <Field id="visibility" label={t("knowledge.visibility")}>
            <select id="visibility" value={visibility} onChange={(e) => setVisibility(e.target.value as "staff" | "everyone")}>
              <option value="staff">{t("knowledge.staff")}</option>
              <option value="everyone">{t("knowledge.everyone")}</option>
            </select>
          </Field>
          <button type="submit" className="primary" disabled={busy}>{t("knowledge.submit")}</button>
        </form>
      </section>
    </div>
  );
}

function SourceRow({ s }: { s: SourceStatus }) {
  const { client } = useSession();
  const [open, setOpen] = useState(false);
  const failures = useQuery({
    queryKey: ["knowledge", "failures", s.id, s.failed],
    enabled: open && s.failed > 0,
    queryFn: () => client.request<{ files: KnowledgeFile[] }>(...op("GET /api/v1/knowledge/sources/{id}/failures", { id: s.id })).then((r) => r.files),
  });
  const sync = () => void client.request(...op("POST /api/v1/knowledge/sources/{id}/sync", { id: s.id }));
  return (
    <li className="appointment source" data-source={s.location}>
      <div>
        <strong>{s.location}</strong> <span className="muted">({s.visibility === "everyone" ? t("knowledge.everyone") : t("knowledge.staff")})</span>
        <div className="counts" aria-live="polite">
          <span>{t("knowledge.indexed", { n: s.indexed })}</span>
          {s.failed > 0 && <span className="field-error">{t("knowledge.failed", { n: s.failed })}</span>}
          {s.scanning && <span>{t("knowledge.scanning")} {t("knowledge.pending", { n: s.pending })}</span>}
          {s.last_scan_at && <span className="muted">{t("knowledge.lastScan", { time: new Date(s.last_scan_at).toLocaleString() })}</span>}
        </div>
        {s.last_error && <p className="field-error">{s.last_error}</p>}
        {s.failed > 0 && (
          <button type="button" className="link" onClick={() => setOpen(!open)} aria-expanded={open}>
            {t("knowledge.showFailures")}
          </button>
        )}
        {open && (
          <ul className="failures">
            {failures.data?.map((f) => (
              <li key={f.path}>
                <code>{f.path}</code>: {f.error || f.reason}
              </li>
            ))}
          </ul>
        )}
      </div>
      <button type="button" onClick={sync} disabled={s.scanning}>{t("knowledge.sync")}</button>
    </li>
  );
}
