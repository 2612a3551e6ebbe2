import { describe, expect, it } from "vitest";
import { AudioUploader, encodeFrame, type ServerError, type UploaderState } from "./uploader";

/** FakeSocket records what the uploader sends; the test plays the server by calling its handlers. */
class FakeSocket {
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  binaryType = "blob";
  sent: (string | ArrayBuffer)[] = [];
  closedWith: number | null = null;
  constructor(readonly url: string) {}
  send(m: string | ArrayBuffer) {
    this.sent.push(m);
  }
  close(code = 1005) {
    this.closedWith = code;
  }
  /** server sends a JSON message to the page. */
  server(m: unknown) {
    this.onmessage!({ data: JSON.stringify(m) });
  }
  /** texts are the JSON messages sent, parsed. */
  texts() {
    return this.sent.filter((m): m is string => typeof m === "string").map((m) => JSON.parse(m) as Record<string, unknown>);
  }
  /** seqs are the seq numbers of the binary frames sent, in order. */
  seqs() {
    return this.sent.filter((m): m is ArrayBuffer => typeof m !== "string").map((b) => Number(new DataView(b).getBigUint64(0, false)));
  }
}

/** harness starts an uploader whose reconnections wait for the test to run them. */
function harness(recordingID = "") {
  const sockets: FakeSocket[] = [];
  const retries: { fn: () => void; ms: number; cancelled: boolean }[] = [];
  const states: UploaderState[] = [];
  const errors: ServerError[] = [];
  let tokenRefused = 0;
  let token = 0;
  const up = new AudioUploader({
    recordingID,
    socketURL: async () => `ws://clinic.test/api/v1/consultations/c1/audio?access_token=t${++token}`,
    makeSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s as unknown as WebSocket;
    },
    schedule: (fn, ms) => {
      const r = { fn, ms, cancelled: false };
      retries.push(r);
      return () => (r.cancelled = true);
    },
    random: () => 1,
    onState: (s) => states.push(s),
    onError: (e) => errors.push(e),
    onTokenRefused: () => tokenRefused++,
  });
  /** socket waits for the nth socket to be made (the URL is fetched first), and opens it. */
  async function socket(n: number) {
    await expect.poll(() => sockets.length).toBeGreaterThan(n);
    const s = sockets[n];
    s.onopen!();
    return s;
  }
  /** reconnect runs the last scheduled reconnection. */
  function reconnect() {
    const r = retries.at(-1)!;
    expect(r.cancelled).toBe(false);
    r.fn();
  }
  return { up, sockets, retries, states, errors, socket, reconnect, refused: () => tokenRefused };
}

const second = (v: number) => new Int16Array(16000).fill(v);

describe("encodeFrame", () => {
  it("puts the seq first as 8 bytes big-endian, then the samples little-endian", () => {
    const b = new Uint8Array(encodeFrame(258, Int16Array.from([1, -2, 0x1234])));
    expect([...b]).toEqual([0, 0, 0, 0, 0, 0, 1, 2, 1, 0, 0xfe, 0xff, 0x34, 0x12]);
  });
});

