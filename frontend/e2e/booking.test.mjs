// Scenario: a patient registers in the UI, books a free slot, sees it in the list and
// cancels it; the doctor's open schedule shows the booking, then its
// cancellation, live, without a reload.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiClient, checkAccessibility, describeViolations, screenshot, withServerAndBrowser, signIn } from "./harness.mjs";

const ctx = withServerAndBrowser(before, after);

const api = apiClient(ctx);

test("patient books and cancels, staff book for a walk-in; the doctor sees it all live", async () => {
  // The clinic: an administrator, and a doctor who takes bookings every day.
  await api("POST", "/api/v1/setup", { token: ctx.server.token, email: "admin@clinic.example", name: "Ada Admin", password: "granite harbour lantern" });
  const admin = (await api("POST", "/api/v1/auth/login", { email: "admin@clinic.example", password: "granite harbour lantern" })).access_token;
  const doctor = await api("POST", "/api/v1/doctors", { email: "dr.lee@clinic.example", password: "maple river compass", name: "Dr Sam Lee", specialization: "General practice" }, admin);
  await api("PUT", `/api/v1/doctors/${doctor.id}/availability`, {
    time_zone: "UTC",
    slot_minutes: 30,
    weekly: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, start: "08:00", end: "18:00" })),
    exceptions: [],
  }, admin);

  const doctorPage = await (await ctx.browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage();
  await signIn(doctorPage, ctx, { email: "dr.lee@clinic.example", password: "maple river compass" });
  await doctorPage.getByRole("link", { name: "Schedule" }).click();
  await doctorPage.getByRole("heading", { name: "My schedule" }).waitFor();

  const page = await (await ctx.browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("dialog", (d) => void d.accept());
  // The patient creates an account from the sign-in page.
  await page.goto(`${ctx.server.url}/login`);
  await page.getByRole("link", { name: "New patient? Create an account" }).click();
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByText("Enter your date of birth.").waitFor();
  await page.getByLabel("Full name").fill("Pat Patient");
  await page.getByLabel("E-mail address").fill("pat@example.org");
  await page.getByLabel("Date of birth").fill("1990-04-12");
  await page.getByLabel("Password (at least 10 characters)").fill("blue kettle morning tide");
  let bad = await checkAccessibility(page, "register");
  assert.equal(bad.length, 0, describeViolations(bad));
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  await page.getByRole("link", { name: "Book", exact: true }).click();
  await page.getByLabel("Specialization").selectOption("General practice");
  await page.getByLabel("Doctor").selectOption({ label: "Dr Sam Lee" });
  const tomorrow = new Date(Date.now() + 24 * 3600_000);
  const day = `${tomorrow.getFullYear()}-${String(tomorrow.getMonth() + 1).padStart(2, "0")}-${String(tomorrow.getDate()).padStart(2, "0")}`;
  await page.getByLabel("Day").fill(day);
  const first = page.locator(".slot").first();
  await first.waitFor();
  await first.click();
  await page.getByLabel("Reason for the visit").fill("flu symptoms");
  bad = await checkAccessibility(page, "book");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(page, "booking-confirm");
  await page.getByRole("button", { name: /^Book .* with Dr Sam Lee$/ }).click();

  await page.getByRole("heading", { name: "My appointments" }).waitFor();
  await page.getByText(/Booked: .* with Dr Sam Lee\./).waitFor();
  const item = page.locator(".appointment").filter({ hasText: "flu symptoms" });
  await item.waitFor();
  bad = await checkAccessibility(page, "appointments");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(page, "booking-list");

  // Rescheduled to another free time the same day; the old time is freed.
  const [mine] = (await api("GET", "/api/v1/appointments", undefined, admin)).appointments;
  await item.getByRole("button", { name: /^Reschedule/ }).click();
  await item.getByLabel("Day").fill(day);
  const later = item.locator(".slot").nth(2);
  await later.waitFor();
  await later.click();
  bad = await checkAccessibility(page, "reschedule");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(page, "booking-reschedule");
  await item.getByRole("button", { name: /^Move to / }).click();
  await page.getByText(/^Moved to .* with Dr Sam Lee\.$/).waitFor();
  const moved = await api("GET", `/api/v1/appointments/${mine.id}`, undefined, admin);
  assert.equal(moved.status, "booked");
  assert.ok(new Date(moved.start) > new Date(mine.start), `moved from ${mine.start} to ${moved.start}`);
  const free = await api("GET", `/api/v1/doctors/${doctor.id}/slots?from=${encodeURIComponent(mine.start)}&to=${encodeURIComponent(mine.end)}`, undefined, admin);
  assert.deepEqual(free.slots.map((s) => new Date(s.start).getTime()), [new Date(mine.start).getTime()], "the old time is free again");

  // The doctor's schedule shows it without a reload.
  const onSchedule = doctorPage.locator(".appointment").filter({ hasText: "Pat Patient" });
  await onSchedule.waitFor();
  assert.match(await onSchedule.textContent(), /flu symptoms/);
  bad = await checkAccessibility(doctorPage, "schedule");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(doctorPage, "doctor-schedule-live");

  // The patient's record shows what the clinic recorded, and the booking notice.
  const found = await api("GET", "/api/v1/patients?q=Pat", undefined, admin);
  const patientID = found.patients.find((p) => p.name === "Pat Patient").id;
  // Their doctor records an allergy (administrators may not write medical records).
  const doctorToken = (await api("POST", "/api/v1/auth/login", { email: "dr.lee@clinic.example", password: "maple river compass" })).access_token;
  await api("POST", `/api/v1/patients/${patientID}/entries`, { kind: "allergy", description: "Penicillin", detail: "rash", status: "active" }, doctorToken);
  await page.getByRole("link", { name: "My record" }).click();
  await page.getByRole("heading", { name: "My record" }).waitFor();
  await page.getByText("Penicillin").waitFor();
  assert.match(await page.locator(".facts").textContent(), /1990-04-12/);
  const unread = page.locator(".appointment.unread").first();
  await unread.waitFor();
  await unread.getByRole("button", { name: "Mark read" }).click();
  bad = await checkAccessibility(page, "record");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(page, "patient-record");

  // The patient keeps their contact details; a bad phone number is refused next to the field.
  await page.getByRole("button", { name: "Edit contact details" }).click();
  await page.getByLabel("Phone", { exact: true }).fill("call me maybe");
  await page.getByLabel("City").fill("Springfield");
  await page.getByLabel("Name of contact 1").fill("Robin Patient");
  await page.getByLabel("Phone of contact 1").fill("+44 20 7946 0000");
  await page.getByLabel("Relationship of contact 1").fill("partner");
  await page.getByRole("button", { name: "Save contact details" }).click();
  await page.locator("#contact-phone-error").waitFor();
  bad = await checkAccessibility(page, "contact-details");
  assert.equal(bad.length, 0, describeViolations(bad));
  await page.getByLabel("Phone", { exact: true }).fill("+44 20 7946 0018");
  await page.getByRole("button", { name: "Save contact details" }).click();
  await page.getByText("Your contact details are saved.").waitFor();
  const facts = await page.locator(".facts").textContent();
  assert.match(facts, /\+44 20 7946 0018/);
  assert.match(facts, /Robin Patient \(partner\), \+44 20 7946 0000/);
  assert.match(facts, /Springfield/);
  const stored = await api("GET", `/api/v1/patients/${patientID}`, undefined, admin);
  assert.equal(stored.phone, "+44 20 7946 0018");
  assert.equal(stored.address.city, "Springfield");
  assert.equal(stored.date_of_birth, "1990-04-12");

  // The doctor opens the patient's summary from the schedule, adds a medication,
  // then sees the week as a calendar and opens the summary from there.
  await onSchedule.getByRole("button", { name: /open the patient's summary/ }).click();
  const summary = doctorPage.locator(".summary-card");
  await summary.getByRole("heading", { name: "Pat Patient" }).waitFor();
  await summary.getByRole("list", { name: "Allergies" }).getByText("Penicillin").waitFor();
  await summary.getByLabel("Kind").selectOption("medication");
  await summary.getByRole("button", { name: "Add entry" }).click();
  await summary.locator("#entry-description-error").waitFor();
  await summary.getByLabel("Description").fill("Ibuprofen");
  await summary.getByLabel("Detail (reaction, dose, …)").fill("400 mg as needed");
  await summary.getByRole("button", { name: "Add entry" }).click();
  await summary.getByRole("list", { name: "Medications" }).getByText("Ibuprofen").waitFor();
  await summary.getByRole("list", { name: "Coming appointments" }).getByText(/flu symptoms/).waitFor();
  bad = await checkAccessibility(doctorPage, "doctor-summary");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(doctorPage, "doctor-summary");
  await summary.getByRole("button", { name: "Close summary" }).click();
  await doctorPage.getByRole("button", { name: "Week calendar" }).click();
  const block = doctorPage.locator(".week-appt").filter({ hasText: "Pat Patient" });
  await block.waitFor();
  bad = await checkAccessibility(doctorPage, "doctor-calendar");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(doctorPage, "doctor-calendar");
  await block.click();
  await summary.getByRole("list", { name: "Medications" }).getByText("Ibuprofen").waitFor();
  await summary.getByRole("button", { name: "Close summary" }).click();
  await doctorPage.getByRole("button", { name: "List" }).click();
  await page.getByRole("link", { name: "Appointments" }).click();

  // Cancelled by the patient: gone from both.
  await item.getByRole("button", { name: /^Cancel/ }).click();
  await page.getByText("No upcoming appointments.").waitFor();
  await onSchedule.waitFor({ state: "detached" });

  // Front desk: staff register a walk-in patient, book for them, and see the clinic's day.
  await api("POST", "/api/v1/users", { email: "desk@clinic.example", password: "cedar lantern orbit", name: "Dee Desk", role: "staff" }, admin);
  const desk = await (await ctx.browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
  desk.on("pageerror", (e) => errors.push(e.message));
  await signIn(desk, ctx, { email: "desk@clinic.example", password: "cedar lantern orbit" });
  await desk.getByRole("link", { name: "Patients" }).click();
  await desk.getByRole("button", { name: "Register a patient" }).click();
  await desk.locator("#patient-name-error").waitFor();
  await desk.getByLabel("Full name").fill("Kim Walkin");
  await desk.getByLabel("Date of birth").fill("1975-09-30");
  await desk.getByRole("button", { name: "Register a patient" }).click();
  await desk.getByText("Kim Walkin is registered.").waitFor();
  bad = await checkAccessibility(desk, "patients");
  assert.equal(bad.length, 0, describeViolations(bad));
  await desk.getByRole("link", { name: "Book for Kim Walkin" }).click();
  await desk.getByText("Booking for Kim Walkin").waitFor();
  await desk.getByLabel("Specialization").selectOption("General practice");
  await desk.getByLabel("Doctor").selectOption({ label: "Dr Sam Lee" });
  await desk.getByLabel("Day").fill(day);
  await desk.locator(".slot").first().click();
  await desk.getByLabel("Reason for the visit").fill("blood pressure check");
  await desk.getByRole("button", { name: /^Book .* with Dr Sam Lee$/ }).click();
  await desk.getByRole("heading", { name: "The clinic's day" }).waitFor();
  await desk.getByText(/Booked: .* with Dr Sam Lee\./).waitFor();
  await desk.getByLabel("Day", { exact: true }).fill(day);
  await desk.locator(".doctor-day").filter({ hasText: "Dr Sam Lee" }).getByText("Kim Walkin").waitFor();
  bad = await checkAccessibility(desk, "clinic-day");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(desk, "staff-clinic-day");
  // And the doctor's open schedule shows it too.
  await doctorPage.locator(".appointment").filter({ hasText: "Kim Walkin" }).waitFor();

  assert.deepEqual(errors, []);
});
