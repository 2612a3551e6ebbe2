// Scenario: a clinic's first day, from an empty data folder and through the
// UI alone. The first administrator is made on the setup page; they make a
// doctor and a front-desk account on the Users page; the doctor publishes
// their hours; a patient registers and books the doctor; the front desk
// checks the patient in from the clinic's day. Each role's home page is
// looked at (screenshots in .e2e/). Last, the patient tries another
// patient's record over the API, as an attacker would, and the
// administrator finds the refusal in the audit log by that patient.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiClient, checkAccessibility, createFirstAdmin, describeViolations, screenshot, withServerAndBrowser, signIn } from "./harness.mjs";

const ctx = withServerAndBrowser(before, after);

const doctor = { name: "Dr Sam Lee", email: "sam.lee@clinic.example", password: "maple river compass", specialization: "General practice" };
const frontDesk = { name: "Rita Reception", email: "rita@clinic.example", password: "copper window meadow" };
const patient = { name: "Pat Patient", email: "pat@example.org", password: "blue kettle morning tide", born: "1990-04-12" };

/** A page of its own (cookies and storage apart), failing on any script error. */
async function newPage(width = 1280, height = 900) {
  const page = await (await ctx.browser.newContext({ viewport: { width, height } })).newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(e.message));
  return page;
}

async function accessible(page, name) {
  const bad = await checkAccessibility(page, name);
  assert.equal(bad.length, 0, describeViolations(bad));
}

/** createAccount fills the Users page's form; extra fills the fields a role adds. */
async function createAccount(page, who, role, extra = async () => {}) {
  const form = page.locator("form").filter({ has: page.getByRole("button", { name: "Create account" }) });
  await form.getByLabel("Full name").fill(who.name);
  await form.getByLabel("E-mail address").fill(who.email);
  await form.getByLabel("Password (at least 10 characters)").fill(who.password);
  await form.getByLabel("Role").selectOption(role);
  await extra(form);
  await form.getByRole("button", { name: "Create account" }).click();
  await page.getByText(`Account created for ${who.name}.`).waitFor();
}

/** isoDay is a date as the date inputs take it, in this browser's zone. */
function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

