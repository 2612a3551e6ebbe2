// Scenario: a clinic's installation replicates its database to a second
// disk and takes encrypted snapshots. The administrator sees on the home
// page that backups run and that no restore drill has been done yet; IT
// runs `healthhubd drill` on the server; the home page then shows the
// drill's recovery point and time.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { binary, checkAccessibility, createFirstAdmin, describeViolations, launchBrowser, screenshot, startServer } from "./harness.mjs";

const ctx = { server: null, browser: null };
const backups = mkdtempSync(join(tmpdir(), "healthhub-e2e-backups-"));
const identity = join(backups, "identity.txt");
let env;

before(async () => {
  const keygen = execFileSync(binary, ["backup", "keygen", "--out", identity], { encoding: "utf8" });
  const recipient = /recipient: (age1[0-9a-z]+)/.exec(keygen)?.[1];
  assert.ok(recipient, keygen);
  mkdirSync(join(backups, "second-disk"));
  env = {
    HEALTHHUB_REPLICA_DIR: join(backups, "second-disk"),
    HEALTHHUB_BACKUP_DIR: join(backups, "nas"),
    HEALTHHUB_BACKUP_RECIPIENTS: recipient,
    HEALTHHUB_CANARY_EVERY: "200ms",
  };
  ctx.server = await startServer(env);
  ctx.browser = await launchBrowser();
});
after(async () => {
  await ctx.browser?.close();
  await ctx.server?.stop();
  rmSync(backups, { recursive: true, force: true });
});

async function lastReplicated() {
  const text = await (await fetch(ctx.server.url + "/metrics")).text();
  return Number(/^healthhub_backup_last_replication_timestamp_seconds (\S+)$/m.exec(text)?.[1] ?? 0);
}

test("the admin home shows the backups and, after a restore drill, its figures", async () => {
  const page = await ctx.browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await createFirstAdmin(page, ctx);
  const line = page.locator("li.health").filter({ has: page.getByRole("heading", { name: /^Backups/ }) });
  await line.getByText("Backed up by continuous replication, encrypted snapshots.").waitFor();
  await line.getByText(/No restore drill yet/).waitFor();

  // The drill restores to a moment the replica holds: wait until it holds
  // every commit up to then.
  const target = new Date();
  while ((await lastReplicated()) <= target.getTime() / 1000 + 1) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const cli = { ...process.env, ...env, HEALTHHUB_DATA_DIR: ctx.server.dataDir, HEALTHHUB_LOG_LEVEL: "warn" };
  const drill = execFileSync(binary, ["drill", "--at", target.toISOString(), "--identity", identity], { env: cli, encoding: "utf8" });
  assert.match(drill, /restore drill PASSED/);

  await page.reload();
  await line.getByText(/Last restore drill .* passed: recovery point [\d.]+ s, recovery time [\d.]+ s\./).waitFor();
  await line.getByText(/Last replicated/).waitFor();
  assert.equal(await line.getByRole("alert").count(), 0, "no backup alarm on a healthy installation");
  const bad = await checkAccessibility(page, "admin-home-backups");
  assert.equal(bad.length, 0, describeViolations(bad));
  await line.scrollIntoViewIfNeeded();
  await screenshot(page, "admin-home-backups");
  assert.deepEqual(errors, []);
});
