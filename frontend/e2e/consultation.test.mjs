// Scenario: a consultation from recording to the patient's record, from an
// empty data folder. The first administrator is made on the setup page and
// sets transcription to an OpenAI-compatible server (a small one started
// here, recognising speech with Debian's pocketsphinx) and lets patients see
// signed notes, on the assistant setup page. A doctor, two patients and an
// appointment today are made over the API. Chromium's fake microphone plays
// speech made with espeak-ng. The doctor starts the consultation from their
// day, notes consent, records, sees the transcript come in, stops, plays
// the recording back, drafts the note, changes the plan and signs. The
// patient reads the signed note in their record; the other patient does not.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { apiClient, checkAccessibility, createFirstAdmin, describeViolations, firstAdmin, screenshot, signIn, withServerAndBrowser } from "./harness.mjs";
import { missingSpeechTools, speak, speechPackages, startSphinxServer } from "./sphinx-server.mjs";

const speech = "The patient reports chest pain and shortness of breath since yesterday. Prescribe aspirin.";
const clinicalWords = ["patient", "reports", "chest", "pain", "shortness", "breath", "yesterday", "prescribe", "aspirin"];

const doctor = { name: "Dr Olga Osler", email: "olga.osler@clinic.example", password: "harbour violet candle", specialization: "General practice" };
const patient = { name: "Quinn Quayle", email: "quinn@example.org", password: "meadow lantern sparrow", date_of_birth: "1971-04-12" };
const other = { name: "Rita Rowe", email: "rita@example.org", password: "copper thistle orchard", date_of_birth: "1980-09-30" };
const plan = "Aspirin 100 mg daily; review in one week.";

// The browser's clock: a zone where it is about noon now, so that an
// appointment in the next hour or two is on the browser's today.
const utcHour = new Date().getUTCHours() + new Date().getUTCMinutes() / 60;
let offset = Math.round(12 - utcHour);
if (offset > 12) offset -= 24;
if (offset < -11) offset += 24;
const timezoneId = offset === 0 ? "UTC" : `Etc/GMT${offset > 0 ? "-" : "+"}${Math.abs(offset)}`;

const missing = await missingSpeechTools();
if (missing.length > 0 && process.env.CI === "true") {
  throw new Error(`${missing.join(", ")} not installed (apt-get install -y ${speechPackages}): the consultation scenario cannot run`);
}

