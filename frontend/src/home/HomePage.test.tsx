import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { admin, renderAs, type Answer, type Call } from "../admin/testing";
import { HomePage } from "../pages/HomePage";
import { formatDateTime, formatTime } from "../time";

afterEach(cleanup);

const as = (role: string, name: string) => ({ ...admin, id: `u-${role}`, name, role });
const hour = 3600_000;
const at = (offsetHours: number) => new Date(Date.now() + offsetHours * hour).toISOString();
const doctor = { id: "d-lee", user_id: "u-doctor", name: "Dr Lee", specialization: "General practice", qualifications: [], years_experience: 5, created_at: "", updated_at: "" };
const ana = { id: "p-ana", name: "Ana Díaz", date_of_birth: "1990-05-06", address: {}, emergency_contacts: [], created_at: "", updated_at: "" };
const ben = { id: "p-ben", name: "Ben Okafor", date_of_birth: "1985-01-02", address: {}, emergency_contacts: [], created_at: "", updated_at: "" };
const appt = (id: string, patient: string, start: string, status: string, doctorID = doctor.id) => ({
  id, doctor_id: doctorID, patient_id: patient, start, end: new Date(new Date(start).getTime() + 0.5 * hour).toISOString(), status, reason: "",
});

describe("patient home", () => {
  it("shows the next appointments in the doctor's zone, unread notifications with mark read, and where to book or chat", async () => {
    let read = false;
    const next = appt("a1", ana.id, at(26), "booked");
    const calls = await renderAs(as("patient", "Ana Díaz"), <HomePage />, (c: Call): Answer => {
      if (c.path === "/api/v1/me/patient") return { body: ana };
      if (c.path === "/api/v1/doctors") return { body: { doctors: [doctor] } };
      if (c.path === "/api/v1/appointments") return { body: { appointments: [next, appt("a0", ana.id, at(30), "cancelled")] } };
      if (c.path === "/api/v1/doctors/d-lee/availability") return { body: { doctor_id: doctor.id, time_zone: "Asia/Tokyo", slot_minutes: 30, weekly: [], exceptions: [] } };
      if (c.path === "/api/v1/notifications")
        return { body: { notifications: [{ id: "n1", user_id: "u-patient", kind: "booked", subject: "Appointment booked", body: "See you soon", created_at: at(-1), email_status: "skipped", ...(read ? { read_at: at(0) } : {}) }] } };
      if (c.method === "POST" && c.path === "/api/v1/notifications/n1/read") {
        read = true;
        return { status: 204 };
      }
      return undefined;
    });
    expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("Welcome, Ana Díaz");
    const when = formatDateTime(next.start, "Asia/Tokyo");
    expect(await screen.findByText(`${when} with Dr Lee`)).toBeInTheDocument();
    expect(screen.getAllByRole("listitem").filter((li) => li.textContent?.includes("Cancelled"))).toHaveLength(0);
    expect(screen.getByRole("link", { name: `Reschedule or cancel the appointment of ${when}` })).toHaveAttribute("href", "/appointments");
    expect(screen.getByRole("link", { name: "Book an appointment" })).toHaveAttribute("href", "/book");
    expect(screen.getByRole("link", { name: "Start a chat" })).toHaveAttribute("href", "/assistant");

    await act(async () => fireEvent.click(await screen.findByRole("button", { name: "Mark read: Appointment booked" })));
    expect(calls.some((c) => c.method === "POST" && c.path === "/api/v1/notifications/n1/read")).toBe(true);
    expect(await screen.findByText("Nothing new.")).toBeInTheDocument();
  });
});