describe("AudioUploader", () => {
  it("starts a new recording, sends frames once the server is ready and keeps each until acknowledged", async () => {
    const h = harness();
    const s = await h.socket(0);
    expect(s.url).toContain("access_token=t1");
    expect(s.binaryType).toBe("arraybuffer");
    expect(s.texts()).toEqual([{ type: "start", recording_id: "", sample_rate: 16000 }]);

    // Frames captured before the server is ready wait.
    h.up.push(second(1));
    expect(s.seqs()).toEqual([]);
    s.server({ type: "ready", recording_id: "r1", next_seq: 0, samples: 0 });
    expect(h.up.recordingID).toBe("r1");
    expect(h.up.state).toBe("open");
    expect(s.seqs()).toEqual([0]);
    h.up.push(second(2));
    h.up.push(Int16Array.from([5, 6, 7]));
    expect(s.seqs()).toEqual([0, 1, 2]);
    expect(s.sent.at(-1)).toEqual(encodeFrame(2, Int16Array.from([5, 6, 7])));
    expect(h.up.unsavedSamples).toBe(32003);

    s.server({ type: "ack", seq: 0, samples: 16000 });
    s.server({ type: "ack", seq: 1, samples: 32000 });
    expect(h.up.unsavedSamples).toBe(3);
    expect(h.up.samples).toBe(32000);
  });

  it("after a dropped connection resumes the same recording and sends again from the chunk the server asks for", async () => {
    const h = harness();
    const first = await h.socket(0);
    first.server({ type: "ready", recording_id: "r1", next_seq: 0, samples: 0 });
    for (let i = 0; i < 4; i++) h.up.push(second(i));
    first.server({ type: "ack", seq: 0, samples: 16000 });

    // The connection drops: chunks 1–3 are unacknowledged, and chunk 4 is captured meanwhile.
    first.onclose!({ code: 1006 });
    expect(h.up.state).toBe("reconnecting");
    expect(h.retries).toHaveLength(1);
    expect(h.retries[0].ms).toBe(1000);
    h.up.push(second(4));
    expect(first.seqs()).toEqual([0, 1, 2, 3]);

    h.reconnect();
    const again = await h.socket(1);
    expect(again.url).toContain("access_token=t2");
    expect(again.texts()).toEqual([{ type: "start", recording_id: "r1", sample_rate: 16000 }]);
    expect(again.seqs()).toEqual([]);
    // The server stored chunk 1 before the drop but its ack was lost.
    again.server({ type: "ready", recording_id: "r1", next_seq: 2, samples: 32000 });
    expect(again.seqs()).toEqual([2, 3, 4]);
    expect(h.up.state).toBe("open");
    expect(again.sent.at(-1)).toEqual(encodeFrame(4, second(4)));

    // New frames continue the numbering.
    h.up.push(second(5));
    expect(again.seqs()).toEqual([2, 3, 4, 5]);
  });

  it("backs off longer after each failed attempt, and from the start again once connected", async () => {
    const h = harness();
    const s0 = await h.socket(0);
    s0.onclose!({ code: 1006 });
    h.reconnect();
    const s1 = await h.socket(1);
    s1.onclose!({ code: 1006 });
    h.reconnect();
    const s2 = await h.socket(2);
    s2.onclose!({ code: 1006 });
    expect(h.retries.map((r) => r.ms)).toEqual([1000, 2000, 4000]);
    h.reconnect();
    const s3 = await h.socket(3);
    s3.server({ type: "ready", recording_id: "r1", next_seq: 0, samples: 0 });
    s3.onclose!({ code: 1006 });
    expect(h.retries.at(-1)!.ms).toBe(1000);
  });

  it("renews the token before trying again after a refusal or a handshake that failed, not after a drop", async () => {
    const h = harness();
    const s = await h.socket(0);
    s.onclose!({ code: 1008 });
    expect(h.refused()).toBe(1);
    expect(h.up.state).toBe("reconnecting");
    h.reconnect();
    await expect.poll(() => h.sockets.length).toBe(2);
    // Refused before opening: an expired token fails the handshake.
    h.sockets[1].onclose!({ code: 1006 });
    expect(h.refused()).toBe(2);
    h.reconnect();
    const open = await h.socket(2);
    open.onclose!({ code: 1006 });
    expect(h.refused()).toBe(2);
  });

  it("stop sends what is left, then stop, and resolves once the server has stopped", async () => {
    const h = harness();
    const s = await h.socket(0);
    s.server({ type: "ready", recording_id: "r1", next_seq: 0, samples: 0 });
    h.up.push(second(1));
    h.up.push(Int16Array.from([9, 9]));
    const stopped = h.up.stop();
    expect(h.up.state).toBe("stopping");
    expect(s.texts().at(-1)).toEqual({ type: "stop" });
    expect(() => h.up.push(second(3))).toThrow(/stopping/);
    s.server({ type: "ack", seq: 0, samples: 16000 });
    s.server({ type: "ack", seq: 1, samples: 16002 });
    s.server({ type: "stopped", samples: 16002 });
    await expect(stopped).resolves.toBe(16002);
    expect(h.up.state).toBe("stopped");
    expect(s.closedWith).toBe(1000);
    // A close after stopping does not reconnect.
    s.onclose!({ code: 1000 });
    expect(h.retries).toHaveLength(0);
  });

  it("a stop interrupted by a dropped connection resends the unacknowledged frames and stops again", async () => {
    const h = harness();
    const s = await h.socket(0);
    s.server({ type: "ready", recording_id: "r1", next_seq: 0, samples: 0 });
    h.up.push(second(1));
    h.up.push(second(2));
    const stopped = h.up.stop();
    s.server({ type: "ack", seq: 0, samples: 16000 });
    s.onclose!({ code: 1006 });
    expect(h.up.state).toBe("reconnecting");
    h.reconnect();
    const again = await h.socket(1);
    again.server({ type: "ready", recording_id: "r1", next_seq: 1, samples: 16000 });
    expect(h.up.state).toBe("stopping");
    expect(again.seqs()).toEqual([1]);
    expect(again.texts().at(-1)).toEqual({ type: "stop" });
    again.server({ type: "ack", seq: 1, samples: 32000 });
    again.server({ type: "stopped", samples: 32000 });
    await expect(stopped).resolves.toBe(32000);
  });

  it("passes segments and transcription progress on", async () => {
    const segs: unknown[] = [];
    const progress: unknown[] = [];
    const sockets: FakeSocket[] = [];
    new AudioUploader({
      socketURL: async () => "ws://x",
      makeSocket: (url) => {
        const s = new FakeSocket(url);
        sockets.push(s);
        return s as unknown as WebSocket;
      },
      onSegment: (s) => segs.push(s),
      onTranscribing: (p) => progress.push(p),
    });
    await expect.poll(() => sockets.length).toBe(1);
    const seg = { id: "s1", recording_id: "r1", consultation_id: "c1", start_ms: 0, end_ms: 900, text: "chest pain", created_at: "" };
    sockets[0].server({ type: "segment", segment: seg });
    sockets[0].server({ type: "transcribing", transcribed_samples: 16000, error: "engine down" });
    sockets[0].onmessage!({ data: "not json" });
    expect(segs).toEqual([seg]);
    expect(progress).toEqual([{ transcribed_samples: 16000, error: "engine down" }]);
  });

  it("fails for good on the server's refusal, rejecting stop and never reconnecting", async () => {
    const h = harness("r9");
    const s = await h.socket(0);
    expect(s.texts()).toEqual([{ type: "start", recording_id: "r9", sample_rate: 16000 }]);
    s.server({ type: "ready", recording_id: "r9", next_seq: 0, samples: 0 });
    h.up.push(second(1));
    const stopped = h.up.stop();
    s.server({ type: "error", code: "forbidden", message: "Consent to recording has not been noted." });
    await expect(stopped).rejects.toThrow("Consent to recording has not been noted.");
    expect(h.up.state).toBe("failed");
    expect(h.errors).toEqual([{ code: "forbidden", message: "Consent to recording has not been noted." }]);
    s.onclose!({ code: 1000 });
    expect(h.retries).toHaveLength(0);
  });

  it("keeps trying after an error the server may get over", async () => {
    const h = harness();
    const s = await h.socket(0);
    s.server({ type: "error", code: "unavailable", message: "The store is busy." });
    s.onclose!({ code: 1011 });
    expect(h.up.state).toBe("reconnecting");
    expect(h.errors).toHaveLength(1);
  });

  it("fails when the server asks for audio it already acknowledged", async () => {
    const h = harness();
    const s = await h.socket(0);
    s.server({ type: "ready", recording_id: "r1", next_seq: 0, samples: 0 });
    h.up.push(second(1));
    h.up.push(second(2));
    s.server({ type: "ack", seq: 0, samples: 16000 });
    s.onclose!({ code: 1006 });
    h.reconnect();
    const again = await h.socket(1);
    again.server({ type: "ready", recording_id: "r1", next_seq: 0, samples: 0 });
    expect(h.up.state).toBe("failed");
    expect(h.errors[0].message).toMatch(/no longer has/);
    expect(again.seqs()).toEqual([]);
  });

  it("ends the recording when the address cannot be had for a refusal, and tries again after other failures", async () => {
    const sockets: FakeSocket[] = [];
    const retries: (() => void)[] = [];
    const errors: ServerError[] = [];
    const answers: (() => Promise<string>)[] = [
      async () => "ws://x/1",
      async () => {
        throw new Error("The server cannot be reached.");
      },
      async () => {
        throw Object.assign(new Error("You no longer treat this patient."), { code: "forbidden" });
      },
    ];
    const calls: boolean[] = [];
    const up = new AudioUploader({
      socketURL: (reconnecting) => {
        calls.push(reconnecting);
        return answers.shift()!();
      },
      makeSocket: (url) => {
        const s = new FakeSocket(url);
        sockets.push(s);
        return s as unknown as WebSocket;
      },
      schedule: (fn) => {
        retries.push(fn);
        return () => {};
      },
      onError: (e) => errors.push(e),
    });
    await expect.poll(() => sockets.length).toBe(1);
    sockets[0].onclose!({ code: 1006 });
    retries.at(-1)!();
    await expect.poll(() => retries.length).toBe(2);
    expect(up.state).toBe("reconnecting");
    retries.at(-1)!();
    await expect.poll(() => up.state).toBe("failed");
    expect(calls).toEqual([false, true, true]);
    expect(errors).toEqual([{ code: "forbidden", message: "You no longer treat this patient." }]);
  });

  it("close abandons the recording and cancels a waiting reconnection", async () => {
    const h = harness();
    const s = await h.socket(0);
    s.onclose!({ code: 1006 });
    h.up.close();
    expect(h.retries[0].cancelled).toBe(true);
    expect(h.up.state).toBe("failed");
  });
});
