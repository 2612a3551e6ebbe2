import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { Dialog } from "../admin/Dialog";
import { useSession } from "../auth/session";
import { errorsFor, TextField } from "../components/Field";
import { LoadError } from "../components/LoadError";
import { t, type MessageKey } from "../i18n";
import { formatDateTime } from "../time";
import {
  enrol,
  isSet,
  listNodes,
  makeEnrollment,
  nodesKey,
  revokeNode,
  runSync,
  shownState,
  statusKey,
  useSyncStatus,
  type Enrollment,
  type SyncNode,
  type SyncStatus,
} from "./api";
import { LentTime } from "./LentTime";
import { conflictsPath } from "./SyncIndicator";

const when = (iso: string) => (isSet(iso) ? formatDateTime(iso) : t("sync.never"));

/**
 * SyncCard is the admin's view of sync: this installation's own sync with
 * an upstream (a form to connect to one, or how it goes and "Sync now",
 * and the time the upstream lends it), and the installations that sync
 * with this server as theirs.
 */
export function SyncCard() {
  const status = useSyncStatus();
  return (
    <section className="card sync-card" aria-labelledby="sync-title">
      <h2 id="sync-title" className="h2">{t("sync.cardTitle")}</h2>
      <LoadError error={status.error} onRetry={() => status.refetch()} />
      {status.data &&
        (status.data.enrolled ? (
          <>
            <ThisInstallation st={status.data} />
            <LentTime />
          </>
        ) : (
          <ConnectForm />
        ))}
      <Nodes />
    </section>
  );
}

type ConnectKey = "upstream" | "code" | "fingerprint" | "name";

