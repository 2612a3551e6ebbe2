import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { useSession } from "../auth/session";
import { t } from "../i18n";
import { formatDateTime, formatTime } from "../time";
import { formatOffset, getTranscript, pendingTranscription, recordingAudio, transcriptKey, type Recording, type Transcript, type TranscriptSegment } from "./api";

/** How often the transcript is read again while the server is still transcribing; slower once it has made no progress for a while. */
const pollFast = 3_000;
const pollSlow = 15_000;
const slowAfter = 120_000;

const seconds = (samples: number, rate: number) => formatOffset((samples / (rate || 16000)) * 1000);

/** mergeSegments adds segments to a transcript, each once, in the order of their recordings and times. */
export function mergeSegments(tr: Transcript | undefined, add: TranscriptSegment[]): Transcript {
  const base = tr ?? { segments: [], recordings: [] };
  const byID = new Map(base.segments.map((s) => [s.id, s]));
  for (const s of add) byID.set(s.id, s);
  return { ...base, segments: [...byID.values()] };
}

/** ordered sorts segments by their recording (oldest first) and then by time. */
function ordered(tr: Transcript): { recording: Recording | undefined; segments: TranscriptSegment[] }[] {
  const order = [...tr.recordings].sort((a, b) => a.created_at.localeCompare(b.created_at));
  const groups = new Map<string, TranscriptSegment[]>();
  for (const s of tr.segments) groups.set(s.recording_id, [...(groups.get(s.recording_id) ?? []), s]);
  const ids = [...order.map((r) => r.id), ...[...groups.keys()].filter((id) => !order.some((r) => r.id === id))];
  return ids
    .filter((id) => groups.has(id))
    .map((id) => ({ recording: order.find((r) => r.id === id), segments: groups.get(id)!.sort((a, b) => a.start_ms - b.start_ms) }));
}

/** A passage is what one speaker said without a pause: segments joined for reading. */
export interface Passage {
  id: string;
  start_ms: number;
  speaker?: string;
  text: string;
}

/** How long a pause or a passage may be before the next words start a new one. */
const pauseMS = 1500;
const passageMS = 20_000;

/**
 * passages joins segments (in order) into passages: an engine that answers
 * word by word reads as sentences, one that answers in sentences as
 * paragraphs. A new passage starts with another speaker, after a pause, or
 * when the passage grows long.
 */
export function passages(segments: TranscriptSegment[]): Passage[] {
  const out: (Passage & { end_ms: number })[] = [];
  for (const s of segments) {
    const last = out.at(-1);
    if (last && (last.speaker ?? "") === (s.speaker ?? "") && s.start_ms - last.end_ms < pauseMS && s.end_ms - last.start_ms < passageMS) {
      last.text = `${last.text} ${s.text.trim()}`;
      last.end_ms = Math.max(last.end_ms, s.end_ms);
      continue;
    }
    out.push({ id: s.id, start_ms: s.start_ms, end_ms: s.end_ms, speaker: s.speaker, text: s.text.trim() });
  }
  return out.map(({ id, start_ms, speaker, text }) => ({ id, start_ms, speaker, text }));
}

/**
 * TranscriptPanel shows the consultation's recordings, each with its
 * transcription's progress and a player, and the transcript as it grows:
 * as read, with the live segments that came over the audio socket since.
 * While audio is still being transcribed (and no recording is streaming,
 * whose segments arrive over its socket) it reads the transcript again.
 */
