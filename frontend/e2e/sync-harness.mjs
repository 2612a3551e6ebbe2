// What the sync scenarios share: a clinic's server (upstream) and a
// front-desk workstation (node), separate healthhubd processes on SQLite
// with the TCP proxy between them, one browser, the people who use them,
// and small helpers. syncWorld registers the before and after hooks of the
// calling test file.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { apiClient, checkAccessibility, describeViolations, launchBrowser, startServer } from "./harness.mjs";
import { startProxy } from "./proxy.mjs";

export const upAdmin = { name: "Ada Admin", email: "ada@clinic.example", password: "granite harbour lantern" };
export const nodeAdmin = { name: "Nia Node", email: "nia@clinic.example", password: "willow copper harbour" };
export const nodeDesk = { name: "Rita Reception", email: "rita@clinic.example", password: "cedar lantern orbit" };
export const doctor = { name: "Dr Sam Lee", email: "sam.lee@clinic.example", password: "maple river compass", specialization: "General practice" };
export const workstation = "Front desk workstation";

/** syncWorld starts both servers, the proxy and the browser before the file's tests and stops them after. */
export function syncWorld() {
  const upstream = { server: null };
  const node = { server: null };
  const ctx = { proxy: null, browser: null };
  before(async () => {
    upstream.server = await startServer();
    ctx.proxy = await startProxy(new URL(upstream.server.url));
    // The node syncs every 200 ms, and retries as quickly after a failure.
    node.server = await startServer({ HEALTHHUB_SYNC_INTERVAL: "200ms" });
    ctx.browser = await launchBrowser();
  });
  after(async () => {
    await ctx.browser?.close();
    await node.server?.stop();
    await ctx.proxy?.close();
    await upstream.server?.stop();
  });
  return { upstream, node, ctx, upApi: apiClient(upstream), nodeApi: apiClient(node) };
}

export const login = (api, who) => api("POST", "/api/v1/auth/login", { email: who.email, password: who.password }).then((r) => r.access_token);

/** isoDay is a date as the date inputs take it, in this browser's zone. */
export function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** A page of its own (cookies and storage apart), failing on any script error. */
export async function newPage(ctx, errors) {
  const page = await (await ctx.browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on("pageerror", (e) => errors.push(e.message));
  return page;
}

export async function accessible(page, name) {
  const bad = await checkAccessibility(page, name);
  assert.equal(bad.length, 0, describeViolations(bad));
}
