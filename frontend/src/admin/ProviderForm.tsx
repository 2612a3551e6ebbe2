import { useState, type FormEvent, type Ref } from "react";
import type { Role } from "../api/types";
import { useSession } from "../auth/session";
import { errorsFor, Field, TextField } from "../components/Field";
import { t, type MessageKey } from "../i18n";
import { providerKinds, saveProvider, type LLMProvider, type ProviderInput, type ProviderKind } from "./api";

export const roles: Role[] = ["patient", "doctor", "staff", "admin"];

interface ModelDraft {
  name: string;
  contextTokens: string;
  roles: Role[];
}

/** Draft is the provider form as typed; the API key is never filled in from the server. */
export interface Draft {
  name: string;
  kind: ProviderKind;
  baseURL: string;
  region: string;
  apiKey: string;
  clearAPIKey: boolean;
  enabled: boolean;
  isDefault: boolean;
  external: boolean;
  models: ModelDraft[];
}

const fields = ["name", "kind", "base_url", "region", "api_key", "models"] as const;
type FieldKey = (typeof fields)[number];

const blankModel = (): ModelDraft => ({ name: "", contextTokens: "", roles: [] });

export const blankDraft = (): Draft => ({
  name: "",
  kind: "openai",
  baseURL: "",
  region: "",
  apiKey: "",
  clearAPIKey: false,
  enabled: true,
  isDefault: false,
  external: true,
  models: [blankModel()],
});

export function draftOf(p: LLMProvider): Draft {
  return {
    name: p.name,
    kind: p.kind,
    baseURL: p.base_url ?? "",
    region: p.region ?? "",
    apiKey: "",
    clearAPIKey: false,
    enabled: p.enabled,
    isDefault: p.default,
    external: p.external,
    models: p.models.map((m) => ({ name: m.name, contextTokens: m.context_tokens ? String(m.context_tokens) : "", roles: [...m.roles] })),
  };
}

/**
 * inputOf is what the form sends: only the address the kind uses, a key
 * only when one was typed, and no external flag for the offline mode.
 */
export function inputOf(d: Draft): ProviderInput {
  const input: ProviderInput = {
    name: d.name.trim(),
    kind: d.kind,
    enabled: d.enabled,
    default: d.isDefault,
    external: d.kind !== "offline" && d.external,
    models: d.models.map((m) => ({
      name: m.name.trim(),
      roles: roles.filter((r) => m.roles.includes(r)),
      ...(m.contextTokens.trim() ? { context_tokens: Number(m.contextTokens) } : {}),
    })),
  };
  if (d.kind === "openai" && d.baseURL.trim()) input.base_url = d.baseURL.trim();
  if (d.kind === "bedrock") input.region = d.region.trim();
  if (d.kind === "openai" && d.apiKey) input.api_key = d.apiKey;
  if (d.kind === "openai" && !d.apiKey && d.clearAPIKey) input.clear_api_key = true;
  return input;
}

/**
 * ProviderForm adds a provider, or changes `editing`. Its heading takes
 * the focus ref, so the page can bring the form into view to edit.
 */
