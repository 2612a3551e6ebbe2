// A transcription server for the browser scenarios: it speaks OpenAI's
// POST /v1/audio/transcriptions (multipart, field "file", verbose JSON with
// timed segments) and recognises the audio with Debian's pocketsphinx
// listening for a small clinical grammar, one segment per word. It also
// makes the speech the scenarios feed to Chromium's fake microphone.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The words the recogniser listens for. */
export const clinicalGrammar = `#JSGF V1.0;
grammar clinical;
public <utterance> = <word>+;
<word> = the | patient | reports | chest | pain | and | shortness | of | breath | prescribe | aspirin | check | blood | pressure |
         fever | cough | headache | nausea | since | yesterday | with | no | allergies;
`;

/** The tools a scenario with speech needs, and the Debian packages that have them. */
export const speechTools = ["pocketsphinx_continuous", "espeak-ng", "sox"];
export const speechPackages = "pocketsphinx pocketsphinx-en-us espeak-ng sox";

/** missingSpeechTools lists the tools (and the recogniser's model) that are not installed. */
export async function missingSpeechTools() {
  const missing = [];
  for (const tool of speechTools) {
    try {
      await run("sh", ["-c", `command -v ${tool}`]);
    } catch {
      missing.push(tool);
    }
  }
  // The recogniser's English model comes in a package of its own.
  if (!existsSync("/usr/share/pocketsphinx/model/en-us")) missing.push("the pocketsphinx-en-us model");
  return missing;
}

/**
 * speak writes text as speech to a 16 kHz mono 16-bit WAV file in dir
 * (espeak-ng, then sox), with a second of silence after it so that the
 * looping fake microphone leaves a pause between repeats.
 */
export async function speak(dir, text) {
  const said = join(dir, "said.wav");
  const wav = join(dir, "speech-16k.wav");
  await run("espeak-ng", ["-v", "en-us", "-s", "140", "-w", said, text]);
  await run("sox", [said, "-r", "16000", "-c", "1", "-b", "16", wav, "pad", "0.3", "1"]);
  return wav;
}

/** parseSphinx turns pocketsphinx_continuous -time yes output into word segments. */
export function parseSphinx(out) {
  const segments = [];
  for (const line of out.split("\n")) {
    const f = line.trim().split(/\s+/);
    // "word start end confidence"; the utterance line, silences and fillers are left out.
    if (f.length !== 4 || f[0].startsWith("<") || f[0].startsWith("(") || f[0].startsWith("[")) continue;
    const start = Number(f[1]);
    const end = Number(f[2]);
    if (!Number.isFinite(start) || !Number.isFinite(end)) continue;
    segments.push({ id: segments.length, start, end, text: f[0].replace(/\(\d+\)$/, "") });
  }
  return segments;
}

/** fileOf returns the bytes of the multipart body's part named name, or null. */
export function fileOf(body, contentType, name) {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType ?? "");
  if (!boundary) return null;
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const next = body.indexOf(delimiter, at + delimiter.length);
    if (next === -1) break;
    const part = body.subarray(at + delimiter.length, next);
    const headEnd = part.indexOf("\r\n\r\n");
    if (headEnd !== -1) {
      const head = part.subarray(0, headEnd).toString("utf8");
      if (new RegExp(`name="${name}"`).test(head)) {
        // The part's bytes end before the CRLF that precedes the next delimiter.
        return part.subarray(headEnd + 4, part.length - 2);
      }
    }
    at = next;
  }
  return null;
}

/**
 * startSphinxServer listens on a random loopback port until close(). It
 * keeps what it heard (heard()) and how many requests it answered.
 */
export async function startSphinxServer() {
  const dir = mkdtempSync(join(tmpdir(), "healthhub-sphinx-"));
  const grammar = join(dir, "clinical.gram");
  writeFileSync(grammar, clinicalGrammar);
  const words = [];
  let requests = 0;
  let files = 0;
  const server = createServer((req, res) => {
    const reply = (status, body) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "POST" || !req.url?.endsWith("/audio/transcriptions")) return reply(404, { error: { message: `no route ${req.method} ${req.url}` } });
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      requests++;
      const audio = fileOf(Buffer.concat(chunks), req.headers["content-type"], "file");
      if (!audio || audio.length === 0) return reply(400, { error: { message: "no file" } });
      const path = join(dir, `chunk-${++files}.wav`);
      writeFileSync(path, audio);
      try {
        const { stdout } = await run("pocketsphinx_continuous", ["-infile", path, "-jsgf", grammar, "-time", "yes", "-logfn", "/dev/null"], { maxBuffer: 16 << 20 });
        const segments = parseSphinx(stdout);
        words.push(...segments.map((s) => s.text));
        reply(200, { task: "transcribe", text: segments.map((s) => s.text).join(" "), segments });
      } catch (err) {
        reply(500, { error: { message: `recogniser failed: ${err.message}` } });
      } finally {
        rmSync(path, { force: true });
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/v1`,
    dir,
    heard: () => [...words],
    requests: () => requests,
    async close() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
