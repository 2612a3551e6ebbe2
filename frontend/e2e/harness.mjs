// End-to-end harness: starts a real healthhubd (SQLite in a temporary data
// folder, random port) and Debian's Chromium through playwright-core.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = join(here, "..", "..");
/** Screenshots and axe reports go here; `make e2e` prints the folder. */
export const outDir = process.env.HEALTHHUB_E2E_OUT ?? join(repo, ".e2e");
mkdirSync(outDir, { recursive: true });

export const binary = process.env.HEALTHHUB_E2E_BINARY ?? join(repo, "bin", "healthhubd");

// Deadlines for a busy machine (two cores, other builds running): a passing
// scenario never waits them out, a slow one still passes.
const startPatience = 120_000;
/** patience is how long a page action or wait may take before the scenario fails. */
export const patience = 60_000;

/**
 * startServer runs healthhubd until stop() and returns its URL and the
 * one-time setup token it printed.
 */
export async function startServer(env = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "healthhub-e2e-"));
  // HOME and the XDG folders point into the temporary folder too, so nothing
  // the server does can reach the user's real data folder.
  const home = join(dataDir, "home");
  const proc = spawn(binary, ["serve"], {
    env: {
      ...process.env,
      HOME: home,
      XDG_DATA_HOME: join(home, "data"),
      XDG_CONFIG_HOME: join(home, "config"),
      HEALTHHUB_ADDR: "127.0.0.1:0",
      HEALTHHUB_DATA_DIR: dataDir,
      HEALTHHUB_LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let errOut = "";
  proc.stderr.on("data", (d) => (errOut += d));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`healthhubd did not start within ${startPatience / 1000} s:\n${out}\n${errOut}`)), startPatience);
    proc.stdout.on("data", (d) => {
      out += d;
      const url = /HealthHub is running at (\S+)/.exec(out)?.[1];
      const token = /setup\?token=(\S+)/.exec(out)?.[1];
      if (url && token) {
        clearTimeout(timer);
        resolve({ url, token });
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`healthhubd exited with ${code}:\n${out}\n${errOut}`));
    });
  });
  const { url, token } = await ready;
  return {
    url,
    token,
    dataDir,
    logs: () => errOut,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * launchBrowser starts Debian's Chromium, headless, with any extra
 * command-line args a scenario needs (a fake microphone). Its pages and
 * contexts wait up to `patience` for an element or a navigation
 * (Playwright's default is 30 s).
 */
export async function launchBrowser(args = []) {
  const browser = await chromium.launch({
    executablePath: process.env.HEALTHHUB_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage", ...args],
  });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    context.setDefaultTimeout(patience);
    context.setDefaultNavigationTimeout(patience);
    return context;
  };
  const newPage = browser.newPage.bind(browser);
  browser.newPage = async (options) => {
    const page = await newPage(options);
    page.setDefaultTimeout(patience);
    page.setDefaultNavigationTimeout(patience);
    return page;
  };
  return browser;
}

const axeSource = readFileSync(join(here, "..", "node_modules", "axe-core", "axe.min.js"), "utf8");

/**
 * checkAccessibility runs axe-core on the page and returns its serious and
 * critical violations, writing the whole result next to the screenshots.
 */
export async function checkAccessibility(page, name) {
  // The page's CSP forbids inline scripts, so axe goes in through the debugger protocol.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Runtime.evaluate", { expression: axeSource });
  const { result } = await cdp.send("Runtime.evaluate", {
    expression: "axe.run(document, { resultTypes: ['violations'] }).then((r) => JSON.stringify(r.violations))",
    awaitPromise: true,
    returnByValue: true,
  });
  const violations = JSON.parse(result.value);
  const { writeFileSync } = await import("node:fs");
  writeFileSync(join(outDir, `axe-${name}.json`), JSON.stringify(violations, null, 2));
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** describeViolations makes axe's findings readable in a test failure. */
export function describeViolations(violations) {
  return violations.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`).join("\n");
}

/** screenshot saves the page as NAME.png in the output folder. */
export async function screenshot(page, name) {
  await page.screenshot({ path: join(outDir, `${name}.png`), fullPage: true });
}

/**
 * withServerAndBrowser starts a server and a browser before the file's
 * tests and stops them after; the returned object holds them. browserArgs
 * (a function, called then) adds to Chromium's command line.
 */
export function withServerAndBrowser(before, after, { browserArgs = () => [] } = {}) {
  const ctx = { server: null, browser: null };
  before(async () => {
    ctx.server = await startServer();
    ctx.browser = await launchBrowser(await browserArgs());
  });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.stop();
  });
  return ctx;
}

/** apiClient calls the server's API directly, for setting up a scenario. */
export function apiClient(ctx) {
  return async function api(method, path, body, token) {
    const res = await fetch(ctx.server.url + path, {
      method,
      headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
}

/** The first administrator the scenarios create through the setup page. */
export const firstAdmin = { name: "Ada Admin", email: "ada@clinic.example", password: "granite harbour lantern" };

/** createFirstAdmin fills in the server's setup page and waits until the administrator is signed in. */
export async function createFirstAdmin(page, ctx) {
  await page.goto(`${ctx.server.url}/setup?token=${ctx.server.token}`);
  await page.getByLabel("Your name").fill(firstAdmin.name);
  await page.getByLabel("E-mail address").fill(firstAdmin.email);
  await page.getByLabel("Password (at least 10 characters)").fill(firstAdmin.password);
  await page.getByLabel("Password again").fill(firstAdmin.password);
  await page.getByRole("button", { name: "Create administrator" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

/** signIn signs who ({ email, password }) in on the sign-in page of ctx's server. */
export async function signIn(page, ctx, who) {
  await page.goto(`${ctx.server.url}/login`);
  await page.getByLabel("E-mail address").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}
