// The audio uploader: sends captured frames over the consultation's audio
// WebSocket and keeps each until the server says it is stored. A dropped
// connection is reopened with back-off, resuming the same recording from
// the chunk the server asks for.
import { backoff } from "../live";
import type { TranscriptSegment } from "./api";

/**
 * The uploader's state: connecting at first, open while the server takes
 * audio, reconnecting after a drop (stopping or not), stopping once asked to
 * stop and connected, then stopped or failed for good.
 */
export type UploaderState = "connecting" | "open" | "reconnecting" | "stopping" | "stopped" | "failed";

/** ServerError is the server's refusal ({"type":"error"}), after which it closes. */
export interface ServerError {
  code: string;
  message: string;
}

export interface UploaderOptions {
  /**
   * socketURL returns the socket's address with a current access token;
   * reconnecting is true after the first attempt. An error it throws with
   * a code in ServerError's sense (such as forbidden) ends the recording;
   * any other is tried again.
   */
  socketURL: (reconnecting: boolean) => Promise<string>;
  makeSocket?: (url: string) => WebSocket;
  /** schedule runs fn after ms and returns a function that cancels it. */
  schedule?: (fn: () => void, ms: number) => () => void;
  random?: () => number;
  /** recordingID resumes a recording the server already has; empty starts a new one. */
  recordingID?: string;
  onState?: (s: UploaderState) => void;
  /** onReady: the server is taking audio for the recording. */
  onReady?: (recordingID: string, samples: number) => void;
  /** onAck: a chunk is stored; samples is the recording's total stored. */
  onAck?: (seq: number, samples: number) => void;
  onSegment?: (s: TranscriptSegment) => void;
  onTranscribing?: (p: { transcribed_samples: number; error?: string }) => void;
  /** onError: the server refused (fatal when the uploader's state becomes failed). */
  onError?: (e: ServerError) => void;
  /**
   * onTokenRefused: the access token was refused, or the connection failed
   * before it opened (a refused token fails the handshake); the token is
   * renewed before the next attempt.
   */
  onTokenRefused?: () => void;
}

/** Codes after which sending again cannot help: the recording has failed. */
const fatal = new Set(["invalid", "forbidden", "not_found", "conflict"]);

interface Chunk {
  seq: number;
  frame: ArrayBuffer;
  samples: number;
}

/** encodeFrame is one binary message: the seq as 8 bytes big-endian, then the samples as 16-bit little-endian. */
export function encodeFrame(seq: number, pcm: Int16Array): ArrayBuffer {
  const buf = new ArrayBuffer(8 + pcm.length * 2);
  const view = new DataView(buf);
  view.setBigUint64(0, BigInt(seq), false);
  for (let i = 0; i < pcm.length; i++) view.setInt16(8 + i * 2, pcm[i], true);
  return buf;
}

type ServerMessage =
  | { type: "ready"; recording_id: string; next_seq: number; samples: number }
  | { type: "ack"; seq: number; samples: number }
  | { type: "segment"; segment: TranscriptSegment }
  | { type: "transcribing"; transcribed_samples: number; error?: string }
  | { type: "stopped"; samples: number }
  | ({ type: "error" } & ServerError);

/**
 * AudioUploader streams one recording. push() queues a frame; every frame
 * is kept until acknowledged and sent again after a reconnection from the
 * seq the server names; stop() sends what is left, asks the server to end
 * the recording and resolves with its length once the server has stopped.
 */
export class AudioUploader {
  private ws: WebSocket | null = null;
  private ready = false;
  private attempt = 0;
  private connects = 0;
  private cancelRetry: (() => void) | null = null;
  private nextSeq = 0;
  private pending: Chunk[] = [];
  private stopping = false;
  private stopWaiters: { resolve: (samples: number) => void; reject: (e: Error) => void }[] = [];
  private readonly makeSocket: (url: string) => WebSocket;
  private readonly schedule: (fn: () => void, ms: number) => () => void;
  state: UploaderState = "connecting";
  recordingID: string;
  /** samples is how much of the recording the server has stored. */
  samples = 0;

  constructor(private readonly o: UploaderOptions) {
    this.recordingID = o.recordingID ?? "";
    this.makeSocket = o.makeSocket ?? ((url) => new WebSocket(url));
    this.schedule =
      o.schedule ??
      ((fn, ms) => {
        const id = window.setTimeout(fn, ms);
        return () => window.clearTimeout(id);
      });
    void this.connect();
  }

  /** unsavedSamples is the audio captured and not yet stored by the server. */
  get unsavedSamples(): number {
    return this.pending.reduce((n, c) => n + c.samples, 0);
  }

