import { describe, expect, it, vi } from "vitest";
import { CaptureError, MicrophoneCapture, type CaptureDeps } from "./capture";

/** fakeAudio is a browser whose microphone and audio graph are recorded; the worklet's answers are the test's. */
function fakeAudio({ refuse16k = false, denied = false } = {}) {
  const track = { stop: vi.fn() };
  const contexts: { options?: AudioContextOptions; state: string; closed: boolean; modules: string[] }[] = [];
  const posted: unknown[] = [];
  let port: { onmessage: ((e: { data: unknown }) => void) | null; postMessage: (m: unknown) => void } | null = null;
  const node = () => ({ connect: vi.fn(), disconnect: vi.fn() });
  const deps: CaptureDeps = {
    getUserMedia: async () => {
      if (denied) throw new DOMException("Permission denied", "NotAllowedError");
      return { getTracks: () => [track] } as unknown as MediaStream;
    },
    makeContext: (options) => {
      const c = { options, state: "suspended", closed: false, modules: [] as string[] };
      contexts.push(c);
      return {
        sampleRate: options?.sampleRate ?? 48000,
        get state() {
          return c.state;
        },
        audioWorklet: { addModule: async (url: string) => void c.modules.push(url) },
        createMediaStreamSource: () => {
          if (refuse16k && options?.sampleRate) throw new DOMException("different rates", "NotSupportedError");
          return node();
        },
        createGain: () => ({ ...node(), gain: { value: 1 } }),
        destination: {},
        resume: async () => void (c.state = "running"),
        suspend: async () => void (c.state = "suspended"),
        close: async () => {
          c.state = "closed";
          c.closed = true;
        },
      } as unknown as AudioContext;
    },
    makeNode: (_ctx, name, options) => {
      expect(name).toBe("pcm16-capture");
      expect(options.processorOptions).toEqual({ frameSamples: 16000 });
      port = { onmessage: null, postMessage: (m) => posted.push(m) };
      return { ...node(), port } as unknown as AudioWorkletNode;
    },
    workletURL: "/assets/capture-worklet.js",
  };
  const worklet = (data: unknown) => port!.onmessage!({ data });
  return { deps, track, contexts, posted, worklet };
}

describe("MicrophoneCapture", () => {
  it("captures at 16 kHz through the worklet, passes frames and levels on, and flushes the last frame on stop", async () => {
    const a = fakeAudio();
    const frames: number[][] = [];
    const levels: number[] = [];
    const cap = await MicrophoneCapture.start({ onFrame: (f) => frames.push([...f]), onLevel: (l) => levels.push(l) }, a.deps);
    expect(a.contexts).toHaveLength(1);
    expect(a.contexts[0].options).toEqual({ sampleRate: 16000 });
    expect(a.contexts[0].modules).toEqual(["/assets/capture-worklet.js"]);
    expect(a.contexts[0].state).toBe("running");
    expect(cap.rate).toBe(16000);

    a.worklet({ type: "frame", pcm: Int16Array.from([1, 2]).buffer });
    a.worklet({ type: "level", peak: 0.25 });
    expect(frames).toEqual([[1, 2]]);
    expect(levels).toEqual([0.25]);

    await cap.pause();
    expect(a.contexts[0].state).toBe("suspended");
    const stopped = cap.stop();
    await expect.poll(() => a.posted).toEqual([{ type: "flush" }]);
    a.worklet({ type: "frame", pcm: Int16Array.from([3]).buffer });
    a.worklet({ type: "flushed" });
    await stopped;
    expect(frames).toEqual([[1, 2], [3]]);
    expect(a.track.stop).toHaveBeenCalled();
    expect(a.contexts[0].closed).toBe(true);
  });

  it("falls back to the browser's own rate where a 16 kHz context cannot take the microphone", async () => {
    const a = fakeAudio({ refuse16k: true });
    const cap = await MicrophoneCapture.start({ onFrame: () => {}, onLevel: () => {} }, a.deps);
    expect(a.contexts.map((c) => c.options)).toEqual([{ sampleRate: 16000 }, undefined]);
    expect(a.contexts[0].closed).toBe(true);
    expect(cap.rate).toBe(48000);
  });

  it("says the microphone was refused", async () => {
    const a = fakeAudio({ denied: true });
    const err = await MicrophoneCapture.start({ onFrame: () => {}, onLevel: () => {} }, a.deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaptureError);
    expect((err as CaptureError).problem).toBe("denied");
  });
});