test("a clinic's first day: administrator, doctor, front desk, patient", async () => {
  // The administrator opens the link the new server printed.
  const admin = await newPage();
  await createFirstAdmin(admin, ctx);
  await admin.getByRole("link", { name: "Home" }).click();
  await admin.getByRole("heading", { name: "Installation health" }).waitFor();
  await accessible(admin, "first-day-home-admin");
  await screenshot(admin, "home-admin-first-run");

  // A doctor, made on the Users page: the doctor role asks for the
  // specialization and offers the clinic's time zone.
  await admin.getByRole("link", { name: "Users" }).click();
  await admin.getByRole("heading", { name: "Create an account" }).waitFor();
  await createAccount(admin, doctor, "doctor", async (form) => {
    await form.getByLabel("Specialization").fill(doctor.specialization);
    const zone = form.getByLabel("Time zone");
    assert.notEqual(await zone.inputValue(), "", "the doctor's time zone starts empty");
    assert.ok((await zone.locator("option").count()) > 50, "the time zone is chosen from the IANA list");
  });
  await accessible(admin, "first-day-users");
  await createAccount(admin, frontDesk, "staff");
  const users = admin.getByRole("list", { name: "Users and roles" });
  await users.getByText(doctor.name).waitFor();
  assert.equal(await admin.getByText(/no doctor profile/).count(), 0, "the new doctor lacks a profile");
  await screenshot(admin, "first-day-users");

  // The doctor signs in and publishes hours on every day of the week, the
  // whole day long, so that the day has a free time whenever this runs.
  const doc = await newPage();
  await signIn(doc, ctx, doctor);
  await doc.getByRole("link", { name: "Hours" }).click();
  await doc.getByRole("heading", { name: "Bookable hours" }).waitFor();
  for (const day of ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]) {
    await doc.getByRole("checkbox", { name: day }).check();
    await doc.getByLabel(`${day} From`).fill("00:00");
    await doc.getByLabel(`${day} To`).fill("23:59");
  }
  await doc.getByRole("button", { name: "Save hours" }).click();
  await doc.getByText("Saved. Patients see the new hours at once.").waitFor();

  // A patient creates an account from the sign-in page and books the
  // doctor's first free time.
  const pat = await newPage();
  await pat.goto(`${ctx.server.url}/login`);
  await pat.getByRole("link", { name: "New patient? Create an account" }).click();
  await pat.getByLabel("Full name").fill(patient.name);
  await pat.getByLabel("E-mail address").fill(patient.email);
  await pat.getByLabel("Date of birth").fill(patient.born);
  await pat.getByLabel("Password (at least 10 characters)").fill(patient.password);
  await pat.getByRole("button", { name: "Create account" }).click();
  await pat.getByRole("button", { name: "Sign out" }).waitFor();
  await pat.getByRole("link", { name: "Book", exact: true }).click();
  await pat.getByLabel("Specialization").selectOption(doctor.specialization);
  await pat.getByLabel("Doctor").selectOption({ label: doctor.name });
  // Today's first free time; after the day's last one, tomorrow's.
  let day = new Date();
  await pat.getByLabel("Day", { exact: true }).fill(isoDay(day));
  const slot = pat.locator(".slot").first();
  const none = pat.getByText(/no free time/i);
  await slot.or(none).first().waitFor();
  if (!(await slot.isVisible())) {
    day = new Date(day.getTime() + 24 * 3600_000);
    await pat.getByLabel("Day", { exact: true }).fill(isoDay(day));
    await slot.waitFor();
  }
  await slot.click();
  await pat.getByLabel("Reason for the visit").fill("first visit");
  await pat.getByRole("button", { name: new RegExp(`^Book .* with ${doctor.name}$`) }).click();
  await pat.getByText(new RegExp(`Booked: .* with ${doctor.name}\\.`)).waitFor();
  await pat.getByRole("link", { name: "Home" }).click();
  await pat.getByText(doctor.name).first().waitFor();
  await accessible(pat, "first-day-home-patient");
  await screenshot(pat, "home-patient");

  // The doctor's home page lists the patient.
  await doc.getByRole("link", { name: "Home" }).click();
  await doc.reload();
  if (isoDay(day) === isoDay(new Date())) await doc.getByText(patient.name).first().waitFor();
  await accessible(doc, "first-day-home-doctor");
  await screenshot(doc, "home-doctor");

  // The front desk checks the patient in from the clinic's day.
  const desk = await newPage();
  await signIn(desk, ctx, frontDesk);
  await accessible(desk, "first-day-home-staff");
  await screenshot(desk, "home-staff");
  await desk.getByRole("link", { name: "Clinic day" }).click();
  await desk.getByRole("heading", { name: "The clinic's day" }).waitFor();
  await desk.getByLabel("Day", { exact: true }).fill(isoDay(day));
  await desk.getByRole("button", { name: `Check in ${patient.name}` }).click();
  await desk.getByText(`${patient.name} is checked in.`).waitFor();
  await accessible(desk, "first-day-clinic-day");
  await screenshot(desk, "first-day-checked-in");

  // The patient's appointment now says so, for the patient too.
  await pat.getByRole("link", { name: "Appointments" }).click();
  await pat.getByText(/arrived|checked in/i).first().waitFor();

  // The patient asks the API for another patient's record: refused, and the
  // administrator finds the refusal under that patient in the audit log.
  const api = apiClient(ctx);
  const other = { name: "Olga Other", email: "olga@example.org", password: "quiet harbour lamp post" };
  const { patient_id: otherID } = await api("POST", "/api/v1/auth/register", other);
  const { access_token: token } = await api("POST", "/api/v1/auth/login", { email: patient.email, password: patient.password });
  const refused = await fetch(`${ctx.server.url}/api/v1/patients/${otherID}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(refused.status, 403);
  await admin.getByRole("link", { name: "Audit log" }).click();
  await admin.getByRole("heading", { name: "Audit log" }).waitFor();
  await admin.getByLabel("Patient id").fill(otherID);
  await admin.getByRole("button", { name: "Filter" }).click();
  const refusal = admin.locator("table.audit tbody tr").filter({ hasText: `${patient.name} tried to` });
  await refusal.first().waitFor();
  assert.match(await refusal.first().innerText(), /Olga Other[\s\S]*denied/);
  await screenshot(admin, "first-day-audit-refusal");

  // The administrator's home page counts the accounts by role.
  await admin.getByRole("link", { name: "Home" }).click();
  await admin.reload();
  await admin.getByRole("heading", { name: "Installation health" }).waitFor();
  await screenshot(admin, "home-admin");

  for (const page of [admin, doc, pat, desk]) assert.deepEqual(page.errors, []);
});