export function ProviderForm({ editing, onSaved, onCancel, heading }: { editing: LLMProvider | null; onSaved: (p: LLMProvider) => void; onCancel: () => void; heading: Ref<HTMLHeadingElement> }) {
  const { client } = useSession();
  const [draft, setDraft] = useState<Draft>(() => (editing ? draftOf(editing) : blankDraft()));
  const [errors, setErrors] = useState<Partial<Record<FieldKey | "form", string>>>({});
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }));
  const setModel = (i: number, patch: Partial<ModelDraft>) => setDraft((d) => ({ ...d, models: d.models.map((m, j) => (j === i ? { ...m, ...patch } : m)) }));

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    if (draft.models.some((m) => m.contextTokens.trim() && !/^\d+$/.test(m.contextTokens.trim()))) {
      setErrors({ models: t("providers.contextInvalid") });
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      onSaved(await saveProvider(client, editing?.id ?? null, inputOf(draft)));
      if (!editing) setDraft(blankDraft());
    } catch (err) {
      setErrors(errorsFor(err, fields));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="stack-form" onSubmit={submit} noValidate aria-labelledby="provider-form-title">
      <h2 id="provider-form-title" className="h2" ref={heading} tabIndex={-1}>
        {editing ? t("providers.editTitle", { name: editing.name }) : t("providers.addTitle")}
      </h2>
      {errors.form && (
        <p className="error-banner" role="alert">
          {errors.form}
        </p>
      )}
      <div className="form-grid">
        <TextField id="provider-name" label={t("providers.name")} error={errors.name} value={draft.name} onValue={(v) => set({ name: v })} autoComplete="off" />
        <Field id="provider-kind" label={t("providers.kind")} error={errors.kind}>
          <select
            id="provider-kind"
            value={draft.kind}
            aria-describedby={describedBy("provider-kind", errors.kind)}
            aria-invalid={!!errors.kind}
            onChange={(e) => {
              const kind = e.target.value as ProviderKind;
              set({ kind, external: kind !== "offline" });
            }}
          >
            {providerKinds.map((k) => (
              <option key={k} value={k}>
                {t(`providers.kind.${k}` as MessageKey)}
              </option>
            ))}
          </select>
          <p className="help" id="provider-kind-help">
            {t(`providers.kindHelp.${draft.kind}` as MessageKey)}
          </p>
        </Field>
        {draft.kind === "openai" && (
          <>
            <div className="with-help">
              <TextField
                id="provider-base_url"
                label={t("providers.baseURL")}
                error={errors.base_url}
                value={draft.baseURL}
                onValue={(v) => set({ baseURL: v })}
                inputMode="url"
                autoComplete="off"
                placeholder="https://api.openai.com/v1"
                aria-describedby={describedBy("provider-base_url", errors.base_url)}
              />
              <p className="help" id="provider-base_url-help">
                {t("providers.baseURLHelp")}
              </p>
            </div>
            <div className="with-help">
              <TextField
                id="provider-api_key"
                label={editing?.has_api_key ? t("providers.apiKeyReplace") : t("providers.apiKey")}
                error={errors.api_key}
                value={draft.apiKey}
                onValue={(v) => set({ apiKey: v })}
                type="password"
                autoComplete="new-password"
                aria-describedby={describedBy("provider-api_key", errors.api_key)}
              />
              <p className="help" id="provider-api_key-help">
                {editing?.has_api_key ? t("providers.apiKeyKept") : t("providers.apiKeyHelp")}
              </p>
              {editing?.has_api_key && (
                <label className="check">
                  <input type="checkbox" checked={draft.clearAPIKey} disabled={draft.apiKey !== ""} onChange={(e) => set({ clearAPIKey: e.target.checked })} />
                  <span>{t("providers.clearKey")}</span>
                </label>
              )}
            </div>
          </>
        )}
        {draft.kind === "bedrock" && (
          <div className="with-help">
            <TextField
              id="provider-region"
              label={t("providers.region")}
              error={errors.region}
              value={draft.region}
              onValue={(v) => set({ region: v })}
              autoComplete="off"
              placeholder="us-east-1"
              aria-describedby={describedBy("provider-region", errors.region)}
            />
            <p className="help" id="provider-region-help">
              {t("providers.regionHelp")}
            </p>
          </div>
        )}
      </div>

      <div className="checks">
        <Check id="provider-enabled" label={t("providers.enabled")} help={t("providers.enabledHelp")} checked={draft.enabled} onChange={(v) => set({ enabled: v })} />
        <Check id="provider-default" label={t("providers.default")} help={t("providers.defaultHelp")} checked={draft.isDefault} onChange={(v) => set({ isDefault: v })} />
        <Check
          id="provider-external"
          label={t("providers.external")}
          help={t("providers.externalHelp")}
          checked={draft.kind !== "offline" && draft.external}
          disabled={draft.kind === "offline"}
          onChange={(v) => set({ external: v })}
        />
      </div>

      <div className="stack-form" role="group" aria-labelledby="models-title" aria-describedby={errors.models ? "provider-models-error" : undefined}>
        <div>
          <h3 id="models-title" className="h3">
            {t("providers.models")}
          </h3>
          <p className="help">{t("providers.modelsHelp")}</p>
        </div>
        {draft.models.map((m, i) => (
          <fieldset key={i} className="model-fields">
            <legend>{m.name.trim() || t("providers.modelN", { n: i + 1 })}</legend>
            <div className="form-grid">
              <TextField id={`model-${i}-name`} label={t("providers.modelName")} value={m.name} onValue={(v) => setModel(i, { name: v })} autoComplete="off" placeholder="gpt-4o-mini" />
              <TextField
                id={`model-${i}-context`}
                label={t("providers.contextTokens")}
                value={m.contextTokens}
                onValue={(v) => setModel(i, { contextTokens: v })}
                inputMode="numeric"
                autoComplete="off"
              />
            </div>
            <fieldset className="role-checks">
              <legend>{t("providers.whoMayUse")}</legend>
              {roles.map((r) => (
                <label key={r}>
                  <input
                    type="checkbox"
                    checked={m.roles.includes(r)}
                    onChange={(e) => setModel(i, { roles: e.target.checked ? [...m.roles, r] : m.roles.filter((x) => x !== r) })}
                  />
                  {t(`providers.role.${r}` as MessageKey)}
                </label>
              ))}
            </fieldset>
            {draft.models.length > 1 && (
              <div>
                <button type="button" onClick={() => set({ models: draft.models.filter((_, j) => j !== i) })}>
                  {t("providers.removeModel", { name: m.name.trim() || t("providers.modelN", { n: i + 1 }) })}
                </button>
              </div>
            )}
          </fieldset>
        ))}
        {errors.models && (
          <p className="field-error" id="provider-models-error" role="alert">
            {errors.models}
          </p>
        )}
        <div>
          <button type="button" onClick={() => set({ models: [...draft.models, blankModel()] })}>
            {t("providers.addModel")}
          </button>
        </div>
      </div>

      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {editing ? t("providers.saveChanges") : t("providers.addSubmit")}
        </button>
        {editing && (
          <button type="button" onClick={onCancel}>
            {t("providers.cancelEdit")}
          </button>
        )}
      </div>
    </form>
  );
}

/** Check is a labelled checkbox with a line of help under its label. */
export function Check({ id, label, help, checked, disabled, onChange }: { id: string; label: string; help: string; checked: boolean; disabled?: boolean; onChange: (v: boolean) => void }) {
  return (
    <div className="check">
      <input id={id} type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} aria-describedby={`${id}-help`} />
      <span>
        <label htmlFor={id}>{label}</label>
        <small id={`${id}-help`}>{help}</small>
      </span>
    </div>
  );
}

/** describedBy links a control to its help text, and to its error when there is one. */
export const describedBy = (id: string, error?: string) => (error ? `${id}-error ${id}-help` : `${id}-help`);