describe("doctor home", () => {
  it("lists today's patients with links to their pages and their consultations, and highlights the next one", async () => {
    const seen = appt("a1", ana.id, at(-2), "fulfilled");
    const coming = appt("a2", ben.id, at(1), "booked");
    await renderAs(as("doctor", "Dr Lee"), <HomePage />, (c: Call): Answer => {
      if (c.path === "/api/v1/doctors") return { body: { doctors: [doctor] } };
      if (c.path === "/api/v1/patients") return { body: { patients: [ana, ben] } };
      if (c.path === "/api/v1/appointments") {
        expect(c.query.get("doctor_id")).toBe(doctor.id);
        return { body: { appointments: [coming, seen] } };
      }
      if (c.path === "/api/v1/consultations") return { body: { consultations: c.query.get("appointment_id") === "a1" ? [{ id: "c1", appointment_id: "a1" }] : [] } };
      return undefined;
    });
    await screen.findByRole("button", { name: "Open consultation with Ana Díaz" });
    await screen.findByRole("button", { name: "Start consultation with Ben Okafor" });
    const next = await screen.findByRole("region", { name: "Next patient" });
    expect(next).toHaveTextContent(`${formatTime(coming.start)} Ben Okafor · Booked`);
    expect(within(next).getByRole("link", { name: "Ben Okafor" })).toHaveAttribute("href", "/patients/p-ben");
    const today = screen.getByRole("list", { name: "Today's patients" });
    const rows = within(today).getAllByRole("listitem");
    expect(rows.map((r) => r.textContent)).toEqual([`${formatTime(seen.start)} Ana DíazSeenOpen consultation`, `${formatTime(coming.start)} Ben OkaforBookedStart consultation`]);
    expect(within(today).getByRole("link", { name: "Ana Díaz" })).toHaveAttribute("href", "/patients/p-ana");
  });

  it("says plainly when nobody is booked today", async () => {
    await renderAs(as("doctor", "Dr Lee"), <HomePage />, (c: Call): Answer => {
      if (c.path === "/api/v1/doctors") return { body: { doctors: [doctor] } };
      if (c.path === "/api/v1/patients") return { body: { patients: [] } };
      if (c.path === "/api/v1/appointments") return { body: { appointments: [] } };
      return undefined;
    });
    expect(await screen.findByText("No patients are booked for you today.")).toBeInTheDocument();
    expect(screen.queryByRole("region", { name: "Next patient" })).toBeNull();
  });
});

describe("front desk home", () => {
  it("counts today's appointments by status and shows who is waiting and who comes next", async () => {
    await renderAs(as("staff", "Sam Staff"), <HomePage />, (c: Call): Answer => {
      if (c.path === "/api/v1/doctors") return { body: { doctors: [doctor] } };
      if (c.path === "/api/v1/patients") return { body: { patients: [ana, ben] } };
      if (c.path === "/api/v1/appointments")
        return { body: { appointments: [appt("a1", ana.id, at(-0.5), "arrived"), appt("a2", ben.id, at(1), "booked"), appt("a3", ben.id, at(-3), "fulfilled"), appt("a4", ana.id, at(2), "cancelled")] } };
      return undefined;
    });
    const byStatus = await screen.findByLabelText("Today's appointments by status");
    expect(byStatus).toHaveTextContent("Booked1");
    expect(byStatus).toHaveTextContent("Arrived1");
    expect(byStatus).toHaveTextContent("Seen1");
    expect(byStatus).toHaveTextContent("Cancelled1");
    const waiting = screen.getByRole("list", { name: "Checked in and waiting" });
    expect(within(waiting).getByRole("link", { name: "Ana Díaz" })).toHaveAttribute("href", "/patients/p-ana");
    const next = screen.getByRole("list", { name: "Next expected" });
    expect(within(next).getAllByRole("listitem")).toHaveLength(1);
    expect(next).toHaveTextContent("Ben Okafor");
    expect(screen.getByRole("link", { name: "Open the clinic's day" })).toHaveAttribute("href", "/clinic-day");
  });
});

