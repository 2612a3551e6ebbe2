// Scenario: the administrator opens Retention, is refused an audit period
// under the legal floor, keeps clinical records longer, places a legal hold
// on a patient found by name and lifts it again; the server holds what the
// page says, and the audit log has the changes.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiClient, checkAccessibility, createFirstAdmin, describeViolations, firstAdmin, screenshot, withServerAndBrowser } from "./harness.mjs";

const ctx = withServerAndBrowser(before, after);
const api = apiClient(ctx);

test("admin sets retention and places a legal hold", async () => {
  const context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-US" });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await createFirstAdmin(page, ctx);
  const admin = (await api("POST", "/api/v1/auth/login", { email: firstAdmin.email, password: firstAdmin.password })).access_token;
  const patient = await api("POST", "/api/v1/patients", { name: "Greta Holdsworth", date_of_birth: "1951-06-07" }, admin);

  await page.getByRole("link", { name: "Retention" }).click();
  await page.getByRole("heading", { name: "Retention", level: 1 }).waitFor();
  const clinical = page.getByLabel("Clinical records (years after the last contact)");
  const audit = page.getByLabel("Audit events (years)");
  assert.equal(await clinical.inputValue(), "10");
  assert.equal(await audit.inputValue(), "6");
  const bad = await checkAccessibility(page, "retention");
  assert.equal(bad.length, 0, describeViolations(bad));

  // Under the floor: refused next to the field, nothing saved.
  await audit.fill("3");
  await page.getByRole("button", { name: "Save retention" }).click();
  await page.getByText("At least 6 years.", { exact: true }).waitFor();
  assert.equal(await audit.getAttribute("aria-invalid"), "true");
  assert.equal((await api("GET", "/api/v1/retention", undefined, admin)).audit_events_years, 6);

  await audit.fill("7");
  await clinical.fill("12");
  await page.getByRole("button", { name: "Save retention" }).click();
  await page.getByText("Retention saved.").waitFor();
  const policy = await api("GET", "/api/v1/retention", undefined, admin);
  assert.equal(policy.clinical_records_years, 12);
  assert.equal(policy.audit_events_years, 7);

  // A legal hold on the patient, found by name.
  await page.getByLabel("Find a patient").fill("Holds");
  await page.getByRole("option", { name: "Greta Holdsworth · 1951-06-07" }).waitFor({ state: "attached" });
  await page.getByLabel("Patient", { exact: true }).selectOption(patient.id);
  await page.getByLabel("Reason (the matter or request)").fill("Records request 2026-41");
  await page.getByRole("button", { name: "Place hold" }).click();
  await page.getByText("Greta Holdsworth is on legal hold.").waitFor();
  const holds = page.getByRole("list", { name: "Legal holds" });
  await holds.getByText("Greta Holdsworth").waitFor();
  const held = (await api("GET", "/api/v1/legal-holds", undefined, admin)).holds;
  assert.deepEqual(held.map((h) => [h.patient_id, h.reason]), [[patient.id, "Records request 2026-41"]]);
  await screenshot(page, "admin-retention");

  // A purge counted now leaves the held patient alone.
  await page.getByRole("button", { name: "Count what would be purged now" }).click();
  await page.getByText("A purge now would remove 0 patients' records; 1 patients are on legal hold.").waitFor();

  await page.getByRole("button", { name: "Lift the legal hold of Greta Holdsworth" }).click();
  await page.getByText("The legal hold of Greta Holdsworth is lifted.").waitFor();
  await page.getByText("No patient is on legal hold.").waitFor();
  assert.equal((await api("GET", "/api/v1/legal-holds", undefined, admin)).holds.length, 0);

  const events = (await api("GET", `/api/v1/audit/events?patient_id=${patient.id}`, undefined, admin)).events;
  assert.ok(events.some((e) => e.resource_type === "legal_hold" && e.action === "create"), "placing the hold is not in the audit log");
  assert.ok(events.some((e) => e.resource_type === "legal_hold" && e.action === "delete"), "lifting the hold is not in the audit log");
  assert.deepEqual(errors, []);
  await context.close();
});
