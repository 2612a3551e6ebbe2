// Scenario: a front-desk workstation that syncs with the clinic's server,
// from two empty data folders. The upstream (the clinic's server) and the
// node (the workstation) are separate healthhubd processes on SQLite, with
// a TCP proxy written here between them, so the test can cut the network
// and restore it. The accounts, the doctor with hours and the patient are
// made through the API; the rest goes through the UI: the upstream's
// administrator makes a one-time enrolment code on the home page, the
// node's administrator connects with it. Cut off, the node's front desk
// books: the booking waits for confirmation, and turns booked on the same
// screen once the network is back. Then a race: cut off again, the node's
// front desk books a time that the upstream's front desk books too; once
// the network is back, the node's top bar counts a booking to rebook, the
// Conflicts page says why, and "Mark as dealt with" clears it. Last, the
// upstream's administrator revokes the workstation. Screenshots and axe
// reports go to .e2e/ (sync-*).
import assert from "node:assert/strict";
import { test } from "node:test";
import { screenshot, signIn } from "./harness.mjs";
import { accessible, doctor, isoDay, login, newPage, nodeAdmin, nodeDesk, syncWorld, upAdmin, workstation } from "./sync-harness.mjs";

const { upstream, node, ctx, upApi, nodeApi } = syncWorld();

const upDesk = { name: "Uma Upstairs", email: "uma@clinic.example", password: "copper window meadow" };
const patient = { name: "Pat Sync", date_of_birth: "1980-01-01" };

