// Scenario: a doctor publishes bookable hours, a day off and part of a day off; the free
// times patients are offered follow them.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiClient, checkAccessibility, describeViolations, screenshot, withServerAndBrowser } from "./harness.mjs";

const ctx = withServerAndBrowser(before, after);

const api = apiClient(ctx);

const iso = (d) => d.toISOString().slice(0, 10);

test("doctor sets weekly hours, a day off and part of a day off", async () => {
  await api("POST", "/api/v1/setup", { token: ctx.server.token, email: "admin@clinic.example", name: "Ada Admin", password: "granite harbour lantern" });
  const admin = (await api("POST", "/api/v1/auth/login", { email: "admin@clinic.example", password: "granite harbour lantern" })).access_token;
  const doctor = await api("POST", "/api/v1/doctors", { email: "dr.kay@clinic.example", password: "pebble summit violin", name: "Dr Kay Ito", specialization: "Paediatrics" }, admin);

  const page = await ctx.browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${ctx.server.url}/login`);
  await page.getByLabel("E-mail address").fill("dr.kay@clinic.example");
  await page.getByLabel("Password").fill("pebble summit violin");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("link", { name: "Hours" }).click();
  await page.getByRole("heading", { name: "Bookable hours" }).waitFor();

  await page.getByLabel("Time zone").selectOption("UTC");
  await page.getByLabel("Appointment length (minutes)").fill("20");
  for (const day of ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]) {
    await page.getByLabel(day, { exact: true }).check();
    await page.getByLabel(`${day} From`).fill("10:00");
    await page.getByLabel(`${day} To`).fill("12:00");
  }
  // A range that ends before it starts is refused before anything is sent.
  await page.getByLabel("Monday To").fill("09:00");
  await page.getByRole("button", { name: "Save hours" }).click();
  await page.getByText("The end must be after the start.").waitFor();
  await page.getByLabel("Monday To").fill("12:00");

  const dayAfter = iso(new Date(Date.now() + 2 * 24 * 3600_000));
  const tomorrow = new Date(Date.now() + 24 * 3600_000);
  await page.getByLabel("Date", { exact: true }).fill(dayAfter);
  await page.getByLabel("What changes").selectOption({ label: "Off all day" });
  await page.getByRole("button", { name: "Add to the list" }).click();
  // Part of tomorrow off; a backwards range is refused before saving.
  await page.getByLabel("Date", { exact: true }).fill(iso(tomorrow));
  await page.getByLabel("What changes").selectOption({ label: "Off part of the day" });
  await page.getByLabel("From", { exact: true }).fill("11:00");
  await page.getByLabel("To", { exact: true }).fill("10:00");
  await page.getByRole("button", { name: "Add to the list" }).click();
  await page.locator(".field-error", { hasText: "The end must be after the start." }).waitFor();
  await page.getByLabel("From", { exact: true }).fill("10:00");
  await page.getByLabel("To", { exact: true }).fill("11:00");
  await page.getByRole("button", { name: "Add to the list" }).click();
  await page.getByText(/: off 10:00–11:00$/).waitFor();
  await page.getByRole("button", { name: "Save hours" }).click();
  await page.getByText("Saved. Patients see the new hours at once.").waitFor();
  const bad = await checkAccessibility(page, "hours");
  assert.equal(bad.length, 0, describeViolations(bad));
  await screenshot(page, "doctor-hours");

  // Saved: the page shows them after a reload, and the free times follow them.
  await page.reload();
  await page.getByText(/: off all day$/).waitFor();
  await page.getByText(/: off 10:00–11:00$/).waitFor();
  assert.equal(await page.getByLabel("Appointment length (minutes)").inputValue(), "20");
  const from = new Date(`${iso(tomorrow)}T00:00:00Z`);
  const to = new Date(from.getTime() + 3 * 24 * 3600_000);
  const { slots } = await api("GET", `/api/v1/doctors/${doctor.id}/slots?from=${from.toISOString()}&to=${to.toISOString()}`, undefined, admin);
  const days = new Set(slots.map((s) => s.start.slice(0, 10)));
  assert.ok(days.has(iso(tomorrow)), "no free times tomorrow");
  assert.ok(!days.has(dayAfter), "free times on the day off");
  const partly = slots.filter((s) => s.start.startsWith(iso(tomorrow))).map((s) => s.start.slice(11, 16));
  assert.deepEqual(partly, ["11:00", "11:20", "11:40"], "tomorrow's free times around the time off");
  for (const s of slots) {
    assert.ok(s.start.slice(11, 16) >= "10:00" && s.end.slice(11, 16) <= "12:00", `slot outside the hours: ${s.start}`);
    assert.equal(new Date(s.end) - new Date(s.start), 20 * 60_000);
  }
  assert.deepEqual(errors, []);
});
