import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type ChangeEvent } from "react";
import { ApiError } from "../api/client";
import { useSession } from "../auth/session";
import { t, type MessageKey } from "../i18n";
import { formatDateTime } from "../time";
import {
  audioSocketURL,
  consultKey,
  getConsultation,
  hasConsent,
  noteConsent,
  transcriptKey,
  uploadAccept,
  uploadRecording,
  formatOffset,
  type Consultation,
  type ConsentHow,
  type ConsultationView,
  type TranscriptSegment,
} from "./api";
import { CaptureError, captureRate, MicrophoneCapture } from "./capture";
import { AudioUploader, type UploaderState } from "./uploader";

type Phase = "idle" | "starting" | "recording" | "paused" | "stopping";

/** micMessage says why the microphone could not be used and what to do. */
function micMessage(err: unknown): string {
  if (err instanceof CaptureError) {
    return err.problem === "failed" ? t("consult.mic.failed", { message: err.message }) : t(`consult.mic.${err.problem}` as MessageKey);
  }
  return t("consult.mic.failed", { message: err instanceof Error ? err.message : String(err) });
}

/** refusedOnly passes on a refusal (the recording cannot go on) and ignores anything else (tried again). */
function refusedOnly(err: unknown) {
  if (err instanceof ApiError && (err.code === "forbidden" || err.code === "not_found")) throw err;
}

const duration = (samples: number, rate = captureRate) => formatOffset((samples / rate) * 1000);

/**
 * RecordingPanel notes the patient's consent, then records the
 * consultation from the microphone (streamed to the server as it is
 * captured) or takes a recording made elsewhere. onSegment receives the
 * transcript's segments as the server stores them; onActive tells whether
 * a recording is under way.
 */
