import { useState, type FormEvent } from "react";
import type { DesktopBinding, DesktopConnection, Identity } from "../desktop";
import { Field } from "../components/Field";
import { t, type MessageKey } from "../i18n";

type Mode = "standalone" | "clinic" | "hosted";
const modes: Mode[] = ["standalone", "clinic", "hosted"];

/**
 * ConnectPage is the desktop app's first screen and its connection
 * settings: where the clinic's data lives, and why a connection failed
 * with what to do about it.
 */
export function ConnectPage({ desktop, initial, onReady, onCancel }: { desktop: DesktopBinding; initial: DesktopConnection; onReady: (c: DesktopConnection) => void; onCancel?: () => void }) {
  const [conn, setConn] = useState(initial);
  const [choosing, setChoosing] = useState(initial.state !== "problem");
  const [mode, setMode] = useState<Mode>(initial.mode ?? "standalone");
  const [server, setServer] = useState(initial.server && initial.mode !== "standalone" ? initial.server : "");
  const [identity, setIdentity] = useState<Identity | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function act(fn: () => Promise<DesktopConnection | void>) {
    setBusy(true);
    setError(null);
    try {
      const c = await fn();
      if (!c) return;
      if (c.state === "ready") onReady(c);
      else {
        setConn(c);
        setChoosing(false);
      }
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  function submit(ev: FormEvent) {
    ev.preventDefault();
    if (mode === "clinic" && !identity) {
      void act(async () => {
        setIdentity(await desktop.Probe(mode, server));
      });
      return;
    }
    void act(() => desktop.Choose(mode, server, identity?.fingerprint ?? ""));
  }

  const problem = conn.state === "problem" ? conn.problem : undefined;
  return (
    <main id="main" className="login">
      <section className="card connect" aria-labelledby="connect-title">
        <h1 id="connect-title">{problem && !choosing ? t(`connect.problem.${problem.kind}` as MessageKey) : t("connect.title")}</h1>
        {problem && !choosing && (
          <div className="stack">
            <p role="alert">{problem.message}</p>
            <p>{problem.advice}</p>
            {problem.server && <p className="muted">{t("connect.server", { server: problem.server })}</p>}
            <div className="actions">
              <button type="button" className="primary" disabled={busy} onClick={() => void act(() => desktop.Retry())}>{t("error.retry")}</button>
              {problem.kind !== "data_folder" && (
                <button type="button" disabled={busy} onClick={() => void act(() => desktop.WorkOffline())}>{t("connect.offline")}</button>
              )}
              <button type="button" disabled={busy} onClick={() => { setChoosing(true); setIdentity(null); }}>{t("connect.change")}</button>
            </div>
            {error && <p className="error-banner" role="alert">{error}</p>}
          </div>
        )}
        {choosing && (
          <form className="stack" onSubmit={submit} noValidate>
            <p className="muted">{t("connect.intro")}</p>
            <fieldset className="slots">
              <legend>{t("connect.where")}</legend>
              {modes.map((m) => (
                <label key={m} className="mode-choice">
                  <input type="radio" name="mode" value={m} checked={mode === m} onChange={() => { setMode(m); setIdentity(null); setError(null); }} />
                  <span>
                    <strong>{t(`connect.mode.${m}` as MessageKey)}</strong>
                    <span className="muted"> — {t(`connect.mode.${m}.help` as MessageKey)}</span>
                  </span>
                </label>
              ))}
            </fieldset>
            {mode !== "standalone" && (
              <Field id="server-url" label={t("connect.address")} error={error ?? undefined}>
                <input id="server-url" value={server} placeholder={mode === "clinic" ? "https://healthhub.clinic.lan:8443" : "https://clinic.example.org"}
                  onChange={(e) => { setServer(e.target.value); setIdentity(null); }} aria-invalid={!!error} aria-describedby={error ? "server-url-error" : undefined} autoComplete="url" />
              </Field>
            )}
            {identity && (
              <div className="notice fingerprint" role="status">
                <p>{identity.public ? t("connect.publicCert") : t("connect.compare")}</p>
                <p className="muted">{t("connect.subject", { subject: identity.subject })}</p>
                <code>{identity.fingerprint}</code>
              </div>
            )}
            {mode === "standalone" && error && <p className="error-banner" role="alert">{error}</p>}
            <div className="actions">
              <button type="submit" className="primary" disabled={busy || (mode !== "standalone" && !server.trim())}>
                {mode === "clinic" && !identity ? t("connect.check") : mode === "clinic" ? t("connect.matches") : t("connect.submit")}
              </button>
              {problem && <button type="button" onClick={() => setChoosing(false)}>{t("connect.back")}</button>}
              {!problem && onCancel && <button type="button" onClick={onCancel}>{t("connect.back")}</button>}
            </div>
          </form>
        )}
      </section>
    </main>
  );
}
