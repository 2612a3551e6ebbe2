// Scenario: emergency access from the request to the privacy officer's
// review, from an empty data folder. The first administrator is made on the
// setup page; a doctor and a patient the doctor has never treated are made
// over the API. The doctor opens the patient's page, is told they do not
// treat the patient, asks for emergency access (a reason is required and a
// wrong password refused), reads the record under a banner saying until when
// and that every view is recorded, and adds an allergy. The administrator is
// notified, finds the use on the Emergency access review page with what was
// done under it, and records that it was not justified, with a note.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiClient, checkAccessibility, createFirstAdmin, describeViolations, firstAdmin, screenshot, signIn, withServerAndBrowser } from "./harness.mjs";

const ctx = withServerAndBrowser(before, after);
const api = apiClient(ctx);

const doctor = { name: "Dr Nora Night", email: "nora.night@clinic.example", password: "lantern orchard pebble", specialization: "Emergency medicine" };
const patientName = "Quentin Quiet";

async function newPage() {
  const page = await (await ctx.browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  return page;
}

async function accessible(page, name) {
  const bad = await checkAccessibility(page, name);
  assert.equal(bad.length, 0, describeViolations(bad));
}

test("emergency access: refused record, request, banner, privacy officer's review", async () => {
  const admin = await newPage();
  await createFirstAdmin(admin, ctx);
  const { access_token: adminToken } = await api("POST", "/api/v1/auth/login", { email: firstAdmin.email, password: firstAdmin.password });
  await api("POST", "/api/v1/doctors", { email: doctor.email, password: doctor.password, name: doctor.name, specialization: doctor.specialization }, adminToken);
  const patient = await api("POST", "/api/v1/patients", { name: patientName, date_of_birth: "1958-11-23" }, adminToken);

  // The doctor opens a record of someone they do not treat.
  const doc = await newPage();
  await signIn(doc, ctx, doctor);
  await doc.goto(`${ctx.server.url}/patients/${patient.id}`);
  await doc.getByRole("heading", { name: "You do not treat this patient" }).waitFor();
  assert.equal(await doc.getByText(patientName).count(), 0, "the refused record shows nothing of the patient");
  await accessible(doc, "emergency-refused");
  await screenshot(doc, "emergency-1-refused");

  // Emergency access: the dialog asks for a reason and the password.
  await doc.getByRole("button", { name: "Emergency access" }).click();
  const dialog = doc.getByRole("dialog", { name: "Emergency access to this record" });
  await dialog.waitFor();
  await dialog.getByRole("button", { name: "Open the record" }).click();
  await dialog.getByText("Choose the reason you need this record.").waitFor();
  await dialog.getByLabel("Reason").selectOption({ label: "Life-threatening emergency" });
  await dialog.getByLabel("Details").fill("Brought in unresponsive at 02:10; checking allergies before treatment.");
  await dialog.getByLabel("Your password").fill("not my password at all");
  await dialog.getByRole("button", { name: "Open the record" }).click();
  await dialog.getByText("That password is not correct.").waitFor();
  await accessible(doc, "emergency-dialog");
  await screenshot(doc, "emergency-2-dialog");
  await dialog.getByLabel("Your password").fill(doctor.password);
  await dialog.getByRole("button", { name: "Open the record" }).click();

  // The record opens under the banner.
  await doc.getByRole("heading", { name: patientName }).waitFor();
  const banner = doc.getByRole("status").filter({ hasText: "Emergency access until" });
  await banner.waitFor();
  assert.match(await banner.innerText(), /^Emergency access until \d{1,2}:\d{2}( [AP]M)? — every view is recorded$/);
  assert.equal(await doc.getByRole("dialog").count(), 0, "the dialog closed");
  await doc.getByLabel("Description").fill("Penicillin");
  await doc.getByLabel("Detail (reaction, dose, …)").fill("anaphylaxis");
  await doc.getByRole("button", { name: "Add entry" }).click();
  await doc.getByRole("list", { name: "Allergies" }).getByText("Penicillin").waitFor();
  await accessible(doc, "emergency-record");
  await screenshot(doc, "emergency-3-record-open");
  assert.deepEqual(doc.errors, []);

  // The administrator, a privacy officer, was told at once.
  const notes = await api("GET", "/api/v1/notifications", undefined, adminToken);
  assert.equal(notes.notifications.filter((n) => n.kind === "emergency_access").length, 1, JSON.stringify(notes));

  // The review page, from the navigation.
  await admin.getByRole("link", { name: "Emergency access review" }).click();
  await admin.getByRole("heading", { name: "Emergency access review", level: 1 }).waitFor();
  const item = admin.getByRole("listitem").filter({ has: admin.getByRole("heading", { name: `${doctor.name} opened the record of ${patientName}` }) });
  await item.waitFor();
  await item.getByText("Life-threatening emergency — Brought in unresponsive").waitFor();
  await item.getByText("Added to the medical record").waitFor();
  await item.getByText("Read the medical record").first().waitFor();
  await item.getByLabel("Not justified").check();
  await item.getByRole("button", { name: "Record decision" }).click();
  await item.getByText("Say why it was not justified; the note is kept with the decision.").waitFor();
  await accessible(admin, "emergency-review");
  await screenshot(admin, "emergency-4-review");
  await item.getByLabel("Note").fill("The on-call doctor for this patient was reachable.");
  await item.getByRole("button", { name: "Record decision" }).click();
  await admin.getByText(`${doctor.name}: recorded as Not justified.`).waitFor();
  await admin.getByText("No use of emergency access awaits a decision.").waitFor();
  await admin.getByRole("button", { name: "All" }).click();
  await admin.getByText("Not justified: The on-call doctor for this patient was reachable.", { exact: false }).waitFor();
  await screenshot(admin, "emergency-5-decided");
  assert.deepEqual(admin.errors, []);
});