describe("front desk home on a workstation that syncs", () => {
  it("counts bookings waiting for confirmation as expected, and points to the bookings the main server could not confirm", async () => {
    await renderAs(as("staff", "Sam Staff"), <HomePage />, (c: Call): Answer => {
      if (c.path === "/api/v1/doctors") return { body: { doctors: [doctor] } };
      if (c.path === "/api/v1/patients") return { body: { patients: [ana, ben] } };
      if (c.path === "/api/v1/appointments") return { body: { appointments: [appt("a1", ana.id, at(1), "pending")] } };
      if (c.path === "/api/v1/sync/status") return { body: { enrolled: true, state: "ok", queued: 1, open_conflicts: 2, last_success: at(0) } };
      return undefined;
    });
    const byStatus = await screen.findByLabelText("Today's appointments by status");
    expect(byStatus).toHaveTextContent("Waiting for confirmation1");
    const next = screen.getByRole("list", { name: "Next expected" });
    expect(within(next).getByText("Waiting for confirmation")).toHaveClass("status-badge");
    expect(await screen.findByText(/^Bookings made here that the main server could not confirm: 2\./)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Rebook them" })).toHaveAttribute("href", "/conflicts");
  });

  it("says nothing about sync on an installation that is not enrolled", async () => {
    const calls = await renderAs(as("staff", "Sam Staff"), <HomePage />, (c: Call): Answer => {
      if (c.path === "/api/v1/doctors") return { body: { doctors: [doctor] } };
      if (c.path === "/api/v1/patients") return { body: { patients: [] } };
      if (c.path === "/api/v1/appointments") return { body: { appointments: [] } };
      if (c.path === "/api/v1/sync/status") return { body: { enrolled: false, state: "not_enrolled", queued: 0, open_conflicts: 3 } };
      return undefined;
    });
    await screen.findByText("No appointments today.");
    await vi.waitFor(() => expect(calls.some((c) => c.path === "/api/v1/sync/status")).toBe(true));
    expect(screen.queryByRole("link", { name: "Rebook them" })).toBeNull();
  });
});

describe("admin home", () => {
  it("shows each part of the installation's health with where to fix it, and verifies the chain on request", async () => {
    let verified = false;
    const health = () => ({
      assistant: { offline: true, kind: "offline", provider_id: "offline", provider_name: "Offline", external: false, enabled: 1 },
      email: { configured: false },
      knowledge: { sources: 1, indexed: 12, failed_files: 2, problems: [{ id: "s1", location: "/srv/docs", failed_files: 2 }] },
      audit: verified ? { verified: true, ok: true, verified_at: at(0), by: "Ada Admin", detail: "events=9 head=9" } : { verified: false, ok: false },
      accounts: { by_role: { patient: 3, doctor: 2, staff: 1, admin: 1 }, doctors_without_profile: [], doctors_without_hours: [{ id: "d2", user_id: "u2", name: "Dr Nohours" }] },
      backup: {
        methods: ["replication", "snapshots"],
        last_replicated: at(-1 / 3),
        lag_seconds: 1200,
        last_backup: at(-0.5),
        alarm: true,
        problem: "The replica (file:/mnt/nas) is 20m0s behind.",
        last_drill: { at: at(-24), passed: true, source: "replica file:/mnt/nas", rpo_seconds: 42, rto_seconds: 7, failures: [] },
      },
    });
    const calls = await renderAs(admin, <HomePage />, (c: Call): Answer => {
      if (c.path === "/api/v1/admin/health") return { body: health() };
      if (c.path === "/api/v1/sync/status") return { body: { enrolled: false, state: "not_enrolled", queued: 0, open_conflicts: 0, audit_local: 3, audit_shipped: 0 } };
      if (c.path === "/api/v1/sync/nodes") return { body: { nodes: [] } };
      if (c.path === "/api/v1/audit/verify") {
        verified = true;
        return { body: { ok: true, events: 9, head_seq: 9, head_hash: "h" } };
      }
      return undefined;
    });
    const list = await screen.findByRole("list", { name: "Installation health" });
    const line = (title: string) => within(list).getAllByRole("listitem").find((li) => li.querySelector("h3")?.textContent?.startsWith(title)) as HTMLElement;
    expect(line("Assistant")).toHaveTextContent("Offline mode");
    expect(within(line("Assistant")).getByRole("link", { name: "Change the provider" })).toHaveAttribute("href", "/admin/assistant");
    expect(line("E-mail")).toHaveTextContent("No e-mail is configured");
    expect(line("E-mail")).toHaveTextContent("Needs attention");
    expect(line("Knowledge")).toHaveTextContent("2 files could not be indexed.");
    expect(line("Knowledge")).toHaveTextContent("/srv/docs: 2 failed");
    expect(within(line("Knowledge")).getByRole("link", { name: "Review the sources" })).toHaveAttribute("href", "/admin/knowledge");
    expect(line("Accounts")).toHaveTextContent("patient: 3 · doctor: 2 · staff: 1 · administrator: 1");
    expect(line("Accounts")).toHaveTextContent("Doctors without bookable hours: Dr Nohours.");
    expect(within(line("Accounts")).getByRole("link", { name: "Manage accounts" })).toHaveAttribute("href", "/admin/users");
    expect(line("Audit chain")).toHaveTextContent("The audit chain has never been verified.");
    expect(line("Backups")).toHaveTextContent("Needs attention");
    expect(within(line("Backups")).getByRole("alert")).toHaveTextContent("20m0s behind");
    expect(line("Backups")).toHaveTextContent("Backed up by continuous replication, encrypted snapshots.");
    expect(line("Backups")).toHaveTextContent("(20 min behind)");
    expect(line("Backups")).toHaveTextContent("passed: recovery point 42 s, recovery time 7.0 s.");

    await act(async () => fireEvent.click(within(line("Audit chain")).getByRole("button", { name: "Verify now" })));
    expect(calls.some((c) => c.path === "/api/v1/audit/verify")).toBe(true);
    await vi.waitFor(() => expect(line("Audit chain")).toHaveTextContent("Verified intact"));
    expect(line("Audit chain")).toHaveTextContent("by Ada Admin");
    // Sync: a lone installation may connect to an upstream, and may be one.
    const sync = screen.getByRole("region", { name: "Sync" });
    expect(within(sync).getByRole("form", { name: "Connect to an upstream server" })).toBeInTheDocument();
    expect(await within(sync).findByText("No installation syncs with this server yet.")).toBeInTheDocument();
  });
});
