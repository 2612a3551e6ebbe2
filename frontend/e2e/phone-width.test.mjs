// Scenario: on a phone (375 × 740), no page scrolls sideways. Each role
// signs in and opens every page its navigation offers, plus the pages
// reached from them (a patient's page, a conversation), and the pages
// before signing in. The accounts are made through the API.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { apiClient, screenshot, withServerAndBrowser, signIn } from "./harness.mjs";

const ctx = withServerAndBrowser(before, after);
const api = apiClient(ctx);
const phone = { width: 375, height: 740 };

const people = {
  admin: { email: "admin@clinic.example", name: "Ada Admin-Lovelace", password: "granite harbour lantern" },
  doctor: { email: "dr.maria.fernandez-oyelaran@clinic.example", name: "Dr Maria Fernández-Oyelaran", password: "maple river compass" },
  staff: { email: "front.desk.reception@clinic.example", name: "Samira Front-Desk", password: "willow copper meadow" },
  patient: { email: "patricia.longname-worthington@example.org", name: "Patricia Longname-Worthington", password: "blue kettle morning tide" },
};

/** setUpClinic makes one account per role, the doctor's hours, a booking and a conversation; it returns the ids the detail pages need. */
async function setUpClinic() {
  const { admin, doctor, staff, patient } = people;
  await api("POST", "/api/v1/setup", { token: ctx.server.token, ...admin });
  const login = (who) => api("POST", "/api/v1/auth/login", { email: who.email, password: who.password }).then((r) => r.access_token);
  const adminToken = await login(admin);
  const dr = await api("POST", "/api/v1/doctors", { ...doctor, specialization: "General practice and family medicine" }, adminToken);
  await api("PUT", `/api/v1/doctors/${dr.id}/availability`, {
    time_zone: "Pacific/Auckland", // not the browser's zone, so times carry their zone's name
    slot_minutes: 30,
    weekly: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, start: "00:00", end: "23:30" })),
    exceptions: [],
  }, adminToken);
  await api("POST", "/api/v1/users", { ...staff, role: "staff" }, adminToken);
  await api("POST", "/api/v1/auth/register", patient);
  const patientToken = await login(patient);
  const me = await api("GET", "/api/v1/me/patient", undefined, patientToken);
  const from = new Date(Date.now() + 2 * 24 * 3600_000);
  const { slots } = await api("GET", `/api/v1/doctors/${dr.id}/slots?from=${from.toISOString()}&to=${new Date(from.getTime() + 24 * 3600_000).toISOString()}`, undefined, patientToken);
  await api("POST", "/api/v1/appointments", { doctor_id: dr.id, patient_id: me.id, start: slots[0].start, end: slots[0].end, reason: "A persistent cough that has lasted for several weeks" }, patientToken);
  const conversation = await api("POST", "/api/v1/conversations", { title: "Repeat prescriptions and opening hours over the holidays" }, patientToken);
  return { patientID: me.id, conversationID: conversation.id };
}

/** overflow is how far the page is wider than the window, with the elements that stick out. */
async function overflow(page) {
  return page.evaluate(() => {
    const root = document.scrollingElement;
    const width = root.clientWidth;
    const wide = [];
    for (const el of document.querySelectorAll("body *")) {
      const r = el.getBoundingClientRect();
      if (r.right > width + 0.5 && r.width > 0) {
        wide.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\s+/).join(".") : ""} (right ${Math.round(r.right)})`);
      }
    }
    return { scrollWidth: root.scrollWidth, clientWidth: width, wide: wide.slice(0, 12) };
  });
}

/** settle waits until the page has its heading and has stopped loading. */
async function settle(page) {
  await page.locator("h1").first().waitFor();
  await page.waitForLoadState("networkidle");
}

async function assertFits(page, name, covered) {
  await settle(page);
  const o = await overflow(page);
  covered.push(name);
  if (o.scrollWidth > o.clientWidth) await screenshot(page, `phone-${name.replace(/[^a-z0-9]+/gi, "-")}`);
  assert.ok(o.scrollWidth <= o.clientWidth, `${name}: the page is ${o.scrollWidth} px wide in a ${o.clientWidth} px window; sticking out: ${o.wide.join(", ")}`);
}

/** navTargets lists the pages the signed-in user's navigation links to. */
async function navTargets(page) {
  const nav = page.getByRole("navigation").first();
  return nav.locator("a[href]").evaluateAll((links) => [...new Set(links.map((a) => new URL(a.href).pathname))]);
}

test("every page fits a phone's width for every role", async () => {
  const { patientID, conversationID } = await setUpClinic();
  const covered = [];
  const failures = [];
  const check = async (page, name) => {
    try {
      await assertFits(page, name, covered);
    } catch (err) {
      failures.push(err.message);
    }
  };

  const context = await ctx.browser.newContext({ viewport: phone, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  for (const path of ["/login", "/register"]) {
    await page.goto(ctx.server.url + path);
    await check(page, `signed out ${path}`);
  }

  const extra = { patient: [`/assistant/${conversationID}`], staff: [`/patients/${patientID}`], doctor: [], admin: [] };
  for (const role of ["patient", "doctor", "staff", "admin"]) {
    await signIn(page, ctx, people[role]);
    const paths = [...(await navTargets(page)), ...extra[role]];
    assert.ok(paths.length >= 2, `${role}: the navigation offers ${paths.join(", ")}`);
    for (const path of paths) {
      await page.goto(ctx.server.url + path);
      await check(page, `${role} ${path}`);
    }
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
  }
  await context.close();
  console.log(`phone width checked: ${covered.join("; ")}`);
  assert.deepEqual(failures, [], failures.join("\n"));
});
