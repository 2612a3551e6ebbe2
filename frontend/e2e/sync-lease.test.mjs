// Scenario: a slot lease. The clinic's server (upstream) and a front-desk
// workstation (node) are separate healthhubd processes on SQLite, with the
// TCP proxy of the sync scenario between them. Accounts, the doctor with
// hours, the patient and the enrolment are made through the API; the rest
// goes through the UI. While online, the workstation's administrator
// borrows a block of the doctor's time on the home page's Sync card. The
// network is cut; the workstation's front desk books inside the block, the
// free time is marked "Confirmed at once", and the booking shows booked at
// once, not "Waiting for confirmation". The network returns: the booking
// stays booked here and is booked on the clinic's server. Last, the
// administrator gives the block back. Screenshots and axe reports go to
// .e2e/ (sync-lease-*).
import assert from "node:assert/strict";
import { test } from "node:test";
import { screenshot, signIn } from "./harness.mjs";
import { accessible, doctor, isoDay, login, newPage, nodeAdmin, nodeDesk, syncWorld, upAdmin, workstation } from "./sync-harness.mjs";

const { upstream, node, ctx, upApi, nodeApi } = syncWorld();

const patient = { name: "Pat Lease", date_of_birth: "1980-01-01" };

test("a workstation borrows a block of a doctor's time while online, and its bookings there are confirmed at once while cut off", async () => {
  const errors = [];
  const started = Date.now();
  const lap = (what) => console.log(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);

  // The clinic's server: its administrator, a doctor who takes bookings all
  // day every day (on UTC), and a patient.
  await upApi("POST", "/api/v1/setup", { token: upstream.server.token, ...upAdmin });
  const upAdminToken = await login(upApi, upAdmin);
  const dr = await upApi("POST", "/api/v1/doctors", doctor, upAdminToken);
  await upApi("PUT", `/api/v1/doctors/${dr.id}/availability`, {
    time_zone: "UTC",
    slot_minutes: 30,
    weekly: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, start: "00:00", end: "23:59" })),
    exceptions: [],
  }, upAdminToken);
  await upApi("POST", "/api/v1/patients", patient, upAdminToken);

  // The workstation, enrolled with the clinic's server through the proxy;
  // the doctor and the patient come down.
  await nodeApi("POST", "/api/v1/setup", { token: node.server.token, ...nodeAdmin });
  const nodeAdminToken = await login(nodeApi, nodeAdmin);
  await nodeApi("POST", "/api/v1/users", { ...nodeDesk, role: "staff" }, nodeAdminToken);
  const { code } = await upApi("POST", "/api/v1/sync/enrollments", { name: workstation, doctor_ids: [] }, upAdminToken);
  await nodeApi("POST", "/api/v1/sync/upstream", { upstream: ctx.proxy.url, code, fingerprint: "", name: workstation }, nodeAdminToken);
  const ran = await nodeApi("POST", "/api/v1/sync/run", undefined, nodeAdminToken);
  assert.equal(ran.state, "ok", JSON.stringify(ran));
  const doctors = (await nodeApi("GET", "/api/v1/doctors", undefined, nodeAdminToken)).doctors;
  const patients = (await nodeApi("GET", "/api/v1/patients", undefined, nodeAdminToken)).patients;
  assert.ok(doctors.some((d) => d.id === dr.id), "the doctor came down");
  assert.ok(patients.some((p) => p.name === patient.name), "the patient came down");
  lap("enrolled");

  // Online, the workstation's administrator borrows tomorrow 09:00–12:00 of
  // the doctor's time (on the doctor's clock), held until the block ends.
  const tomorrow = isoDay(new Date(Date.now() + 24 * 3600_000));
  const wsAdmin = await newPage(ctx, errors);
  await signIn(wsAdmin, node, nodeAdmin);
  const lent = wsAdmin.getByRole("group", { name: "Time lent to this installation" });
  await lent.getByText("No time is lent to this installation.").waitFor();
  const borrow = lent.getByRole("form", { name: "Borrow time from the main server" });
  await borrow.getByLabel("Doctor", { exact: true }).selectOption({ label: doctor.name });
  await borrow.getByLabel("Date", { exact: true }).fill(tomorrow);
  await borrow.getByLabel("From", { exact: true }).fill("09:00");
  await borrow.getByLabel("To", { exact: true }).fill("12:00");
  await borrow.getByText("Times on the doctor's clock (UTC).").waitFor();
  assert.equal(await borrow.getByRole("radio", { name: "Until the block ends" }).isChecked(), true);
  await accessible(wsAdmin, "sync-lease-admin-form");
  await borrow.getByRole("button", { name: "Borrow this time" }).click();
  await lent.getByRole("status").getByText(new RegExp(`^Borrowed: ${doctor.name}'s time, .*, held until `)).waitFor();
  const row = lent.getByRole("listitem").filter({ hasText: doctor.name });
  await row.getByText(/^Held until /).waitFor();
  await row.getByRole("button", { name: new RegExp(`^Give back ${doctor.name}'s time, `) }).waitFor();
  await accessible(wsAdmin, "sync-lease-admin");
  await screenshot(wsAdmin, "sync-lease-admin");
  // The clinic's server knows the block is the workstation's.
  const held = (await nodeApi("GET", "/api/v1/sync/node/leases", undefined, nodeAdminToken)).leases.filter((l) => l.node_id === "" && l.doctor_id === dr.id);
  assert.equal(held.length, 1, JSON.stringify(held));
  assert.equal(held[0].start, `${tomorrow}T09:00:00Z`);
  assert.equal(held[0].end, `${tomorrow}T12:00:00Z`);
  lap("borrowed");

  // The network is cut. The front desk books inside the block through the UI.
  ctx.proxy.cut();
  const desk = await newPage(ctx, errors);
  await signIn(desk, node, nodeDesk);
  await desk.getByRole("link", { name: /^Sync: Offline/ }).waitFor();
  await desk.getByRole("link", { name: "Patients" }).click();
  await desk.getByRole("link", { name: `Book for ${patient.name}` }).click();
  await desk.getByText(`Booking for ${patient.name}`).waitFor();
  await desk.getByLabel("Specialization").selectOption(doctor.specialization);
  await desk.getByLabel("Doctor").selectOption({ label: doctor.name });
  await desk.getByLabel("Day").fill(tomorrow);
  const inBlock = desk.getByRole("radio", { name: /Confirmed at once$/ });
  await inBlock.first().waitFor();
  // Only the six half hours of the block are confirmed at once.
  assert.equal(await inBlock.count(), 6);
  await desk.locator(".slot.own").first().click();
  await desk.getByLabel("Reason for the visit").fill("lease check-up");
  await accessible(desk, "sync-lease-book");
  await screenshot(desk, "sync-lease-book");
  await desk.getByRole("button", { name: new RegExp(`^Book .* with ${doctor.name}$`) }).click();
  await desk.getByRole("heading", { name: "The clinic's day" }).waitFor();
  await desk.getByText(new RegExp(`^Booked: .* with ${doctor.name}\\.$`)).waitFor();
  await desk.getByLabel("Day", { exact: true }).fill(tomorrow);
  const booking = desk.getByRole("list", { name: doctor.name }).locator(".appointment").filter({ hasText: "lease check-up" });
  await booking.locator(".muted").getByText("Booked · lease check-up").waitFor();
  assert.equal(await booking.getByText("Waiting for confirmation").count(), 0, "a booking in the workstation's lease does not wait");
  assert.equal(await booking.locator(".status-badge").count(), 0);
  await booking.getByRole("button", { name: `Check in ${patient.name}` }).waitFor();
  // Still cut off: the booking waits only to be sent.
  await desk.getByRole("link", { name: /^Sync: Offline .* 1 waiting/ }).waitFor();
  await accessible(desk, "sync-lease-booked");
  await screenshot(desk, "sync-lease-booked");
  lap("booked while cut off");

  // The network returns: the booking is sent, accepted, and stays booked.
  await desk.evaluate(() => (window.sameDocument = true));
  ctx.proxy.restore();
  await desk.getByRole("link", { name: /^Sync: Up to date/ }).waitFor();
  await booking.locator(".muted").getByText("Booked · lease check-up").waitFor();
  assert.equal(await booking.locator(".status-badge").count(), 0);
  assert.equal(await desk.getByRole("link", { name: /to rebook/ }).count(), 0);
  assert.equal(await desk.evaluate(() => window.sameDocument), true, "the page was not reloaded");
  // Nothing waits any more: the clinic's server holds the booking.
  const onUpstream = (await upApi("GET", `/api/v1/appointments?doctor_id=${dr.id}`, undefined, upAdminToken)).appointments.find((a) => a.reason === "lease check-up");
  assert.ok(onUpstream, "the booking is on the clinic's server");
  assert.equal(onUpstream.status, "booked");
  const deskToken = await login(nodeApi, nodeDesk);
  const conflicts = (await nodeApi("GET", "/api/v1/sync/conflicts", undefined, deskToken)).conflicts;
  assert.deepEqual(conflicts, []);
  await screenshot(desk, "sync-lease-confirmed");
  lap("synced");

  // The administrator gives the block back, after confirming.
  await row.getByRole("button", { name: new RegExp(`^Give back ${doctor.name}'s time, `) }).click();
  const dialog = wsAdmin.getByRole("dialog", { name: new RegExp(`^Give back ${doctor.name}'s time, .*\\?$`) });
  await accessible(wsAdmin, "sync-lease-give-back");
  await dialog.getByRole("button", { name: "Give back" }).click();
  await lent.getByText(new RegExp(`^Given back: ${doctor.name}'s time, `)).waitFor();
  await lent.getByText("No time is lent to this installation.").waitFor();
  lap("given back");

  assert.deepEqual(errors, []);
});