  /** push queues a frame (at most a second of 16 kHz samples) and sends it when the server is ready. */
  push(pcm: Int16Array) {
    if (this.ended) return;
    if (this.stopping) throw new Error("the recording is stopping");
    const seq = this.nextSeq++;
    const chunk = { seq, frame: encodeFrame(seq, pcm), samples: pcm.length };
    this.pending.push(chunk);
    if (this.ready) this.ws?.send(chunk.frame);
  }

  /** stop ends the recording once every frame is stored; it resolves with the recording's samples. */
  stop(): Promise<number> {
    if (this.state === "stopped") return Promise.resolve(this.samples);
    if (this.state === "failed") return Promise.reject(new Error("the recording failed"));
    const done = new Promise<number>((resolve, reject) => this.stopWaiters.push({ resolve, reject }));
    if (!this.stopping) {
      this.stopping = true;
      if (this.ready) {
        this.set("stopping");
        this.sendJSON({ type: "stop" });
      }
    }
    return done;
  }

  /** close drops the connection and anything not yet stored (leaving the page). */
  close() {
    this.finish("failed", new Error("the recording was closed"));
  }

  /** ended: stopped or failed, for good. */
  get ended(): boolean {
    return this.state === "stopped" || this.state === "failed";
  }

  private set(s: UploaderState) {
    if (this.state === s) return;
    this.state = s;
    this.o.onState?.(s);
  }

  private sendJSON(m: unknown) {
    this.ws?.send(JSON.stringify(m));
  }

  private async connect() {
    this.cancelRetry = null;
    if (this.ended) return;
    let url: string;
    try {
      url = await this.o.socketURL(this.connects++ > 0);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === "string" && fatal.has(code)) return this.fail({ code, message: err instanceof Error ? err.message : String(err) });
      return this.retry();
    }
    if (this.ended) return;
    const ws = this.makeSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.sendJSON({ type: "start", recording_id: this.recordingID, sample_rate: 16000 });
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws || typeof ev.data !== "string") return;
      let m: ServerMessage;
      try {
        m = JSON.parse(ev.data) as ServerMessage;
      } catch {
        return;
      }
      this.receive(m);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      if (this.ended) return;
      if (ev.code === 1008 || !opened) this.o.onTokenRefused?.();
      this.retry();
    };
  }

  private receive(m: ServerMessage) {
    switch (m.type) {
      case "ready": {
        this.recordingID = m.recording_id;
        this.samples = m.samples;
        this.attempt = 0;
        // The server has every chunk before next_seq; the rest go again, in order.
        this.pending = this.pending.filter((c) => c.seq >= m.next_seq);
        if (this.pending.length > 0 && this.pending[0].seq !== m.next_seq) {
          this.fail({ code: "conflict", message: `The server asked for audio from chunk ${m.next_seq}, which this page no longer has.` });
          return;
        }
        this.nextSeq = Math.max(this.nextSeq, m.next_seq);
        this.ready = true;
        this.set(this.stopping ? "stopping" : "open");
        this.o.onReady?.(m.recording_id, m.samples);
        for (const c of this.pending) this.ws?.send(c.frame);
        if (this.stopping) this.sendJSON({ type: "stop" });
        return;
      }
      case "ack":
        this.pending = this.pending.filter((c) => c.seq > m.seq);
        this.samples = m.samples;
        this.o.onAck?.(m.seq, m.samples);
        return;
      case "segment":
        this.o.onSegment?.(m.segment);
        return;
      case "transcribing":
        this.o.onTranscribing?.({ transcribed_samples: m.transcribed_samples, error: m.error });
        return;
      case "stopped":
        this.samples = m.samples;
        if (this.pending.length > 0) {
          this.fail({ code: "conflict", message: "The server ended the recording before storing all of it." });
          return;
        }
        this.finish("stopped");
        return;
      case "error":
        this.o.onError?.({ code: m.code, message: m.message });
        if (fatal.has(m.code)) this.finish("failed", new Error(m.message));
        return;
    }
  }

  private fail(e: ServerError) {
    this.o.onError?.(e);
    this.finish("failed", new Error(e.message));
  }

  /** finish ends the uploader in state, settling stop() and closing the socket. */
  private finish(state: "stopped" | "failed", err?: Error) {
    if (this.ended) return;
    this.cancelRetry?.();
    this.cancelRetry = null;
    this.ready = false;
    this.set(state);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    const waiters = this.stopWaiters;
    this.stopWaiters = [];
    for (const w of waiters) (state === "stopped" ? w.resolve(this.samples) : w.reject(err ?? new Error(state)));
  }

  private retry() {
    if (this.ended) return;
    this.set("reconnecting");
    this.cancelRetry = this.schedule(() => void this.connect(), backoff(this.attempt++, this.o.random));
  }
}
