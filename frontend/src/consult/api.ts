// The consultation API: a visit's consent, recordings, transcript and note,
// and the clinic's transcription settings. The shapes are the server's
// (schema.ts), narrowed where the UI relies on a closed set of values.
import { ApiError, type Client } from "../api/client";
import { op } from "../api/operations";
import type * as S from "../api/schema";

export type NoteStatus = "none" | "draft" | "signed";
export type ConsentHow = "verbal" | "written";

/** VisitNote is the note's fixed structure. */
export type VisitNote = S.VisitNote;

export const noteParts = ["reason", "history", "findings", "plan"] as const satisfies readonly (keyof VisitNote)[];

export type Consultation = Omit<S.Consultation, "note_status"> & { note_status: NoteStatus };
export type Recording = S.Recording;
export type TranscriptSegment = S.TranscriptSegment;

export type TranscriptionEngine = "none" | "openai-compatible" | "aws";

/** TranscriptionSettings is GET /api/v1/transcription/settings; the API key is never read back. */
export type TranscriptionSettings = Omit<S.ConsultSettings, "engine"> & { engine: TranscriptionEngine };

/** SettingsInput changes the settings; an api_key is sent only when one was typed ("" removes it). */
export type SettingsInput = Omit<S.SettingsInput, "engine"> & { engine?: TranscriptionEngine };

/** Query keys: everything about one consultation sits under consultKey(id). */
export const consultKey = (id: string) => ["consultations", id] as const;
export const transcriptKey = (id: string) => ["consultations", id, "transcript"] as const;
export const byAppointmentKey = (appointmentID: string) => ["consultations", "appointment", appointmentID] as const;
export const byPatientKey = (patientID: string) => ["consultations", "patient", patientID] as const;
export const settingsKey = ["transcription", "settings"] as const;
export const recordingsDaysKey = ["retention", "recordings_days"] as const;

/** startConsultation opens the appointment's consultation, or a new one for a patient; an existing one comes back as it is. */
export function startConsultation(c: Client, of: { appointment_id: string } | { patient_id: string }): Promise<Consultation> {
  return c.request<Consultation>(...op("POST /api/v1/consultations"), of);
}

export function noteConsent(c: Client, id: string, how: ConsentHow): Promise<Consultation> {
  return c.request<Consultation>(...op("POST /api/v1/consultations/{id}/consent", { id }), { consent_how: how });
}

export async function listConsultations(c: Client, filter: { patient_id?: string; appointment_id?: string }): Promise<Consultation[]> {
  const q = new URLSearchParams();
  if (filter.patient_id) q.set("patient_id", filter.patient_id);
  if (filter.appointment_id) q.set("appointment_id", filter.appointment_id);
  const r = await c.request<{ consultations: Consultation[] | null }>(...op("GET /api/v1/consultations", {}, q));
  return r.consultations ?? [];
}

export interface ConsultationView {
  consultation: Consultation;
  recordings: Recording[];
}

export async function getConsultation(c: Client, id: string): Promise<ConsultationView> {
  const r = await c.request<{ consultation: Consultation; recordings: Recording[] | null }>(...op("GET /api/v1/consultations/{id}", { id }));
  return { consultation: r.consultation, recordings: r.recordings ?? [] };
}

export interface Transcript {
  segments: TranscriptSegment[];
  recordings: Recording[];
}

export async function getTranscript(c: Client, id: string): Promise<Transcript> {
  const r = await c.request<{ segments: TranscriptSegment[] | null; recordings: Recording[] | null }>(...op("GET /api/v1/consultations/{id}/transcript", { id }));
  return { segments: r.segments ?? [], recordings: r.recordings ?? [] };
}

export const draftNote = (c: Client, id: string) => c.request<Consultation>(...op("POST /api/v1/consultations/{id}/draft", { id }));

export const saveNote = (c: Client, id: string, note: VisitNote, version: number) =>
  c.request<Consultation>(...op("PUT /api/v1/consultations/{id}/note", { id }), { note, version });

export const signNote = (c: Client, id: string, version: number) => c.request<Consultation>(...op("POST /api/v1/consultations/{id}/sign", { id }), { version });

/** audioSocketURL is the address of the consultation's audio WebSocket, with the access token the browser cannot put in a header. */
export async function audioSocketURL(c: Client, id: string): Promise<string> {
  const token = await c.accessToken();
  if (!token) throw new ApiError(401, "unauthorized", "Your session has ended. Sign in again.");
  const url = new URL(op("GET /api/v1/consultations/{id}/audio", { id })[1], c.baseURL);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("access_token", token);
  return url.toString();
}

