import { describe, expect, it } from "vitest";
import { Framer, Pcm16Resampler } from "./capture-worklet.js";

/** tone is seconds of a sine at freq Hz, sampled at rate, amplitude 0.5. */
function tone(freq: number, rate: number, seconds: number): Float32Array {
  const out = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = 0.5 * Math.sin((2 * Math.PI * freq * i) / rate);
  return out;
}

/** resample feeds input in blocks of 128 samples, as an audio worklet receives it. */
function resample(input: Float32Array, rate: number): Int16Array {
  const r = new Pcm16Resampler(rate);
  const parts: number[] = [];
  for (let i = 0; i < input.length; i += 128) parts.push(...r.push(input.subarray(i, i + 128)));
  return Int16Array.from(parts);
}

const rms = (s: Int16Array, from = 100) => Math.sqrt(s.slice(from).reduce((a, v) => a + (v / 32768) ** 2, 0) / (s.length - from));

function crossings(s: Int16Array): number {
  let n = 0;
  for (let i = 1; i < s.length; i++) if ((s[i - 1] < 0) !== (s[i] < 0)) n++;
  return n;
}

describe("Pcm16Resampler", () => {
  for (const rate of [48000, 44100, 16000]) {
    it(`turns ${rate} Hz into 16 kHz keeping a 440 Hz tone's pitch and loudness`, () => {
      const out = resample(tone(440, rate, 2), rate);
      expect(Math.abs(out.length - 32000)).toBeLessThanOrEqual(2);
      // 440 Hz crosses zero 880 times a second.
      expect(Math.abs(crossings(out) - 1760)).toBeLessThanOrEqual(4);
      expect(rms(out)).toBeGreaterThan(0.5 / Math.SQRT2 - 0.02);
      expect(rms(out)).toBeLessThan(0.5 / Math.SQRT2 + 0.02);
    });
  }

  it("filters out what 16 kHz cannot carry instead of folding it into speech", () => {
    const out = resample(tone(11000, 48000, 1), 48000);
    expect(rms(out)).toBeLessThan(0.02);
  });

  it("passes 16 kHz through sample for sample, clipping at full scale", () => {
    const r = new Pcm16Resampler(16000);
    const a = r.push(Float32Array.from([0, 0.5, -0.5, 1.5]));
    const b = r.push(Float32Array.from([-2, 0.25]));
    expect([...a, ...b]).toEqual([0, 16384, -16384, 32767, -32768]);
  });
});

describe("Framer", () => {
  it("hands over frames of the given size and the rest on flush", () => {
    const frames: number[][] = [];
    const f = new Framer(4, (frame) => frames.push([...frame]));
    f.push(Int16Array.from([1, 2, 3]));
    f.push(Int16Array.from([4, 5, 6, 7, 8, 9, 10]));
    expect(frames).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    f.flush();
    f.flush();
    expect(frames).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10],
    ]);
  });
});
