import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useSession } from "../auth/session";
import { errorsFor, TextField } from "../components/Field";
import { LoadError } from "../components/LoadError";
import { t, type MessageKey } from "../i18n";
import { getLimits, saveLimits, type AssistantLimits } from "./api";

const keys = ["messages_per_minute", "daily_tokens", "retention_days"] as const;
type Key = (typeof keys)[number];

/** LimitsForm changes how much each person may use the assistant and how long deleted conversations are kept. */
export function LimitsForm() {
  const { client } = useSession();
  const queries = useQueryClient();
  const limits = useQuery({ queryKey: ["ai", "limits"], queryFn: () => getLimits(client) });
  // What the admin typed; untouched fields show the server's values.
  const [typed, setTyped] = useState<Partial<Record<Key, string>>>({});
  const [errors, setErrors] = useState<Partial<Record<Key | "form", string>>>({});
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const value = (k: Key) => typed[k] ?? (limits.data ? String(limits.data[k]) : "");

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setStatus(null);
    const body: Partial<AssistantLimits> = {};
    const wrong: Partial<Record<Key, string>> = {};
    for (const k of keys) {
      const v = value(k).trim();
      if (!/^\d+$/.test(v)) wrong[k] = t("limits.wholeNumber");
      else body[k] = Number(v);
    }
    if (Object.keys(wrong).length > 0) {
      setErrors(wrong);
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const saved = await saveLimits(client, body);
      queries.setQueryData(["ai", "limits"], saved);
      setTyped({});
      setStatus(t("limits.saved"));
    } catch (err) {
      setErrors(errorsFor(err, keys));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="stack-form" onSubmit={submit} noValidate aria-labelledby="limits-title">
      <div>
        <h2 id="limits-title" className="h2">
          {t("limits.title")}
        </h2>
        <p className="help">{t("limits.intro")}</p>
      </div>
      {status && (
        <p className="notice" role="status">
          {status}
        </p>
      )}
      <LoadError error={limits.error} onRetry={() => limits.refetch()} />
      {errors.form && (
        <p className="error-banner" role="alert">
          {errors.form}
        </p>
      )}
      <div className="limits">
        {keys.map((k) => (
          <div className="with-help" key={k}>
            <TextField
              id={`limit-${k}`}
              label={t(`limits.${k}` as MessageKey)}
              error={errors[k]}
              value={value(k)}
              onValue={(v) => setTyped({ ...typed, [k]: v })}
              inputMode="numeric"
              autoComplete="off"
              disabled={!limits.data}
              aria-describedby={errors[k] ? `limit-${k}-error limit-${k}-help` : `limit-${k}-help`}
            />
            <p className="help" id={`limit-${k}-help`}>
              {t(`limits.${k}Help` as MessageKey)}
            </p>
          </div>
        ))}
      </div>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy || !limits.data}>
          {t("limits.save")}
        </button>
      </div>
    </form>
  );
}
