// UI figures, printed rather than asserted: the gzipped size of what the
// first page loads, the time from navigation to an interactive sign-in
// page, and the time from a token leaving the model service to it being
// painted in the chat. The model is a fake OpenAI-compatible service here
// that records when it sends each piece.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { launchBrowser, repo, startServer } from "./harness.mjs";

const loads = Number(process.env.HEALTHHUB_UI_PERF_LOADS ?? 20);
const chats = Number(process.env.HEALTHHUB_UI_PERF_CHATS ?? 20);

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

// Initial route: index.html and the scripts and styles it names.
const dist = join(repo, "frontend", "dist");
const index = readFileSync(join(dist, "index.html"), "utf8");
let gz = gzipSync(index).length;
for (const m of index.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)) gz += gzipSync(readFileSync(join(dist, m[1]))).length;
console.log(`initial route: ${(gz / 1024).toFixed(1)} KB gzipped (target 250 KB)`);

// A model that answers with numbered pieces, each stamped when it is sent.
const sent = new Map();
const model = createServer((req, res) => {
  if (!req.url.endsWith("/chat/completions")) {
    res.writeHead(404).end();
    return;
  }
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    const id = `tok${Math.random().toString(36).slice(2, 10)}`;
    const pieces = [`${id} `, "is ", "the ", "answer."];
    let i = 0;
    const chunk = (content, finish) =>
      `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 0, model: "fake", choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;
    const next = () => {
      if (i === 0) sent.set(id, Date.now());
      if (i < pieces.length) {
        res.write(chunk(pieces[i++], null));
        setTimeout(next, 40);
      } else {
        res.write(chunk("", "stop"));
        res.end("data: [DONE]\n\n");
      }
    };
    setTimeout(next, 100);
  });
});
await new Promise((r) => model.listen(0, "127.0.0.1", r));
const modelURL = `http://127.0.0.1:${model.address().port}/v1`;

const server = await startServer({ HEALTHHUB_LLM_PROVIDER: "openai", HEALTHHUB_OPENAI_BASE_URL: modelURL, HEALTHHUB_OPENAI_MODEL: "fake", HEALTHHUB_LLM_EXTERNAL: "false" });
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  const interactive = [];
  for (let i = 0; i < loads; i++) {
    const t0 = Date.now();
    await page.goto(`${server.url}/login`, { waitUntil: "commit" });
    await page.getByLabel("E-mail address").waitFor();
    await page.getByLabel("E-mail address").fill("x"); // accepts input: interactive
    interactive.push(Date.now() - t0);
  }
  console.log(`navigation to interactive sign-in page: p50 ${percentile(interactive, 0.5)} ms, p95 ${percentile(interactive, 0.95)} ms over ${loads} loads`);

  await fetch(`${server.url}/api/v1/auth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: "perf@example.org", password: "quiet orchard signal", name: "Perf Patient" }),
  });
  await page.goto(`${server.url}/login`);
  await page.getByLabel("E-mail address").fill("perf@example.org");
  await page.getByLabel("Password").fill("quiet orchard signal");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  await page.goto(`${server.url}/assistant`);
  await page.getByRole("button", { name: "New chat" }).click();
  await page.getByLabel("Message").waitFor();
  // Stamp, after the next paint, each first piece as it appears.
  await page.evaluate(() => {
    window.__painted = {};
    new MutationObserver(() => {
      for (const m of document.body.innerText.matchAll(/tok[a-z0-9]{8}/g)) {
        if (!(m[0] in window.__painted)) {
          window.__painted[m[0]] = 0;
          requestAnimationFrame(() => setTimeout(() => (window.__painted[m[0]] = Date.now()), 0));
        }
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  const painted = [];
  for (let i = 0; i < chats; i++) {
    await page.getByLabel("Message").fill(`Question ${i}`);
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByRole("button", { name: "Ask again" }).waitFor();
    const stamps = await page.evaluate(() => window.__painted);
    for (const [id, at] of Object.entries(stamps)) {
      if (sent.has(id) && at > 0) {
        painted.push(at - sent.get(id));
        sent.delete(id);
      }
    }
  }
  console.log(`first token painted after the model sent it: p50 ${percentile(painted, 0.5)} ms, p95 ${percentile(painted, 0.95)} ms, max ${Math.max(...painted)} ms over ${painted.length} chats (target 50 ms after HealthHub sends it)`);
} finally {
  await browser.close();
  await server.stop();
  model.close();
}