/** ConnectForm enrols this installation with an upstream using the one-time code its admin made. */
function ConnectForm() {
  const { client } = useSession();
  const queries = useQueryClient();
  const [form, setForm] = useState<Record<ConnectKey, string>>({ upstream: "", code: "", fingerprint: "", name: "" });
  const [errors, setErrors] = useState<Partial<Record<ConnectKey | "form", string>>>({});
  const [busy, setBusy] = useState(false);

  async function connect(ev: FormEvent) {
    ev.preventDefault();
    const e: Partial<Record<ConnectKey, string>> = {};
    if (!form.upstream.trim()) e.upstream = t("sync.upstreamRequired");
    if (!form.code.trim()) e.code = t("sync.codeRequired");
    setErrors(e);
    if (Object.keys(e).length > 0) return;
    setBusy(true);
    try {
      const st = await enrol(client, { upstream: form.upstream.trim(), code: form.code.trim(), fingerprint: form.fingerprint.trim(), name: form.name.trim() });
      queries.setQueryData(statusKey, st);
    } catch (err) {
      setErrors(errorsFor(err, ["upstream", "code", "fingerprint", "name"] as const));
    } finally {
      setBusy(false);
    }
  }

  const input = (k: ConnectKey, label: string, help?: string, props: { type?: string; autoComplete?: string; spellCheck?: boolean } = {}) => (
    <div className="with-help">
      <TextField id={`sync-${k}`} label={label} error={errors[k]} value={form[k]} onValue={(v) => setForm({ ...form, [k]: v })}
        aria-describedby={[help ? `sync-${k}-help` : "", errors[k] ? `sync-${k}-error` : ""].filter(Boolean).join(" ") || undefined} {...props} />
      {help && <p id={`sync-${k}-help`} className="help">{help}</p>}
    </div>
  );

  return (
    <form className="stack" onSubmit={connect} noValidate aria-labelledby="sync-connect-title">
      <h3 id="sync-connect-title" className="h3">{t("sync.connectTitle")}</h3>
      <p className="muted">{t("sync.connectIntro")}</p>
      {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
      {input("upstream", t("sync.upstream"), t("sync.upstreamHelp"), { type: "url", autoComplete: "off", spellCheck: false })}
      {input("code", t("sync.code"), undefined, { autoComplete: "off", spellCheck: false })}
      {input("fingerprint", t("sync.fingerprint"), t("sync.fingerprintHelp"), { autoComplete: "off", spellCheck: false })}
      {input("name", t("sync.name"), t("sync.nameHelp"), { autoComplete: "off" })}
      <button type="submit" className="primary" disabled={busy}>{busy ? t("sync.connecting") : t("sync.connect")}</button>
    </form>
  );
}

/** ThisInstallation tells how this installation's sync goes, with a button to sync now. */
function ThisInstallation({ st }: { st: SyncStatus }) {
  const { client } = useSession();
  const queries = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const state = shownState(st);

  async function run() {
    setBusy(true);
    setNotice(null);
    setError(null);
    try {
      const next = await runSync(client);
      queries.setQueryData(statusKey, next);
      await queries.invalidateQueries({ queryKey: ["sync", "conflicts"] });
      setNotice(t("sync.ran", { state: t(`sync.state.${shownState(next)}` as MessageKey) }));
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className={`sync-this ${state}`} role="group" aria-labelledby="sync-this-title">
      <h3 id="sync-this-title" className="h3">{t("sync.thisTitle")}</h3>
      <dl className="facts">
        <dt>{t("sync.state")}</dt>
        <dd>
          <strong className="sync-state-word">{t(`sync.state.${state}` as MessageKey)}</strong> {t(`sync.explain.${state}` as MessageKey)}
        </dd>
        <dt>{t("sync.upstreamIs")}</dt>
        <dd>{st.upstream}</dd>
        <dt>{t("sync.nodeID")}</dt>
        <dd>{st.node_id}</dd>
        <dt>{t("sync.lastSuccess")}</dt>
        <dd>{when(st.last_success)}</dd>
        {st.last_error && (
          <>
            <dt>{t("sync.lastError")}</dt>
            <dd>{st.last_error}</dd>
          </>
        )}
        <dt>{t("sync.queue")}</dt>
        <dd>{st.queued > 0 && isSet(st.oldest_queued) ? t("sync.queueOldest", { n: st.queued, time: formatDateTime(st.oldest_queued) }) : st.queued}</dd>
        <dt>{t("sync.openConflicts")}</dt>
        <dd>
          {st.open_conflicts}
          {st.open_conflicts > 0 && <> · <Link to={conflictsPath}>{t("sync.openConflictsLink")}</Link></>}
        </dd>
        <dt>{t("sync.audit")}</dt>
        <dd>{t("sync.auditOf", { shipped: st.audit_shipped, local: st.audit_local })}</dd>
      </dl>
      {notice && <p className="notice" role="status">{notice}</p>}
      {error && <p className="error-banner" role="alert">{error}</p>}
      <div className="form-actions">
        <button type="button" onClick={() => void run()} disabled={busy}>{busy ? t("sync.running") : t("sync.runNow")}</button>
      </div>
    </div>
  );
}

/**
 * Nodes lists the installations enrolled with this server as their
 * upstream, makes one-time enrolment codes and revokes installations.
 */
function Nodes() {
  const { client } = useSession();
  const queries = useQueryClient();
  const nodes = useQuery({ queryKey: nodesKey, queryFn: () => listNodes(client), refetchInterval: 30_000 });
  const [name, setName] = useState("");
  const [made, setMade] = useState<Enrollment | null>(null);
  const [errors, setErrors] = useState<Partial<Record<"name" | "form", string>>>({});
  const [busy, setBusy] = useState(false);
  const [revoking, setRevoking] = useState<SyncNode | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const label = (n: { name: string }) => n.name || t("sync.unnamed");

  async function make(ev: FormEvent) {
    ev.preventDefault();
    setBusy(true);
    setErrors({});
    setMade(null);
    setNotice(null);
    try {
      setMade(await makeEnrollment(client, name.trim()));
      setName("");
    } catch (err) {
      setErrors(errorsFor(err, ["name"] as const));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div role="group" aria-labelledby="sync-nodes-title">
      <h3 id="sync-nodes-title" className="h3">{t("sync.nodesTitle")}</h3>
      <p className="muted">{t("sync.nodesIntro")}</p>
      <LoadError error={nodes.error} onRetry={() => nodes.refetch()} />
      {notice && <p className="notice" role="status">{notice}</p>}
      {nodes.data && nodes.data.length === 0 && <p className="muted">{t("sync.noNodes")}</p>}
      <ul className="appointment-list" aria-labelledby="sync-nodes-title">
        {(nodes.data ?? []).map((n) => {
          const revoked = isSet(n.revoked_at);
          return (
            <li key={n.id} className={revoked ? "appointment sync-node revoked" : "appointment sync-node"}>
              <div>
                <strong>{label(n)}</strong> <span className="muted">{n.id}</span>
                <div className="muted">
                  {[
                    t("sync.nodeEnrolled", { time: when(n.enrolled_at) }),
                    t("sync.nodeLastSeen", { time: when(n.last_seen_at) }),
                    t("sync.nodeAudit", { n: n.audit_size }),
                  ].join(" · ")}
                </div>
                <div>{revoked ? <span className="tag warn">{t("sync.nodeRevoked", { time: when(n.revoked_at) })}</span> : <span className="tag strong">{t("sync.nodeActive")}</span>}</div>
              </div>
              {!revoked && (
                <div className="actions">
                  <button type="button" className="danger" onClick={() => setRevoking(n)} aria-label={t("sync.revokeNamed", { name: label(n) })}>
                    {t("sync.revoke")}
                  </button>
                </div>
              )}
            </li>
          );
        })}
      </ul>
      <form className="stack" onSubmit={make} noValidate aria-labelledby="sync-code-title">
        <h4 id="sync-code-title" className="h3">{t("sync.makeCodeTitle")}</h4>
        {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
        <div className="with-help">
          <TextField id="sync-code-name" label={t("sync.codeName")} error={errors.name} value={name} onValue={setName} autoComplete="off"
            aria-describedby={errors.name ? "sync-code-name-error sync-code-name-help" : "sync-code-name-help"} />
          <p id="sync-code-name-help" className="help">{t("sync.codeNameHelp")}</p>
        </div>
        <button type="submit" className="primary" disabled={busy}>{t("sync.makeCode")}</button>
        {made && (
          <div className="notice enrol-code" role="status">
            <p>{t("sync.codeShown", { name: made.enrollment?.name || t("sync.unnamed") })}</p>
            <code>{made.code}</code>
            <p>{t("sync.codeOnce", { time: made.enrollment ? formatDateTime(made.enrollment.expires_at) : "" })}</p>
          </div>
        )}
      </form>
      {revoking && (
        <RevokeDialog
          node={revoking}
          name={label(revoking)}
          onClose={() => setRevoking(null)}
          onDone={() => {
            setNotice(t("sync.revoked", { name: label(revoking) }));
            setRevoking(null);
            void queries.invalidateQueries({ queryKey: nodesKey });
          }}
        />
      )}
    </div>
  );
}

/** RevokeDialog asks before revoking an installation: it cannot sync again without a new code. */
function RevokeDialog({ node, name, onClose, onDone }: { node: SyncNode; name: string; onClose: () => void; onDone: () => void }) {
  const { client } = useSession();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function revoke(ev: FormEvent) {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await revokeNode(client, node.id);
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("sync.revokeTitle", { name })} onClose={onClose}>
      <form className="stack-form" onSubmit={revoke}>
        <p>{t("sync.revokeBody", { name })}</p>
        {error && <p className="error-banner" role="alert">{error}</p>}
        <div className="form-actions">
          <button type="button" onClick={onClose}>{t("sync.keep")}</button>
          <button type="submit" className="danger solid" disabled={busy}>{t("sync.revokeConfirm")}</button>
        </div>
      </form>
    </Dialog>
  );
}
