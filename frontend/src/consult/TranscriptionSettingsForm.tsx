import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useSession } from "../auth/session";
import { errorsFor, Field, TextField } from "../components/Field";
import { LoadError } from "../components/LoadError";
import { t, type MessageKey } from "../i18n";
import { Check, describedBy } from "../admin/ProviderForm";
import {
  getTranscriptionSettings,
  recordingsDays,
  recordingsDaysKey,
  saveRecordingsDays,
  saveTranscriptionSettings,
  settingsKey,
  type SettingsInput,
  type TranscriptionEngine,
  type TranscriptionSettings,
} from "./api";

const engines: TranscriptionEngine[] = ["none", "openai-compatible", "aws"];
const specialties = ["PRIMARYCARE", "CARDIOLOGY", "NEUROLOGY", "ONCOLOGY", "RADIOLOGY", "UROLOGY"];
const conversationTypes = ["CONVERSATION", "DICTATION"];

const fields = ["engine", "base_url", "model", "api_key", "language", "region", "specialty", "conversation_type", "upload_bucket", "recordings_days"] as const;
type FieldKey = (typeof fields)[number];

/** Draft is the form as typed; the API key is never filled in from the server. */
export interface Draft {
  engine: TranscriptionEngine;
  baseURL: string;
  model: string;
  apiKey: string;
  clearAPIKey: boolean;
  language: string;
  external: boolean;
  region: string;
  specialty: string;
  conversationType: string;
  uploadBucket: string;
  patientsSeeNotes: boolean;
  /** retentionDays: days the audio is kept after signing (the retention policy's). */
  retentionDays: string;
}

export function draftOf(s: TranscriptionSettings, recordingsDays?: number): Draft {
  return {
    engine: s.engine,
    baseURL: s.base_url ?? "",
    model: s.model ?? "",
    apiKey: "",
    clearAPIKey: false,
    language: s.language ?? "",
    external: s.external,
    region: s.region ?? "",
    specialty: s.specialty || "PRIMARYCARE",
    conversationType: s.conversation_type || "CONVERSATION",
    uploadBucket: s.upload_bucket ?? "",
    patientsSeeNotes: s.patients_see_notes,
    retentionDays: recordingsDays === undefined ? "" : String(recordingsDays),
  };
}

/**
 * inputOf is what the form sends: the engine's own settings, the API key
 * only when one was typed (or "" to remove it), and the rest as shown.
 */
export function inputOf(d: Draft): SettingsInput {
  const input: SettingsInput = { engine: d.engine, patients_see_notes: d.patientsSeeNotes };
  if (d.engine === "openai-compatible") {
    Object.assign(input, { base_url: d.baseURL.trim(), model: d.model.trim(), language: d.language.trim(), external: d.external });
    if (d.apiKey) input.api_key = d.apiKey;
    else if (d.clearAPIKey) input.api_key = "";
  }
  if (d.engine === "aws") {
    Object.assign(input, { region: d.region.trim(), specialty: d.specialty, conversation_type: d.conversationType, upload_bucket: d.uploadBucket.trim(), language: d.language.trim() });
  }
  return input;
}

/** TranscriptionSettingsForm: the admin chooses the transcription engine, whether patients read their signed notes, and how long recordings are kept. */
export function TranscriptionSettingsForm() {
  const { client } = useSession();
  const queries = useQueryClient();
  const settings = useQuery({ queryKey: settingsKey, queryFn: () => getTranscriptionSettings(client) });
  const days = useQuery({ queryKey: recordingsDaysKey, queryFn: () => recordingsDays(client) });
  return (
    <section className="card" aria-labelledby="transcription-title">
      <LoadError error={settings.error ?? days.error} onRetry={() => Promise.all([settings.refetch(), days.refetch()])} />
      {settings.data && days.isSuccess ? (
        <SettingsForm
          settings={settings.data}
          recordingsDays={days.data}
          onSaved={(s, d) => {
            queries.setQueryData(settingsKey, s);
            queries.setQueryData(recordingsDaysKey, d);
            void queries.invalidateQueries({ queryKey: ["retention"] });
          }}
          client={client}
        />
      ) : (
        <h2 id="transcription-title" className="h2">
          {t("transcription.title")}
        </h2>
      )}
    </section>
  );
}