if (missing.length > 0) {
  test("consultation: record, transcribe, draft, sign, and the patient reads the note", { skip: `SKIPPED: ${missing.join(", ")} not installed (apt-get install -y ${speechPackages})` }, () => {});
} else {
  const audioDir = mkdtempSync(join(tmpdir(), "healthhub-speech-"));
  const ctx = withServerAndBrowser(before, after, {
    browserArgs: async () => [
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${await speak(audioDir, speech)}`,
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
  const api = apiClient(ctx);
  let sphinx = null;
  before(async () => {
    sphinx = await startSphinxServer();
  });
  after(async () => {
    await sphinx?.close();
    rmSync(audioDir, { recursive: true, force: true });
  });

  const pages = [];
  /** diagnose, once set, prints what the server holds when the scenario fails. */
  let diagnose = async () => {};

  async function newPage(options = {}) {
    const context = await ctx.browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId, locale: "en-US", ...options });
    const page = await context.newPage();
    page.errors = [];
    page.on("pageerror", (e) => page.errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && page.errors.push(`console: ${m.text()}`));
    pages.push(page);
    return page;
  }

  async function accessible(page, name) {
    const bad = await checkAccessibility(page, name);
    assert.equal(bad.length, 0, describeViolations(bad));
  }

  /** heardWords lists the clinical words in the transcript on the page. */
  async function heardWords(page) {
    const text = (await page.locator("ol.transcript").allInnerTexts()).join(" ").toLowerCase();
    return clinicalWords.filter((w) => new RegExp(`\\b${w}\\b`).test(text));
  }

  test("consultation: record, transcribe, draft, sign, and the patient reads the note", async () => {
    try {
      await scenario();
    } catch (err) {
      // What each page showed when the scenario failed, and what it logged.
      for (const [i, page] of pages.entries()) {
        await screenshot(page, `consultation-failed-${i}`).catch(() => undefined);
        if (page.errors.length > 0) console.error(`page ${i}:`, page.errors.join("\n"));
      }
      console.error("the recogniser heard:", sphinx?.heard().join(" "), `(${sphinx?.requests()} requests)`);
      await diagnose().catch((e) => console.error("diagnosis failed:", e.message));
      throw err;
    }
  });

  async function scenario() {
    // The administrator: transcription through the recogniser, and notes shown to patients.
    const admin = await newPage();
    await createFirstAdmin(admin, ctx);
    await admin.getByRole("link", { name: "Assistant setup" }).click();
    const settings = admin.getByRole("form", { name: "Transcription" });
    await settings.getByLabel("Engine").selectOption({ label: "OpenAI-compatible server" });
    await settings.getByLabel("Server address", { exact: true }).fill(sphinx.url);
    await settings.getByLabel("Model", { exact: true }).fill("pocketsphinx-clinical");
    await settings.getByLabel("Language", { exact: true }).fill("en");
    await settings.getByLabel("Patients see their signed visit notes").check();
    await settings.getByRole("button", { name: "Save transcription settings" }).click();
    await settings.getByText("The transcription settings were saved.").waitFor();
    await accessible(admin, "consultation-settings");
    await screenshot(admin, "consultation-0-settings");
    const { access_token: adminToken } = await api("POST", "/api/v1/auth/login", { email: firstAdmin.email, password: firstAdmin.password });
    const stored = await api("GET", "/api/v1/transcription/settings", undefined, adminToken);
    assert.equal(stored.engine, "openai-compatible");
    assert.equal(stored.base_url, sphinx.url);
    assert.equal(stored.patients_see_notes, true);
    assert.deepEqual(admin.errors, []);

    // A doctor with hours all day, two patients, and an appointment in the next hour or two.
    const dr = await api("POST", "/api/v1/doctors", doctor, adminToken);
    await api("PUT", `/api/v1/doctors/${dr.id}/availability`, {
      time_zone: "UTC",
      slot_minutes: 5,
      min_notice_minutes: 0,
      weekly: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, start: "00:00", end: "23:55" })),
      exceptions: [],
    }, adminToken);
    const quinn = await api("POST", "/api/v1/patients", patient, adminToken);
    const rita = await api("POST", "/api/v1/patients", other, adminToken);
    const from = new Date(Date.now() + 60_000);
    const { slots } = await api("GET", `/api/v1/doctors/${dr.id}/slots?from=${from.toISOString()}&to=${new Date(from.getTime() + 2 * 3600_000).toISOString()}`, undefined, adminToken);
    assert.ok(slots.length > 0, "the doctor has a free slot in the next two hours");
    await api("POST", "/api/v1/appointments", { doctor_id: dr.id, patient_id: quinn.id, start: slots[0].start, end: slots[0].end, reason: "chest pain" }, adminToken);

    // The doctor starts the consultation from their day.
    const doc = await newPage({ permissions: ["microphone"] });
    await signIn(doc, ctx, doctor);
    await doc.getByRole("button", { name: `Start consultation with ${patient.name}` }).click();
    await doc.getByRole("heading", { name: `Consultation with ${patient.name}` }).waitFor();
    const consultationID = decodeURIComponent(new URL(doc.url()).pathname.split("/").at(-1));
    const drToken = (await api("POST", "/api/v1/auth/login", { email: doctor.email, password: doctor.password })).access_token;
    diagnose = async () => {
      const tr = await api("GET", `/api/v1/consultations/${consultationID}/transcript`, undefined, drToken);
      console.error(`server: ${tr.segments.length} segments; recordings ${JSON.stringify(tr.recordings.map((r) => ({ samples: r.samples, transcribed: r.transcribed_samples, ended: r.ended, error: r.transcribe_error })))}`);
      console.error("on the page:", (await doc.locator("ol.transcript li").allInnerTexts()).length, "passages");
    };
    const record = doc.getByRole("button", { name: "Record", exact: true });
    assert.equal(await record.isDisabled(), true, "Record waits for the patient's consent");
    await doc.getByLabel("The patient agreed to recording").check();
    await doc.getByLabel("Verbally").check();
    await record.click();
    await doc.getByText(/^The patient agreed to recording verbally, /).waitFor();
    await doc.locator(".recorder-status").getByText("Recording", { exact: true }).waitFor();

    // Sound arrives, and the transcript grows while recording.
    await doc.waitForFunction(() => Number(document.querySelector("#consult-level")?.getAttribute("value") ?? 0) > 0.01);
    await doc.locator("ol.transcript li").first().waitFor();
    await doc.waitForFunction(() => {
      const [m, s] = (document.querySelector(".elapsed")?.textContent ?? "0:00").split(":").map(Number);
      return m * 60 + s >= 10;
    });
    await screenshot(doc, "consultation-1-recording");
    await doc.getByRole("button", { name: "Stop" }).click();
    const storedLine = doc.getByText(/^Recording stored: \d+:\d\d\.$/);
    await storedLine.waitFor();
    const seconds = (await storedLine.innerText()).match(/(\d+):(\d\d)/).slice(1).map(Number);
    assert.ok(seconds[0] * 60 + seconds[1] >= 10, `recorded ${await storedLine.innerText()}`);

    // The rest is transcribed after the stop; the transcript holds the clinical words.
    await doc.waitForFunction(
      (words) => {
        const text = [...document.querySelectorAll("ol.transcript")].map((o) => o.textContent).join(" ").toLowerCase();
        return words.filter((w) => new RegExp(`\\b${w}\\b`).test(text)).length >= 4;
      },
      clinicalWords,
    );
    const heard = await heardWords(doc);
    assert.ok(heard.length >= 4, `the transcript holds ${heard.join(", ")}; the recogniser heard ${sphinx.heard().join(" ")}`);
    await doc.getByText(/^Transcribed /).waitFor({ state: "detached" });

    // The recording plays back.
    await doc.getByRole("button", { name: /^Play the recording of / }).click();
    const player = doc.locator("audio");
    await player.waitFor();
    await doc.waitForFunction(() => {
      const a = document.querySelector("audio");
      return a && (a.readyState >= 1 || a.error);
    });
    assert.equal(await player.evaluate((a) => a.error?.code ?? 0), 0, "the recording plays");
    assert.ok((await player.evaluate((a) => a.duration)) >= 10, "the player has the whole recording");

    // The note: drafted, the plan changed, saved, signed.
    await doc.getByRole("button", { name: "Draft note" }).click();
    const planField = doc.getByLabel("Plan");
    await planField.waitFor();
    await planField.fill(plan);
    await doc.getByRole("button", { name: "Save note" }).click();
    await doc.getByText("The note was saved.").waitFor();
    await accessible(doc, "consultation-note");
    await doc.getByRole("button", { name: "Sign", exact: true }).click();
    const confirm = doc.getByRole("dialog", { name: "Sign the visit note?" });
    await confirm.getByRole("button", { name: "Sign the note" }).click();
    await doc.getByText(new RegExp(`^Signed by ${doctor.name}, `)).waitFor();
    assert.equal(await doc.getByLabel("Plan").count(), 0, "the signed note is read-only");
    assert.equal(await doc.getByRole("button", { name: "Record", exact: true }).count(), 0, "nothing more is recorded once signed");
    await accessible(doc, "consultation-signed");
    await screenshot(doc, "consultation-2-signed");
    assert.deepEqual(doc.errors, []);

    const [signed] = (await api("GET", `/api/v1/consultations?patient_id=${quinn.id}`, undefined, drToken)).consultations;
    assert.equal(signed.note_status, "signed");
    assert.equal(signed.note.plan, plan);

    // The patient reads the signed note in their record.
    const pat = await newPage();
    await signIn(pat, ctx, patient);
    await pat.getByRole("link", { name: "My record" }).click();
    const notes = pat.getByRole("list", { name: "Visit notes" });
    const note = notes.getByRole("listitem");
    await note.getByText(plan).waitFor();
    assert.match(await note.getAttribute("aria-label"), new RegExp(`· ${doctor.name}$`));
    await accessible(pat, "consultation-patient-record");
    await screenshot(pat, "consultation-3-patient-record");
    assert.deepEqual(pat.errors, []);

    // The other patient sees no note, and cannot open it.
    const rival = await newPage();
    await signIn(rival, ctx, other);
    await rival.getByRole("link", { name: "My record" }).click();
    await rival.getByText("No visit notes yet.").waitFor();
    assert.equal(await rival.getByText(plan).count(), 0);
    await screenshot(rival, "consultation-4-other-patient");
    const ritaToken = (await api("POST", "/api/v1/auth/login", { email: other.email, password: other.password })).access_token;
    await assert.rejects(api("GET", `/api/v1/consultations/${signed.id}`, undefined, ritaToken), /40[34]/);
    assert.equal(rita.id !== quinn.id, true);
  }
}
