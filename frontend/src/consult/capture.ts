// Microphone capture as 16 kHz mono 16-bit PCM, in frames of about a
// second, through an AudioWorklet (capture-worklet.js, loaded by URL from
// the same origin, as the page's content security policy requires).

/** The server's rate: every frame is 16 kHz mono 16-bit PCM. */
export const captureRate = 16000;
/** A frame is one second of audio, the most the server takes in one message. */
export const frameSamples = 16000;

export interface CaptureEvents {
  /** onFrame receives each frame of 16-bit samples, in order. */
  onFrame(pcm: Int16Array): void;
  /** onLevel receives the input's peak (0…1) about ten times a second. */
  onLevel(peak: number): void;
}

/** The browser's parts that capture uses, replaceable in tests. */
export interface CaptureDeps {
  getUserMedia(c: MediaStreamConstraints): Promise<MediaStream>;
  makeContext(options?: AudioContextOptions): AudioContext;
  makeNode(ctx: AudioContext, name: string, options: AudioWorkletNodeOptions): AudioWorkletNode;
  workletURL: string;
}

const workletURL = new URL("./capture-worklet.js", import.meta.url).href;

export const browserDeps = (): CaptureDeps => ({
  getUserMedia: (c) => {
    if (!navigator.mediaDevices?.getUserMedia) return Promise.reject(new CaptureError("unsupported"));
    return navigator.mediaDevices.getUserMedia(c);
  },
  makeContext: (options) => new AudioContext(options),
  makeNode: (ctx, name, options) => new AudioWorkletNode(ctx, name, options),
  workletURL,
});

/** Why the microphone could not be used: denied, absent, or a browser without what capture needs. */
export type CaptureProblem = "denied" | "no-microphone" | "unsupported" | "failed";

export class CaptureError extends Error {
  constructor(
    readonly problem: CaptureProblem,
    message: string = problem,
  ) {
    super(message);
    this.name = "CaptureError";
  }
}

function problemOf(err: unknown): CaptureProblem {
  if (err instanceof CaptureError) return err.problem;
  const name = err instanceof Error || err instanceof DOMException ? err.name : "";
  if (name === "NotAllowedError" || name === "SecurityError") return "denied";
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "NotReadableError") return "no-microphone";
  if (name === "NotSupportedError" || name === "TypeError" || name === "ReferenceError") return "unsupported";
  return "failed";
}

/**
 * MicrophoneCapture records from the microphone until stopped. The context
 * runs at 16 kHz where the browser allows it; elsewhere at its own rate,
 * and the worklet resamples.
 */
export class MicrophoneCapture {
  private flushed: (() => void) | null = null;

  private constructor(
    private readonly stream: MediaStream,
    private readonly ctx: AudioContext,
    private readonly node: AudioWorkletNode,
    private readonly nodes: AudioNode[],
  ) {}

  /** start asks for the microphone and begins capturing; frames and levels go to events. */
  static async start(events: CaptureEvents, deps: CaptureDeps = browserDeps()): Promise<MicrophoneCapture> {
    let stream: MediaStream;
    try {
      stream = await deps.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
    } catch (err) {
      throw new CaptureError(problemOf(err), err instanceof Error ? err.message : String(err));
    }
    try {
      const { ctx, source } = openContext(stream, deps);
      try {
        await ctx.audioWorklet.addModule(deps.workletURL);
        const node = deps.makeNode(ctx, "pcm16-capture", { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { frameSamples } });
        // The node's output is silent; a muted path to the speakers keeps
        // every browser pulling audio through it.
        const mute = ctx.createGain();
        mute.gain.value = 0;
        source.connect(node);
        node.connect(mute);
        mute.connect(ctx.destination);
        const capture = new MicrophoneCapture(stream, ctx, node, [source, mute]);
        node.port.onmessage = (e: MessageEvent<{ type: string; pcm?: ArrayBuffer; peak?: number }>) => {
          const m = e.data;
          if (m.type === "frame" && m.pcm) events.onFrame(new Int16Array(m.pcm));
          else if (m.type === "level") events.onLevel(m.peak ?? 0);
          else if (m.type === "flushed") capture.flushed?.();
        };
        await ctx.resume();
        return capture;
      } catch (err) {
        void ctx.close().catch(() => undefined);
        throw err;
      }
    } catch (err) {
      for (const track of stream.getTracks()) track.stop();
      throw new CaptureError(problemOf(err), err instanceof Error ? err.message : String(err));
    }
  }

  /** pause stops taking audio until resume; nothing is lost or sent meanwhile. */
  pause(): Promise<void> {
    return this.ctx.suspend();
  }

  resume(): Promise<void> {
    return this.ctx.resume();
  }

  /** stop hands over the last partial frame, then releases the microphone. */
  async stop(): Promise<void> {
    try {
      if (this.ctx.state !== "closed") {
        // The worklet answers the flush only while the context runs.
        await this.ctx.resume();
        const done = new Promise<void>((resolve) => (this.flushed = resolve));
        this.node.port.postMessage({ type: "flush" });
        await done;
      }
    } finally {
      this.flushed = null;
      for (const track of this.stream.getTracks()) track.stop();
      for (const n of [...this.nodes, this.node]) n.disconnect();
      this.node.port.onmessage = null;
      await this.ctx.close().catch(() => undefined);
    }
  }

  /** rate is the context's own rate (16000 when the browser allowed it). */
  get rate(): number {
    return this.ctx.sampleRate;
  }
}

/**
 * openContext makes an AudioContext at 16 kHz fed by the stream; a browser
 * that cannot join a microphone to a context of another rate gets a context
 * at its own rate.
 */
function openContext(stream: MediaStream, deps: CaptureDeps): { ctx: AudioContext; source: MediaStreamAudioSourceNode } {
  let ctx: AudioContext | null = null;
  try {
    ctx = deps.makeContext({ sampleRate: captureRate });
    return { ctx, source: ctx.createMediaStreamSource(stream) };
  } catch {
    void ctx?.close().catch(() => undefined);
  }
  ctx = deps.makeContext();
  return { ctx, source: ctx.createMediaStreamSource(stream) };
}