function SettingsForm({
  settings,
  recordingsDays: days,
  onSaved,
  client,
}: {
  settings: TranscriptionSettings;
  recordingsDays: number | undefined;
  onSaved: (s: TranscriptionSettings, recordingsDays: number | undefined) => void;
  client: ReturnType<typeof useSession>["client"];
}) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(settings, days));
  const [errors, setErrors] = useState<Partial<Record<FieldKey | "form", string>>>({});
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }));

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setStatus(null);
    const wantDays = draft.retentionDays.trim();
    if (wantDays && !/^\d+$/.test(wantDays)) {
      setErrors({ recordings_days: t("limits.wholeNumber") });
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const saved = await saveTranscriptionSettings(client, inputOf(draft));
      // How long recordings are kept is part of the retention policy.
      const keptDays = wantDays && Number(wantDays) !== days ? await saveRecordingsDays(client, Number(wantDays)) : days;
      onSaved(saved, keptDays);
      setDraft(draftOf(saved, keptDays));
    } catch (err) {
      setErrors(errorsFor(err, fields));
      setBusy(false);
      return;
    }
    setBusy(false);
    setStatus(t("transcription.saved"));
  }

  const text = (key: FieldKey, value: string, onValue: (v: string) => void, label: MessageKey, help: MessageKey, extra: Record<string, string> = {}) => (
    <div className="with-help">
      <TextField
        id={`transcription-${key}`}
        label={t(label)}
        error={errors[key]}
        value={value}
        onValue={onValue}
        autoComplete="off"
        aria-describedby={describedBy(`transcription-${key}`, errors[key])}
        {...extra}
      />
      <p className="help" id={`transcription-${key}-help`}>
        {t(help)}
      </p>
    </div>
  );

  const choice = (key: FieldKey, value: string, onValue: (v: string) => void, label: MessageKey, options: string[], optionLabel: string) => (
    <Field id={`transcription-${key}`} label={t(label)} error={errors[key]}>
      <select id={`transcription-${key}`} value={value} onChange={(e) => onValue(e.target.value)}>
        {options.map((o) => (
          <option key={o} value={o}>
            {t(`${optionLabel}${o}` as MessageKey)}
          </option>
        ))}
      </select>
    </Field>
  );

  return (
    <form className="stack-form" onSubmit={submit} noValidate aria-labelledby="transcription-title">
      <div>
        <h2 id="transcription-title" className="h2">
          {t("transcription.title")}
        </h2>
        <p className="help">{t("transcription.intro")}</p>
      </div>
      {status && (
        <p className="notice" role="status">
          {status}
        </p>
      )}
      {errors.form && (
        <p className="error-banner" role="alert">
          {errors.form}
        </p>
      )}
      <div className="form-grid">
        <Field id="transcription-engine" label={t("transcription.engine")} error={errors.engine}>
          <select id="transcription-engine" value={draft.engine} aria-describedby={describedBy("transcription-engine", errors.engine)} onChange={(e) => set({ engine: e.target.value as TranscriptionEngine })}>
            {engines.map((e) => (
              <option key={e} value={e}>
                {t(`transcription.engine.${e}` as MessageKey)}
              </option>
            ))}
          </select>
          <p className="help" id="transcription-engine-help">
            {t(`transcription.engineHelp.${draft.engine}` as MessageKey)}
          </p>
        </Field>
        {draft.engine === "openai-compatible" && (
          <>
            {text("base_url", draft.baseURL, (v) => set({ baseURL: v }), "transcription.baseURL", "transcription.baseURLHelp", { inputMode: "url", placeholder: "https://api.openai.com/v1" })}
            {text("model", draft.model, (v) => set({ model: v }), "transcription.model", "transcription.modelHelp", { placeholder: "whisper-1" })}
            <div className="with-help">
              <TextField
                id="transcription-api_key"
                label={settings.has_api_key ? t("transcription.apiKeyReplace") : t("transcription.apiKey")}
                error={errors.api_key}
                value={draft.apiKey}
                onValue={(v) => set({ apiKey: v })}
                type="password"
                autoComplete="new-password"
                aria-describedby={describedBy("transcription-api_key", errors.api_key)}
              />
              <p className="help" id="transcription-api_key-help">
                {settings.has_api_key ? t("transcription.apiKeyKept") : t("transcription.apiKeyHelp")}
              </p>
              {settings.has_api_key && (
                <label className="check">
                  <input type="checkbox" checked={draft.clearAPIKey} disabled={draft.apiKey !== ""} onChange={(e) => set({ clearAPIKey: e.target.checked })} />
                  <span>{t("transcription.clearKey")}</span>
                </label>
              )}
            </div>
          </>
        )}
        {draft.engine === "aws" && (
          <>
            {text("region", draft.region, (v) => set({ region: v }), "transcription.region", "transcription.regionHelp", { placeholder: "us-east-1" })}
            {choice("specialty", draft.specialty, (v) => set({ specialty: v }), "transcription.specialty", specialties, "transcription.specialty.")}
            {choice("conversation_type", draft.conversationType, (v) => set({ conversationType: v }), "transcription.conversationType", conversationTypes, "transcription.conversation.")}
            {text("upload_bucket", draft.uploadBucket, (v) => set({ uploadBucket: v }), "transcription.uploadBucket", "transcription.uploadBucketHelp")}
          </>
        )}
        {draft.engine !== "none" && text("language", draft.language, (v) => set({ language: v }), "transcription.language", "transcription.languageHelp", { placeholder: "en" })}
        {text("recordings_days", draft.retentionDays, (v) => set({ retentionDays: v }), "transcription.retention", "transcription.retentionHelp", { inputMode: "numeric" })}
      </div>
      <div className="checks">
        {draft.engine === "openai-compatible" && (
          <Check id="transcription-external" label={t("transcription.external")} help={t("transcription.externalHelp")} checked={draft.external} onChange={(v) => set({ external: v })} />
        )}
        <Check id="transcription-patients" label={t("transcription.patientsSeeNotes")} help={t("transcription.patientsSeeNotesHelp")} checked={draft.patientsSeeNotes} onChange={(v) => set({ patientsSeeNotes: v })} />
      </div>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy}>
          {t("transcription.save")}
        </button>
      </div>
    </form>
  );
}
