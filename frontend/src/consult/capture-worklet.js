// The microphone's audio worklet: turns the input's first channel into
// 16 kHz mono 16-bit PCM and posts it to the page in frames of one second,
// with the input's level ten times a second. It is loaded by URL as it is
// (no bundling), so it imports nothing; Pcm16Resampler is exported for the
// unit tests and ignored by the browser.

const targetRate = 16000;

/**
 * Pcm16Resampler converts float samples at inputRate to 16-bit samples at
 * 16 kHz: a windowed-sinc low-pass below the new Nyquist frequency when
 * lowering the rate, then linear interpolation at the rate's ratio. It
 * keeps its state between blocks, so blocks of any size join seamlessly.
 */
export class Pcm16Resampler {
  constructor(inputRate) {
    this.step = inputRate / targetRate;
    // The position of the next output sample, in input samples counted from
    // the first sample of `history`.
    this.pos = 0;
    this.taps = this.step > 1 ? lowPass(0.45 / this.step, 31) : [1];
    // The filter's memory: the last taps.length - 1 input samples, then the
    // filtered samples not yet consumed by the interpolation.
    this.raw = new Float32Array(this.taps.length - 1);
    this.filtered = [];
  }

  /** push takes a block of float samples and returns the 16-bit samples it completes. */
  push(block) {
    const n = this.taps.length;
    const raw = new Float32Array(this.raw.length + block.length);
    raw.set(this.raw);
    raw.set(block, this.raw.length);
    for (let i = 0; i + n <= raw.length; i++) {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += raw[i + k] * this.taps[k];
      this.filtered.push(acc);
    }
    this.raw = raw.slice(raw.length - (n - 1));
    const out = [];
    while (this.pos + 1 < this.filtered.length) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      out.push(toInt16(this.filtered[i] * (1 - frac) + this.filtered[i + 1] * frac));
      this.pos += this.step;
    }
    // The next position may lie past the samples at hand: it is kept
    // relative to the first sample still to come.
    const used = Math.min(Math.floor(this.pos), this.filtered.length);
    this.filtered = this.filtered.slice(used);
    this.pos -= used;
    return Int16Array.from(out);
  }
}

function lowPass(cutoff, n) {
  const mid = (n - 1) / 2;
  const taps = [];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const hann = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    taps.push(sinc * hann);
    sum += sinc * hann;
  }
  return taps.map((t) => t / sum);
}

function toInt16(v) {
  const c = Math.max(-1, Math.min(1, v));
  return Math.round(c < 0 ? c * 0x8000 : c * 0x7fff);
}

/**
 * Framer collects 16-bit samples into frames of frameSamples and hands
 * each full one to emit; flush hands over what is left.
 */
export class Framer {
  constructor(frameSamples, emit) {
    this.frameSamples = frameSamples;
    this.emit = emit;
    this.frame = new Int16Array(frameSamples);
    this.filled = 0;
  }

  push(samples) {
    let i = 0;
    while (i < samples.length) {
      const n = Math.min(samples.length - i, this.frameSamples - this.filled);
      this.frame.set(samples.subarray(i, i + n), this.filled);
      this.filled += n;
      i += n;
      if (this.filled === this.frameSamples) {
        this.emit(this.frame);
        this.frame = new Int16Array(this.frameSamples);
        this.filled = 0;
      }
    }
  }

  flush() {
    if (this.filled > 0) this.emit(this.frame.slice(0, this.filled));
    this.frame = new Int16Array(this.frameSamples);
    this.filled = 0;
  }
}

const Base = globalThis.AudioWorkletProcessor ?? class {};

class CaptureProcessor extends Base {
  constructor(options) {
    super();
    const frameSamples = options?.processorOptions?.frameSamples ?? targetRate;
    // sampleRate is the context's rate, a global of the worklet's scope.
    this.resampler = new Pcm16Resampler(globalThis.sampleRate);
    this.framer = new Framer(frameSamples, (f) => this.port.postMessage({ type: "frame", pcm: f.buffer }, [f.buffer]));
    this.peak = 0;
    this.sinceLevel = 0;
    this.port.onmessage = (e) => {
      if (e.data?.type === "flush") {
        this.framer.flush();
        this.port.postMessage({ type: "flushed" });
      }
    };
  }

  process(inputs) {
    const channel = inputs[0]?.[0];
    if (channel && channel.length > 0) {
      for (let i = 0; i < channel.length; i++) this.peak = Math.max(this.peak, Math.abs(channel[i]));
      this.sinceLevel += channel.length;
      if (this.sinceLevel >= globalThis.sampleRate / 10) {
        this.port.postMessage({ type: "level", peak: this.peak });
        this.peak = 0;
        this.sinceLevel = 0;
      }
      this.framer.push(this.resampler.push(channel));
    }
    return true;
  }
}

if (typeof globalThis.registerProcessor === "function") globalThis.registerProcessor("pcm16-capture", CaptureProcessor);