/** The formats an upload may be in, by file name ending, with the type sent for each. */
export const uploadTypes: Record<string, string> = {
  wav: "audio/wav",
  flac: "audio/flac",
  ogg: "audio/ogg",
  opus: "audio/ogg",
  oga: "audio/ogg",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  mp4: "audio/mp4",
};

/** uploadAccept is the file input's accept list. */
export const uploadAccept = Object.keys(uploadTypes).map((e) => `.${e}`).join(",") + ",audio/*";

/** contentTypeOf is what an uploaded file is sent as: by its name, else the browser's guess, else plain bytes. */
export function contentTypeOf(file: { name: string; type: string }): string {
  const ext = /\.([a-z0-9]+)$/i.exec(file.name)?.[1]?.toLowerCase() ?? "";
  return uploadTypes[ext] ?? (file.type.startsWith("audio/") ? file.type : "application/octet-stream");
}

/**
 * authorized fetches with the signed-in user's access token, for bodies and
 * answers that are not JSON; a refused token is renewed once.
 */
async function authorized(c: Client, path: string, init: RequestInit, signal?: AbortSignal): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const token = await c.accessToken();
    let res: Response;
    try {
      res = await fetch(c.baseURL + path, { ...init, signal, headers: { ...(init.headers as Record<string, string>), ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new ApiError(0, "network", "The server cannot be reached. Check the connection and try again.");
    }
    if (res.status === 401 && attempt === 0) {
      c.expireAccess();
      continue;
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  let e: { code?: string; message?: string; field?: string } | undefined;
  try {
    e = ((await res.json()) as { error?: typeof e } | undefined)?.error;
  } catch {
    e = undefined;
  }
  if (!e?.message && res.status === 413) e = { code: "invalid", message: "The recording is too large to upload." };
  return new ApiError(res.status, e?.code ?? "http_" + res.status, e?.message ?? `The server answered ${res.status}.`, e?.field);
}

/** uploadRecording sends a recording made elsewhere; the server converts and transcribes it. */
export async function uploadRecording(c: Client, id: string, file: File, signal?: AbortSignal): Promise<Recording> {
  const [, path] = op("POST /api/v1/consultations/{id}/recordings", { id }, new URLSearchParams({ filename: file.name }));
  const res = await authorized(c, path, { method: "POST", body: file, headers: { "Content-Type": contentTypeOf(file), Accept: "application/json" } }, signal);
  return (await res.json()) as Recording;
}

/** recordingAudio fetches a recording as WAV, for playing it back. */
export async function recordingAudio(c: Client, id: string, recordingID: string, signal?: AbortSignal): Promise<Blob> {
  const res = await authorized(c, op("GET /api/v1/consultations/{id}/recordings/{rid}/audio", { id, rid: recordingID })[1], { method: "GET", headers: { Accept: "audio/wav" } }, signal);
  return res.blob();
}

export const getTranscriptionSettings = (c: Client) => c.request<TranscriptionSettings>(...op("GET /api/v1/transcription/settings"));

export const saveTranscriptionSettings = (c: Client, s: SettingsInput) => c.request<TranscriptionSettings>(...op("PUT /api/v1/transcription/settings"), s);

/** recordingsDays is how many days after signing a consultation's audio is kept (the retention policy's recordings_days). */
export const recordingsDays = (c: Client) => c.request<S.Policy>(...op("GET /api/v1/retention")).then((p) => p.recordings_days);

export const saveRecordingsDays = (c: Client, days: number) =>
  c.request<S.Policy>(...op("PATCH /api/v1/retention"), { recordings_days: days } satisfies S.PolicyPatch).then((p) => p.recordings_days);

/** isSigned: the note is signed and can no longer change. */
export const isSigned = (c: Pick<Consultation, "note_status">) => c.note_status === "signed";

/** hasConsent: the patient's consent to recording has been noted. */
export const hasConsent = (c: Pick<Consultation, "consent_at">) => !!c.consent_at && !c.consent_at.startsWith("0001-");

/** pendingTranscription: some audio is not transcribed yet and the engine has not failed on it. */
export function pendingTranscription(recordings: Recording[]): boolean {
  return recordings.some((r) => !r.purged_at && r.transcribed_samples < r.samples && !r.transcribe_error);
}

/** formatOffset is a time in a recording: "1:05", "1:02:03". */
export function formatOffset(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
