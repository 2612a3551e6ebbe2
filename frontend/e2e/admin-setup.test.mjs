// Scenario: the administrator sets up the assistant — adds an
// OpenAI-compatible provider whose model only staff may use, edits it,
// deletes another, changes the assistant's limits — makes a staff member
// a doctor, and after a day of chats and appointments reads the figures,
// checking the charts' numbers against what happened.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiClient, checkAccessibility, describeViolations, screenshot, withServerAndBrowser, createFirstAdmin, firstAdmin } from "./harness.mjs";

const ctx = withServerAndBrowser(before, after);
const api = apiClient(ctx);
const numbers = new Intl.NumberFormat("en-US");

async function login(email, password) {
  return (await api("POST", "/api/v1/auth/login", { email, password })).access_token;
}

async function accessible(page, name) {
  const bad = await checkAccessibility(page, name);
  assert.equal(bad.length, 0, describeViolations(bad));
}

/** noSidewaysScroll fails when the page is wider than the window. */
async function noSidewaysScroll(page) {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(scroll <= client, `the page scrolls sideways: ${scroll} px wide in a ${client} px window`);
}

test("admin sets up providers, limits and roles, then reads the figures", async () => {
  // Appointments are booked minutes ahead. Close to midnight (UTC) they are
  // booked just after it instead, and the browser's days are two hours
  // east of UTC, so that they fall on the browser's today.
  const nextMidnight = Math.ceil((Date.now() + 1) / 86_400_000) * 86_400_000;
  const nearMidnight = nextMidnight - Date.now() < 30 * 60_000;
  const timezoneId = nearMidnight ? "Etc/GMT-2" : "UTC";
  const localDay = (iso) => new Intl.DateTimeFormat("en-CA", { timeZone: timezoneId, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));

  const context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId, locale: "en-US" });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await createFirstAdmin(page, ctx);
  const admin = await login(firstAdmin.email, firstAdmin.password);

  // --- Providers -----------------------------------------------------------
  await page.getByRole("link", { name: "Assistant setup" }).click();
  await page.getByRole("heading", { name: "Assistant setup" }).waitFor();
  const builtIn = page.getByRole("listitem", { name: "Offline (no language model)" });
  await builtIn.getByText("Built in", { exact: true }).waitFor();
  await accessible(page, "providers");

  // A wrong address is refused next to its field.
  const form = page.getByRole("form", { name: "Add a provider" });
  await form.getByLabel("Name").fill("Clinic GPU");
  await form.getByLabel("Kind").selectOption("openai");
  await form.getByLabel("Server address (optional)").fill("ftp://127.0.0.1:9/v1");
  await form.getByLabel("API key (optional)").fill("sk-e2e-secret-4711");
  await form.getByLabel("Model", { exact: true }).fill("llama3.1");
  await form.getByRole("group", { name: "Who may use it" }).getByLabel("Staff").check();
  await form.getByRole("button", { name: "Add provider" }).click();
  await page.locator("#provider-base_url-error").waitFor();
  assert.equal(await form.getByLabel("Server address (optional)").getAttribute("aria-invalid"), "true");
  await form.getByLabel("Server address (optional)").fill("http://127.0.0.1:9/v1");
  await form.getByRole("button", { name: "Add provider" }).click();
  await page.getByText("Clinic GPU was added.").waitFor();

  const gpu = page.getByRole("listitem", { name: "Clinic GPU" });
  await gpu.getByText("http://127.0.0.1:9/v1").waitFor();
  await gpu.getByText("Key stored").waitFor();
  assert.deepEqual(await gpu.getByRole("list", { name: "Who may use llama3.1" }).getByRole("listitem").allTextContents(), ["Staff"]);
  assert.ok(!(await page.content()).includes("sk-e2e-secret-4711"), "the API key is shown on the page");
  let saved = (await api("GET", "/api/v1/ai/providers", undefined, admin)).providers.find((p) => p.name === "Clinic GPU");
  assert.deepEqual(saved.models, [{ name: "llama3.1", roles: ["staff"] }]);
  assert.equal(saved.has_api_key, true);
  assert.equal(saved.external, true);
  await accessible(page, "providers-added");
  await screenshot(page, "admin-providers");

  // Edit: a new name, doctors too, and no longer external.
  await gpu.getByRole("button", { name: "Edit Clinic GPU" }).click();
  const editForm = page.getByRole("form", { name: "Edit Clinic GPU" });
  await editForm.waitFor();
  assert.equal(await editForm.getByLabel("New API key").inputValue(), "");
  await editForm.getByLabel("Name").fill("Clinic GPU (night)");
  await editForm.getByRole("group", { name: "Who may use it" }).getByLabel("Doctors").check();
  await editForm.getByLabel(/Runs outside the clinic/).uncheck();
  await accessible(page, "providers-edit");
  await screenshot(page, "admin-providers-edit");
  await editForm.getByRole("button", { name: "Save changes" }).click();
  await page.getByText("Changes to Clinic GPU (night) were saved.").waitFor();
  const night = page.getByRole("listitem", { name: "Clinic GPU (night)" });
  await night.getByText("Inside the clinic").waitFor();
  assert.deepEqual(await night.getByRole("list", { name: "Who may use llama3.1" }).getByRole("listitem").allTextContents(), ["Doctors", "Staff"]);
  saved = (await api("GET", "/api/v1/ai/providers", undefined, admin)).providers.find((p) => p.id === saved.id);
  assert.deepEqual(saved.models, [{ name: "llama3.1", roles: ["doctor", "staff"] }]);
  assert.equal(saved.has_api_key, true, "editing without a new key dropped the stored one");
  assert.equal(saved.external, false);

  // Delete, after confirming, a provider added behind the page's back.
  await api("POST", "/api/v1/ai/providers", { name: "Spare", kind: "openai", base_url: "http://127.0.0.1:9/v1", models: [{ name: "spare-model", roles: ["admin"] }] }, admin);
  await page.reload();
  const spare = page.getByRole("listitem", { name: "Spare" });
  await spare.getByRole("button", { name: "Delete Spare" }).click();
  const confirm = page.getByRole("dialog", { name: "Delete Spare?" });
  await confirm.waitFor();
  await accessible(page, "providers-delete");
  await screenshot(page, "admin-providers-delete");
  await confirm.getByRole("button", { name: "Delete provider" }).click();
  await page.getByText("Spare was deleted.").waitFor();
  await spare.waitFor({ state: "detached" });

  // Limits.
  await page.getByLabel("Messages per minute").fill("30");
  await page.getByLabel("Tokens per day").fill("150000");
  await page.getByLabel("Keep deleted conversations (days)").fill("14");
  await page.getByRole("button", { name: "Save limits" }).click();
  await page.getByText("The limits were saved.").waitFor();
  assert.deepEqual(await api("GET", "/api/v1/ai/settings", undefined, admin), { messages_per_minute: 30, daily_tokens: 150000, retention_days: 14 });

  await page.setViewportSize({ width: 375, height: 800 });
  await noSidewaysScroll(page);
  await screenshot(page, "admin-providers-narrow");
  await page.setViewportSize({ width: 1280, height: 900 });

  // --- Role change ---------------------------------------------------------
  await api("POST", "/api/v1/users", { email: "sam@clinic.example", password: "willow copper meadow", name: "Sam Staff", role: "staff" }, admin);
  const samModels = (await api("GET", "/api/v1/ai/models", undefined, await login("sam@clinic.example", "willow copper meadow"))).models.map((m) => m.id);
  assert.ok(samModels.includes("llama3.1"), `staff cannot use the staff model: ${samModels}`);
  await page.getByRole("link", { name: "Users" }).click();
  await page.getByRole("heading", { name: "Users and roles" }).waitFor();
  const adaRow = page.locator(".user-row").filter({ hasText: "ada@clinic.example" });
  await adaRow.waitFor();
  assert.equal(await adaRow.getByRole("button", { name: /Change role/ }).count(), 0, "the admin can change their own role");
  const samRow = page.locator(".user-row").filter({ hasText: "sam@clinic.example" });
  await samRow.getByRole("button", { name: "Change role of Sam Staff" }).click();
  const roleDialog = page.getByRole("dialog", { name: "Change the role of Sam Staff" });
  await roleDialog.getByLabel("New role").selectOption("doctor");
  await roleDialog.getByText("Sam Staff becomes doctor").waitFor();
  // A doctor needs a specialization (and the zone of their hours) to be bookable.
  await roleDialog.getByLabel("Specialization").fill("General practice");
  await accessible(page, "users-role");
  await screenshot(page, "admin-users-role");
  await roleDialog.getByRole("button", { name: "Change role" }).click();
  await page.getByText("Sam Staff is now doctor.").waitFor();
  await samRow.getByText("sam@clinic.example · doctor").waitFor();
  const sam = await login("sam@clinic.example", "willow copper meadow");
  assert.equal((await api("GET", "/api/v1/me", undefined, sam)).role, "doctor");

  // --- A day at the clinic -------------------------------------------------
  const doctor = await api("POST", "/api/v1/doctors", { email: "dr.lee@clinic.example", password: "maple river compass", name: "Dr Sam Lee", specialization: "General practice" }, admin);
  await api("PUT", `/api/v1/doctors/${doctor.id}/availability`, {
    time_zone: "UTC",
    slot_minutes: 5,
    min_notice_minutes: 0,
    weekly: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, start: "00:00", end: "23:55" })),
    exceptions: [],
  }, admin);
  const pat = await api("POST", "/api/v1/auth/register", { email: "pat@example.org", password: "blue kettle morning tide", name: "Pat Patient" });
  const patient = await login("pat@example.org", "blue kettle morning tide");
  const drLee = await login("dr.lee@clinic.example", "maple river compass");
  const from = new Date(nearMidnight ? nextMidnight : Date.now()).toISOString();
  const { slots } = await api("GET", `/api/v1/doctors/${doctor.id}/slots?from=${from}&to=${new Date(Date.parse(from) + 3600_000).toISOString()}`, undefined, patient);
  const today = localDay(new Date().toISOString());
  const booked = [];
  for (const s of slots.slice(0, 4)) {
    assert.equal(localDay(s.start), today, `slot ${s.start} is not on the browser's today`);
    booked.push(await api("POST", "/api/v1/appointments", { doctor_id: doctor.id, patient_id: pat.patient_id, start: s.start, end: s.end, reason: "check-up" }, patient));
  }
  await api("POST", `/api/v1/appointments/${booked[0].id}/status`, { status: "fulfilled" }, drLee);
  await api("POST", `/api/v1/appointments/${booked[1].id}/status`, { status: "noshow" }, drLee);
  await api("POST", `/api/v1/appointments/${booked[3].id}/cancel`, { reason: "" }, patient);

  for (const [token, question] of [
    [patient, "How do I order a repeat prescription?"],
    [patient, "What are the opening hours?"],
    [sam, "Where do I find the vaccination schedule?"],
  ]) {
    const conversation = await api("POST", "/api/v1/conversations", {}, token);
    await api("POST", `/api/v1/conversations/${conversation.id}/messages`, { content: question }, token);
  }
  // Assistant use is counted per UTC day.
  const usageDays = [-1, 0, 1].map((d) => new Date(Date.now() + d * 86_400_000).toISOString().slice(0, 10));
  const usage = (await api("GET", `/api/v1/ai/usage?from=${usageDays[0]}&to=${usageDays[2]}`, undefined, admin)).usage;
  const offlineUse = usage.filter((u) => u.provider === "Offline (no language model)");
  assert.equal(offlineUse.reduce((n, u) => n + u.messages, 0), 3);
  const tokensIn = offlineUse.reduce((n, u) => n + u.tokens_in, 0);
  const tokensOut = offlineUse.reduce((n, u) => n + u.tokens_out, 0);

  // --- Figures -------------------------------------------------------------
  await page.getByRole("link", { name: "Figures" }).click();
  await page.getByRole("heading", { name: "Figures", level: 1 }).waitFor();
  await page.locator(".page-head").getByText(`days in ${timezoneId}`).waitFor();
  await page.getByRole("button", { name: "7 days" }).click();
  const messages = page.getByRole("region", { name: "Assistant messages per day" });
  await messages.getByText("3 in total").waitFor();
  // Each figure says which days it counts: the assistant's per UTC day, appointments in the browser's zone.
  await messages.getByText(/Counts .* to .*, days in UTC\./).waitFor();
  await page.getByRole("region", { name: "Appointments per day" }).getByText(new RegExp(`days in ${timezoneId}\\. Later today's bookings count as booked ahead`)).waitFor();
  await messages.getByRole("img", { name: /Bar chart of assistant messages per day/ }).waitFor();
  const appointments = page.getByRole("region", { name: "Appointments per day" });
  await appointments.getByText("4 in total").waitFor();
  const rate = page.getByRole("region", { name: "No-show rate" });
  assert.equal(await rate.getByTestId("no-show-rate").textContent(), "50%");
  assert.equal(await rate.getByTestId("fulfilled-count").textContent(), "1");
  assert.equal(await rate.getByTestId("noshow-count").textContent(), "1");
  await accessible(page, "figures");
  await screenshot(page, "admin-figures");

  // The numbers behind each chart.
  const cells = async (region, category) => {
    await region.getByText("Show the numbers").click();
    return region.locator(`table tr[data-category="${category}"] td`).allTextContents();
  };
  assert.deepEqual(await cells(messages, offlineUse[0].day), ["3"]);
  assert.equal(await messages.locator("table tbody tr").count(), 7);
  // Seen, no-show, booked, cancelled, total.
  assert.deepEqual(await cells(appointments, today), ["1", "1", "1", "1", "4"]);
  const tokens = page.getByRole("region", { name: "Tokens per provider" });
  assert.deepEqual(await cells(tokens, "Offline (no language model)"), [numbers.format(tokensIn), numbers.format(tokensOut), numbers.format(tokensIn + tokensOut)]);
  assert.equal(await appointments.locator(`rect[data-category="${today}"]`).count(), 4, "one bar segment per outcome");
  await accessible(page, "figures-tables");
  await screenshot(page, "admin-figures-tables");

  await page.getByLabel("Theme").selectOption("dark");
  await screenshot(page, "admin-figures-dark");
  await accessible(page, "figures-dark");
  await page.setViewportSize({ width: 375, height: 800 });
  await page.getByRole("button", { name: "90 days" }).click();
  await messages.locator("table tbody tr").nth(89).waitFor({ state: "attached" });
  await noSidewaysScroll(page);
  await screenshot(page, "admin-figures-narrow");
  await page.getByLabel("Theme").selectOption("system");

  assert.deepEqual(errors, []);
});
