import { describe, expect, it } from "vitest";
import { readEvents, SSEParser } from "./sse";

describe("SSEParser", () => {
  it("reads events split anywhere, with CRLF, comments and multi-line data", () => {
    const stream = 'event: delta\r\ndata: {"text":"Hel"}\r\n\r\n: keep-alive\n\nevent: delta\ndata: {"text":"lo"}\n\ndata: line one\ndata: line two\n\n';
    for (const size of [1, 2, 3, 7, stream.length]) {
      const p = new SSEParser();
      const got = [];
      for (let i = 0; i < stream.length; i += size) got.push(...p.push(stream.slice(i, i + size)));
      expect(got, `chunks of ${size}`).toEqual([
        { event: "delta", data: '{"text":"Hel"}' },
        { event: "delta", data: '{"text":"lo"}' },
        { event: "message", data: "line one\nline two" },
      ]);
    }
  });

  it("keeps an unfinished event until its blank line", () => {
    const p = new SSEParser();
    expect(p.push("event: done\ndata: {}")).toEqual([]);
    expect(p.push("\n\n")).toEqual([{ event: "done", data: "{}" }]);
  });
});

describe("readEvents", () => {
  it("decodes UTF-8 split across chunks and ends the last event", async () => {
    const bytes = new TextEncoder().encode("event: delta\ndata: café ☕\n\nevent: done\ndata: {}");
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(new Uint8Array([b]));
        c.close();
      },
    });
    const got = [];
    for await (const e of readEvents(body)) got.push(e);
    expect(got).toEqual([
      { event: "delta", data: "data: café ☕".slice(6) },
      { event: "done", data: "{}" },
    ]);
  });
});
