// Types of the worklet's exports, for the unit tests.
export declare class Pcm16Resampler {
  constructor(inputRate: number);
  push(block: Float32Array): Int16Array;
}
export declare class Framer {
  constructor(frameSamples: number, emit: (frame: Int16Array) => void);
  push(samples: Int16Array): void;
  flush(): void;
}