test("a workstation books while cut off from the clinic's server, sees it confirmed live, and rebooks a lost race", async () => {
  const errors = [];
  const started = Date.now();
  const lap = (what) => console.log(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);

  // The clinic's server: its administrator, a front desk, a doctor who
  // takes bookings all day every day, and a patient.
  await upApi("POST", "/api/v1/setup", { token: upstream.server.token, ...upAdmin });
  const upAdminToken = await login(upApi, upAdmin);
  await upApi("POST", "/api/v1/users", { ...upDesk, role: "staff" }, upAdminToken);
  const dr = await upApi("POST", "/api/v1/doctors", doctor, upAdminToken);
  await upApi("PUT", `/api/v1/doctors/${dr.id}/availability`, {
    time_zone: "UTC",
    slot_minutes: 30,
    weekly: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, start: "00:00", end: "23:59" })),
    exceptions: [],
  }, upAdminToken);
  const pat = await upApi("POST", "/api/v1/patients", patient, upAdminToken);

  // The workstation: an administrator and a front desk of its own.
  await nodeApi("POST", "/api/v1/setup", { token: node.server.token, ...nodeAdmin });
  const nodeAdminToken = await login(nodeApi, nodeAdmin);
  await nodeApi("POST", "/api/v1/users", { ...nodeDesk, role: "staff" }, nodeAdminToken);

  // The clinic server's administrator makes a one-time code on the home page.
  const up = await newPage(ctx, errors);
  await signIn(up, upstream, upAdmin);
  const upSync = up.getByRole("region", { name: "Sync" });
  await upSync.getByText("No installation syncs with this server yet.").waitFor();
  await upSync.getByLabel("Name of the installation").fill(workstation);
  await upSync.getByRole("button", { name: "Make an enrolment code" }).click();
  const shown = upSync.locator(".enrol-code");
  await shown.getByText(`Enrolment code for ${workstation}`).waitFor();
  const code = (await shown.locator("code").textContent()).trim();
  assert.match(code, /^[A-Z2-9]{4}(-[A-Z2-9]{4}){3}$/);
  await accessible(up, "sync-admin-upstream-code");
  await screenshot(up, "sync-admin-upstream-code");

  // The workstation's administrator connects to the clinic's server (through
  // the proxy) with that code, and syncs at once.
  const wsAdmin = await newPage(ctx, errors);
  await signIn(wsAdmin, node, nodeAdmin);
  const wsSync = wsAdmin.getByRole("region", { name: "Sync" });
  const connect = wsSync.getByRole("form", { name: "Connect to an upstream server" });
  await connect.getByLabel("Upstream server address").fill(ctx.proxy.url);
  await connect.getByLabel("One-time enrolment code").fill("ABCD-EFGH-JKLM-NPQR");
  await accessible(wsAdmin, "sync-admin-connect");
  await connect.getByRole("button", { name: "Connect" }).click();
  // A wrong code: the upstream's refusal is shown next to the field.
  await connect.locator("#sync-code-error").getByText(/^The upstream refused the enrolment/).waitFor();
  await connect.getByLabel("One-time enrolment code").fill(code.toLowerCase());
  await connect.getByLabel("Name of this installation (optional)").fill(workstation);
  await connect.getByRole("button", { name: "Connect" }).click();
  const mine = wsSync.getByRole("group", { name: "This installation" });
  await mine.getByText(ctx.proxy.url).waitFor();
  await mine.getByRole("button", { name: "Sync now" }).click();
  await mine.getByText("Synced: Up to date.").waitFor();
  await wsAdmin.getByRole("link", { name: /^Sync: Up to date/ }).waitFor();
  await accessible(wsAdmin, "sync-admin-node");
  await screenshot(wsAdmin, "sync-admin-node");
  lap("enrolled");

  // The workstation's front desk signs in; the doctor and the patient came down.
  const desk = await newPage(ctx, errors);
  await signIn(desk, node, nodeDesk);
  const indicator = desk.getByRole("link", { name: /^Sync:/ });
  await indicator.waitFor();
  const tomorrow = isoDay(new Date(Date.now() + 24 * 3600_000));

  /** book books the patient's first free time tomorrow on the workstation, through the UI, and opens tomorrow on the clinic's day. */
  async function book(reason) {
    await desk.getByRole("link", { name: "Patients" }).click();
    await desk.getByRole("link", { name: `Book for ${patient.name}` }).click();
    await desk.getByText(`Booking for ${patient.name}`).waitFor();
    await desk.getByLabel("Specialization").selectOption(doctor.specialization);
    await desk.getByLabel("Doctor").selectOption({ label: doctor.name });
    await desk.getByLabel("Day").fill(tomorrow);
    await desk.locator(".slot").first().click();
    await desk.getByLabel("Reason for the visit").fill(reason);
    await desk.getByRole("button", { name: new RegExp(`^Book .* with ${doctor.name}$`) }).click();
    await desk.getByRole("heading", { name: "The clinic's day" }).waitFor();
    await desk.getByText(new RegExp(`^Requested: .* with ${doctor.name}\\. It is confirmed as soon as the main server answers\\.$`)).waitFor();
    await desk.getByLabel("Day", { exact: true }).fill(tomorrow);
    return desk.getByRole("list", { name: doctor.name }).locator(".appointment").filter({ hasText: reason });
  }

  // Cut off, the front desk books: the booking waits for confirmation.
  ctx.proxy.cut();
  const first = await book("check-up");
  await first.locator(".status-badge.pending").getByText("Waiting for confirmation").waitFor();
  assert.equal(await first.getByRole("button", { name: `Check in ${patient.name}` }).count(), 0, "a booking waiting for confirmation is not checked in");
  await desk.getByRole("link", { name: /^Sync: Offline .* 1 waiting/ }).waitFor();
  await accessible(desk, "sync-pending-booking");
  await screenshot(desk, "sync-pending-booking");
  lap("booked while cut off");

  // The network is back: the same screen shows it booked, without a reload.
  await desk.evaluate(() => (window.sameDocument = true));
  ctx.proxy.restore();
  await first.locator(".muted").getByText("Booked · check-up").waitFor();
  assert.equal(await first.locator(".status-badge").count(), 0);
  await first.getByRole("button", { name: `Check in ${patient.name}` }).waitFor();
  await desk.getByRole("link", { name: /^Sync: Up to date/ }).waitFor();
  assert.equal(await desk.evaluate(() => window.sameDocument), true, "the page was not reloaded");
  await screenshot(desk, "sync-confirmed-booking");
  lap("confirmed");

  // A race: cut off again, the workstation books a time, and the clinic's
  // own front desk books the same time on the clinic's server.
  ctx.proxy.cut();
  const lost = await book("race");
  await lost.locator(".status-badge.pending").waitFor();
  const deskToken = await login(nodeApi, nodeDesk);
  const mineNow = (await nodeApi("GET", `/api/v1/appointments?doctor_id=${dr.id}`, undefined, deskToken)).appointments;
  const pending = mineNow.find((a) => a.status === "pending");
  assert.ok(pending, `a pending booking on the workstation among ${JSON.stringify(mineNow)}`);
  const upDeskToken = await login(upApi, upDesk);
  const won = await upApi("POST", "/api/v1/appointments", { doctor_id: dr.id, patient_id: pat.id, start: pending.start, end: pending.end, reason: "booked at the clinic" }, upDeskToken);
  assert.equal(won.status, "booked");
  ctx.proxy.restore();

  // The workstation hears of the conflict: the lost booking leaves the day,
  // and the top bar counts a booking to rebook.
  await lost.waitFor({ state: "detached" });
  await desk.getByRole("link", { name: /^Sync: .* 1 to rebook$/ }).waitFor();
  lap("conflict seen");
  await desk.getByRole("link", { name: "Home" }).click();
  await desk.getByText("Bookings made here that the main server could not confirm: 1.").waitFor();
  await desk.getByRole("link", { name: "Rebook them" }).click();
  await desk.getByRole("heading", { name: "Conflicts", level: 1 }).waitFor();
  const conflict = desk.getByRole("list", { name: "Bookings to rebook" }).getByRole("listitem").filter({ hasText: `Booking of ${patient.name} with ${doctor.name}` });
  await conflict.getByText(/^Why: Another booking took this time/).waitFor();
  await conflict.getByText(/^Was for /).waitFor();
  await accessible(desk, "sync-conflicts");
  await screenshot(desk, "sync-conflicts");

  // Rebook opens the booking for that patient with that doctor on that day.
  await conflict.getByRole("link", { name: `Rebook ${patient.name} with ${doctor.name}` }).click();
  await desk.getByText(`Booking for ${patient.name}`).waitFor();
  await desk.getByText(/^Rebooking a booking the main server could not confirm/).waitFor();
  await desk.waitForFunction(([id, day]) => document.querySelector("#doctor")?.value === id && document.querySelector("#day")?.value === day, [dr.id, isoDay(new Date(pending.start))]);
  await desk.goBack();

  // Marked as dealt with, it leaves the page and the top bar.
  await conflict.getByRole("button", { name: /^Mark as dealt with: / }).click();
  await desk.getByText(`The booking of ${patient.name} at`, { exact: false }).waitFor();
  await desk.getByText("Nothing to rebook: every booking made here was confirmed.").waitFor();
  await desk.getByRole("link", { name: /^Sync: Up to date/ }).waitFor();
  assert.equal(await desk.getByRole("link", { name: /to rebook/ }).count(), 0);
  lap("conflict dealt with");

  // The clinic server's administrator sees the workstation and revokes it;
  // the workstation's administrator syncs and reads that it is disconnected.
  await up.reload();
  const row = upSync.getByRole("listitem").filter({ hasText: workstation });
  await row.getByText("Active").waitFor();
  await up.getByRole("button", { name: `Revoke ${workstation}` }).click();
  const dialog = up.getByRole("dialog", { name: `Revoke ${workstation}?` });
  await accessible(up, "sync-admin-revoke");
  await dialog.getByRole("button", { name: "Revoke" }).click();
  await up.getByText(`${workstation} is revoked.`).waitFor();
  await row.getByText(/^Revoked /).waitFor();
  await screenshot(up, "sync-admin-upstream-revoked");
  await mine.getByRole("button", { name: "Sync now" }).click();
  await mine.getByText("Synced: Disconnected.").waitFor();
  await wsAdmin.getByRole("link", { name: /^Sync: Disconnected/ }).waitFor();
  await screenshot(wsAdmin, "sync-admin-revoked");
  lap("revoked");

  assert.deepEqual(errors, []);
});
