import { describe, expect, it } from "vitest";
import type { TranscriptSegment } from "./api";
import { mergeSegments, passages } from "./TranscriptPanel";

const seg = (id: string, start_ms: number, end_ms: number, text: string, speaker?: string): TranscriptSegment => ({ id, recording_id: "r1", consultation_id: "c1", start_ms, end_ms, text, speaker, created_at: "" });

describe("passages", () => {
  it("joins words said without a pause by one speaker, and starts anew after a pause, with another speaker, or when long", () => {
    const words = [
      seg("a", 0, 400, "the"),
      seg("b", 450, 900, "patient"),
      seg("c", 950, 1400, "reports"),
      seg("d", 3500, 4000, "chest"),
      seg("e", 4100, 4500, "pain", "spk_1"),
      seg("f", 4600, 5000, "yes", "spk_1"),
    ];
    expect(passages(words)).toEqual([
      { id: "a", start_ms: 0, speaker: undefined, text: "the patient reports" },
      { id: "d", start_ms: 3500, speaker: undefined, text: "chest" },
      { id: "e", start_ms: 4100, speaker: "spk_1", text: "pain yes" },
    ]);
    const long = Array.from({ length: 30 }, (_, i) => seg(`w${i}`, i * 1000, i * 1000 + 900, "word"));
    expect(passages(long).map((p) => p.start_ms)).toEqual([0, 20000]);
  });
});

describe("mergeSegments", () => {
  it("adds each segment once, keeping the recordings", () => {
    const tr = { segments: [seg("a", 0, 1, "x")], recordings: [] };
    expect(mergeSegments(tr, [seg("a", 0, 1, "x"), seg("b", 2, 3, "y")]).segments.map((s) => s.id)).toEqual(["a", "b"]);
    expect(mergeSegments(undefined, [seg("b", 2, 3, "y")])).toEqual({ segments: [seg("b", 2, 3, "y")], recordings: [] });
  });
});