export function TranscriptPanel({ consultationID, streaming, live = [] }: { consultationID: string; streaming: boolean; live?: TranscriptSegment[] }) {
  const { client } = useSession();
  const progress = useRef({ mark: "", at: Date.now() });
  const transcript = useQuery({
    queryKey: transcriptKey(consultationID),
    queryFn: () => getTranscript(client, consultationID),
    refetchInterval: (q) => {
      const data = q.state.data;
      if (streaming || !data || !pendingTranscription(data.recordings)) return false;
      const mark = data.recordings.map((r) => `${r.id}:${r.samples}:${r.transcribed_samples}`).join(",");
      if (mark !== progress.current.mark) progress.current = { mark, at: Date.now() };
      return Date.now() - progress.current.at > slowAfter ? pollSlow : pollFast;
    },
  });
  const data = transcript.data || live.length > 0 ? mergeSegments(transcript.data, live) : undefined;
  const groups = data ? ordered(data) : [];
  const many = (data?.recordings.length ?? 0) > 1;

  return (
    <section className="card consult-transcript" aria-labelledby="consult-transcript-title">
      <h2 id="consult-transcript-title" className="h2">
        {t("consult.transcript")}
      </h2>
      {transcript.error && (
        <p className="error-banner" role="alert">
          {transcript.error.message}
        </p>
      )}
      {data && data.segments.length === 0 && <p className="muted">{t("consult.noTranscript")}</p>}
      {groups.map(({ recording, segments }) => (
        <div key={recording?.id ?? segments[0].recording_id} className="transcript-part">
          {many && recording && <h3 className="h3">{recordingName(recording)}</h3>}
          <ol className="transcript" aria-label={many && recording ? recordingName(recording) : t("consult.transcript")}>
            {passages(segments).map((s) => (
              <li key={s.id}>
                <span className="segment-time">{formatOffset(s.start_ms)}</span>
                {s.speaker && <span className="segment-speaker">{s.speaker}</span>}
                <span className="segment-text">{s.text}</span>
              </li>
            ))}
          </ol>
        </div>
      ))}

      <h3 id="consult-recordings" className="h3">
        {t("consult.recordings")}
      </h3>
      {data && data.recordings.length === 0 && <p className="muted">{t("consult.noRecordings")}</p>}
      <ul className="recordings" aria-labelledby="consult-recordings">
        {data?.recordings.map((r) => <RecordingItem key={r.id} consultationID={consultationID} r={r} />)}
      </ul>
    </section>
  );
}

function recordingName(r: Recording): string {
  const what = r.source === "upload" ? t("consult.recording.upload", { name: r.filename ?? "" }) : t("consult.recording.stream");
  return t("consult.recordingAt", { what, time: formatDateTime(r.created_at), duration: r.ended ? seconds(r.samples, r.sample_rate) : t("consult.inProgress") });
}

/** RecordingItem is one recording: what and when, how far it is transcribed, and a player fetched on demand. */
function RecordingItem({ consultationID, r }: { consultationID: string; r: Recording }) {
  const { client } = useSession();
  const [url, setURL] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => () => void (url && URL.revokeObjectURL(url)), [url]);

  async function play() {
    setBusy(true);
    setError(null);
    try {
      setURL(URL.createObjectURL(await recordingAudio(client, consultationID, r.id)));
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    } finally {
      setBusy(false);
    }
  }

  const when = formatTime(r.created_at);
  return (
    <li className="recording">
      <div>
        <strong>{recordingName(r)}</strong>
        {r.samples > 0 && r.transcribed_samples < r.samples && !r.purged_at && (
          <div className="muted">{t("consult.transcribed", { done: seconds(r.transcribed_samples, r.sample_rate), total: seconds(r.samples, r.sample_rate) })}</div>
        )}
        {r.transcribe_error && <div className="pending">{t("consult.transcribeError", { message: r.transcribe_error })}</div>}
        {r.purged_at && <div className="muted">{t("consult.purged")}</div>}
        {error && (
          <div className="field-error" role="alert">
            {error}
          </div>
        )}
      </div>
      {!r.purged_at &&
        (url ? (
          <audio controls autoPlay src={url} aria-label={t("consult.playerNamed", { time: when })} onError={() => setError(t("consult.playFailed"))} />
        ) : (
          <button type="button" disabled={busy || r.samples === 0} onClick={() => void play()} aria-label={t("consult.playNamed", { time: when })}>
            {t("consult.play")}
          </button>
        ))}
    </li>
  );
}
