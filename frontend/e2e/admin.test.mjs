// Scenario: the administrator adds a knowledge folder and watches it index,
// including a file that cannot be read, creates and disables an account,
// then verifies the audit chain.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { checkAccessibility, describeViolations, screenshot, withServerAndBrowser, createFirstAdmin } from "./harness.mjs";

const ctx = withServerAndBrowser(before, after);

test("admin adds a knowledge folder, sees it indexed with its failures, and verifies the audit chain", async (t) => {
  const folder = mkdtempSync(join(tmpdir(), "healthhub-e2e-docs-"));
  t.after(() => rmSync(folder, { recursive: true, force: true }));
  for (let i = 1; i <= 12; i++) {
    writeFileSync(join(folder, `policy-${i}.md`), `# Policy ${i}\n\n## Scope\n\nThe zebrafinch procedure number ${i} applies to every visit.\n`);
  }
  writeFileSync(join(folder, "scanned.pdf"), Buffer.from("%PDF-1.4\nthis is not really a PDF\n"));

  const page = await ctx.browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await createFirstAdmin(page, ctx);
  await page.getByRole("link", { name: "Knowledge" }).click();
  await page.getByRole("heading", { name: "Knowledge sources" }).waitFor();

  // A path that is not a folder is refused next to the field.
  await page.getByLabel("Folder on the server").fill(join(folder, "missing"));
  await page.getByRole("button", { name: "Add and index" }).click();
  await page.locator("#path-error, .error-banner").first().waitFor();

  await page.getByLabel("Folder on the server").fill(folder);
  await page.getByLabel("Who may see answers from it").selectOption("staff");
  await page.getByRole("button", { name: "Add and index" }).click();
  const row = page.locator(".source").filter({ hasText: folder });
  await row.getByText("12 indexed").waitFor();
  await row.getByText("1 failed").waitFor();
  await row.getByRole("button", { name: "Show files that failed" }).click();
  await row.getByText("scanned.pdf").waitFor();
  const bad = await checkAccessibility(page, "knowledge");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(page, "admin-knowledge");

  // Accounts: a mistake is shown by its field; then a staff account is created and disabled.
  await page.getByRole("link", { name: "Users" }).click();
  await page.getByRole("heading", { name: "Users and roles" }).waitFor();
  await page.getByLabel("Full name").fill("Sam Staff");
  await page.getByLabel("E-mail address").fill("sam@clinic.example");
  await page.getByLabel("Password (at least 10 characters)").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.locator("#new-password-error").waitFor();
  await page.getByLabel("Password (at least 10 characters)").fill("willow copper meadow");
  await page.getByLabel("Role", { exact: true }).selectOption("staff");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByText("Account created for Sam Staff.").waitFor();
  const sam = page.locator(".user-row").filter({ hasText: "sam@clinic.example" });
  await sam.getByRole("button", { name: "Disable" }).click();
  await sam.getByText(/disabled/).waitFor();
  const users = await checkAccessibility(page, "users");
  assert.equal(users.length, 0, describeViolations(users));
  await screenshot(page, "admin-users");
  const refused = await fetch(`${ctx.server.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: "sam@clinic.example", password: "willow copper meadow" }),
  });
  assert.ok(refused.status >= 400 && refused.status < 500, `a disabled account signed in: ${refused.status}`);

  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("heading", { name: "Audit log" }).waitFor();
  await page.locator("table.audit tbody tr").first().waitFor();
  await page.getByRole("button", { name: "Verify chain" }).click();
  const result = page.getByText(/The chain is intact: \d+ events/);
  await result.waitFor();
  const audit = await checkAccessibility(page, "audit");
  assert.equal(audit.length, 0, describeViolations(audit));
  await screenshot(page, "admin-audit-verified");

  assert.deepEqual(errors, []);
});