export function RecordingPanel({ consultation: c, onSegment, onActive }: { consultation: Consultation; onSegment: (s: TranscriptSegment) => void; onActive: (active: boolean) => void }) {
  const { client } = useSession();
  const queries = useQueryClient();
  const [agreed, setAgreed] = useState(false);
  const [how, setHow] = useState<ConsentHow | "">("");
  const [phase, setPhase] = useState<Phase>("idle");
  const [level, setLevel] = useState(0);
  const [captured, setCaptured] = useState(0);
  const [link, setLink] = useState<UploaderState>("connecting");
  const [unsaved, setUnsaved] = useState(0);
  const [heldUp, setHeldUp] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [uploading, setUploading] = useState<string | null>(null);
  const capture = useRef<MicrophoneCapture | null>(null);
  const uploader = useRef<AudioUploader | null>(null);
  const segment = useRef(onSegment);
  segment.current = onSegment;
  const consented = hasConsent(c);
  const ready = consented || (agreed && how !== "");
  const busy = phase !== "idle" || uploading !== null;

  useEffect(() => onActive(phase !== "idle"), [phase, onActive]);

  // Leaving the page stores what was captured: the last frame, then stop.
  useEffect(
    () => () => {
      const cap = capture.current;
      const up = uploader.current;
      capture.current = null;
      uploader.current = null;
      void (async () => {
        await cap?.stop().catch(() => undefined);
        await up?.stop().catch(() => undefined);
      })();
    },
    [],
  );

  // Closing the window while recording would lose what is not stored yet.
  useEffect(() => {
    if (phase === "idle") return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [phase]);

  const refresh = () => Promise.all([queries.invalidateQueries({ queryKey: consultKey(c.id), exact: true }), queries.invalidateQueries({ queryKey: transcriptKey(c.id) })]);

  /** ensureConsent notes the consent given on the form, once; false when there is none to note. */
  async function ensureConsent(): Promise<boolean> {
    if (consented) return true;
    if (!agreed || how === "") {
      setError(t("consult.consentFirst"));
      return false;
    }
    const updated = await noteConsent(client, c.id, how);
    queries.setQueryData<ConsultationView>(consultKey(c.id), (v) => (v ? { ...v, consultation: { ...v.consultation, ...updated } } : v));
    return true;
  }

  async function record() {
    setError(null);
    setNotice(null);
    setHeldUp(null);
    setCaptured(0);
    setUnsaved(0);
    setPhase("starting");
    try {
      if (!(await ensureConsent())) {
        setPhase("idle");
        return;
      }
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
      setPhase("idle");
      return;
    }
    let failure = "";
    const waiting: Int16Array[] = [];
    let cap: MicrophoneCapture;
    try {
      cap = await MicrophoneCapture.start({
        onFrame: (pcm) => {
          const up = uploader.current;
          if (up) {
            up.push(pcm);
            setUnsaved(up.unsavedSamples);
          } else waiting.push(pcm);
          setCaptured((n) => n + pcm.length);
        },
        onLevel: setLevel,
      });
    } catch (err) {
      setError(micMessage(err));
      setPhase("idle");
      return;
    }
    const up = new AudioUploader({
      // A browser is not told why a handshake failed: before trying again,
      // ask whether the consultation is still open to this doctor.
      socketURL: async (reconnecting) => {
        if (reconnecting) await getConsultation(client, c.id).catch(refusedOnly);
        return audioSocketURL(client, c.id);
      },
      onState: (s) => {
        setLink(s);
        if (s === "failed" && uploader.current === up) {
          // The server refused the recording: stop capturing; what it stored stays.
          uploader.current = null;
          capture.current = null;
          void cap.stop().catch(() => undefined);
          setError(t("consult.recordFailed", { message: failure || t("error.generic") }));
          setPhase("idle");
          setLevel(0);
          void refresh();
        }
      },
      // The new recording joins the list of recordings.
      onReady: () => void queries.invalidateQueries({ queryKey: transcriptKey(c.id) }),
      onAck: () => setUnsaved(up.unsavedSamples),
      onSegment: (s) => segment.current(s),
      onTranscribing: (p) => setHeldUp(p.error || null),
      onError: (e) => (failure = e.message),
      onTokenRefused: () => client.expireAccess(),
    });
    for (const pcm of waiting.splice(0)) up.push(pcm);
    capture.current = cap;
    uploader.current = up;
    setPhase("recording");
  }

  async function pause() {
    await capture.current?.pause();
    setLevel(0);
    setPhase("paused");
  }

  async function resume() {
    await capture.current?.resume();
    setPhase("recording");
  }

  async function stop() {
    const cap = capture.current;
    const up = uploader.current;
    if (!cap || !up) return;
    setPhase("stopping");
    try {
      await cap.stop();
      const samples = await up.stop();
      setNotice(t("consult.stopped", { duration: duration(samples) }));
    } catch (err) {
      if (uploader.current === up) setError(t("consult.recordFailed", { message: err instanceof Error ? err.message : String(err) }));
    } finally {
      if (uploader.current === up) {
        capture.current = null;
        uploader.current = null;
        setPhase("idle");
        setLevel(0);
        setUnsaved(0);
      }
      void refresh();
    }
  }

  async function upload(e: ChangeEvent<HTMLInputElement>) {
    const input = e.target;
    const file = input.files?.[0];
    if (!file) return;
    setError(null);
    setNotice(null);
    try {
      if (!(await ensureConsent())) return;
      setUploading(file.name);
      await uploadRecording(client, c.id, file);
      setNotice(t("consult.uploaded", { name: file.name }));
      void refresh();
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    } finally {
      setUploading(null);
      input.value = "";
    }
  }

  const state = phase === "idle" ? null : t(`consult.state.${phase}` as MessageKey);
  return (
    <section className="card consult-recorder" aria-labelledby="consult-record-title">
      <h2 id="consult-record-title" className="h2">
        {t("consult.recordTitle")}
      </h2>
      {consented ? (
        <p className="consent-noted">
          {t("consult.consentNoted", { how: t(`consult.consentGiven.${c.consent_how === "written" ? "written" : "verbal"}`), time: formatDateTime(c.consent_at!) })}
        </p>
      ) : (
        <div className="consent">
          <label className="check">
            <input type="checkbox" checked={agreed} disabled={busy} onChange={(e) => setAgreed(e.target.checked)} />
            <span>{t("consult.consentAgreed")}</span>
          </label>
          <fieldset className="consent-how" disabled={!agreed || busy}>
            <legend>{t("consult.consentHow")}</legend>
            {(["verbal", "written"] as const).map((h) => (
              <label key={h}>
                <input type="radio" name="consent-how" value={h} checked={how === h} onChange={() => setHow(h)} />
                {t(`consult.consent.${h}`)}
              </label>
            ))}
          </fieldset>
        </div>
      )}

      <div className="recorder-controls">
        {phase === "idle" || phase === "starting" ? (
          <button type="button" className="primary record" disabled={!ready || busy} onClick={() => void record()}>
            {t("consult.record")}
          </button>
        ) : (
          <>
            {phase === "paused" ? (
              <button type="button" onClick={() => void resume()}>
                {t("consult.resume")}
              </button>
            ) : (
              <button type="button" disabled={phase !== "recording"} onClick={() => void pause()}>
                {t("consult.pause")}
              </button>
            )}
            <button type="button" className="primary" disabled={phase === "stopping"} onClick={() => void stop()}>
              {t("consult.stop")}
            </button>
          </>
        )}
        <div className="recorder-meter">
          <label htmlFor="consult-level">{t("consult.level")}</label>
          <meter id="consult-level" min={0} max={1} low={0.02} high={0.9} optimum={0.3} value={phase === "recording" ? level : 0} />
        </div>
        <p className="recorder-elapsed">
          {t("consult.elapsed")} <span className="elapsed" aria-live="off">{duration(captured)}</span>
        </p>
      </div>
      {!ready && <p className="help">{t("consult.consentFirst")}</p>}
      <div role="status" className="recorder-status">
        {state && <p>{state}</p>}
        {phase !== "idle" && link === "reconnecting" && <p className="pending">{t("consult.reconnecting")}</p>}
        {phase !== "idle" && unsaved >= captureRate * 3 && <p className="muted">{t("consult.unsaved", { seconds: Math.round(unsaved / captureRate) })}</p>}
        {heldUp && <p className="pending">{t("consult.transcribeError", { message: heldUp })}</p>}
        {uploading && <p>{t("consult.uploading", { name: uploading })}</p>}
        {notice && <p className="notice">{notice}</p>}
      </div>
      {error && (
        <p className="error-banner" role="alert">
          {error}
        </p>
      )}

      <div className="field upload">
        <label htmlFor="consult-upload">{t("consult.upload")}</label>
        <input id="consult-upload" type="file" accept={uploadAccept} disabled={!ready || busy} onChange={(e) => void upload(e)} aria-describedby="consult-upload-help" />
        <p className="help" id="consult-upload-help">
          {t("consult.uploadHelp")}
        </p>
      </div>
    </section>
  );
}
