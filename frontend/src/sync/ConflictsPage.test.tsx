import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { admin, renderAs, type Answer, type Call } from "../admin/testing";
import { formatDateTime } from "../time";
import { ConflictsPage } from "./ConflictsPage";

afterEach(cleanup);

const staff = { ...admin, id: "u-sam", name: "Sam Staff", role: "staff" };
const never = "0001-01-01T00:00:00Z";
const doctor = { id: "d-lee", user_id: "u-lee", name: "Lee", specialization: "General practice", qualifications: [], years_experience: 5, created_at: "", updated_at: "" };
const ana = { id: "p-ana", name: "Ana Díaz", date_of_birth: "1990-05-06", address: {}, emergency_contacts: [], created_at: "", updated_at: "" };
const start = new Date(Date.now() + 2 * 24 * 3600_000);
start.setUTCHours(9, 0, 0, 0);
const lost = {
  id: "op-1", node_id: "ws-1", appointment_id: "a-lost", doctor_id: doctor.id, patient_id: ana.id, start: start.toISOString(),
  end: new Date(start.getTime() + 30 * 60_000).toISOString(), kind: "book", outcome: "conflict",
  reason: "Another booking took this time first; rebook the patient.", winner_id: "a-won", created_at: new Date().toISOString(), resolved_at: never,
};

/** clinic is a node with one booking that lost its race; the doctor's hours are in Tokyo. */
function clinic() {
  let open = [lost];
  return (c: Call): Answer => {
    if (c.path === "/api/v1/sync/status") return { body: { enrolled: true, state: "ok", queued: 0, open_conflicts: open.length, last_success: lost.created_at } };
    if (c.path === "/api/v1/sync/conflicts") return { body: { conflicts: open } };
    if (c.path === "/api/v1/doctors") return { body: { doctors: [doctor] } };
    if (c.path === "/api/v1/patients/p-ana") return { body: ana };
    if (c.path === "/api/v1/doctors/d-lee/availability") return { body: { doctor_id: doctor.id, time_zone: "Asia/Tokyo", slot_minutes: 30, weekly: [], exceptions: [] } };
    if (c.method === "POST" && c.path === "/api/v1/sync/conflicts/op-1/resolve") {
      open = [];
      return { body: { ...lost, resolved_at: new Date().toISOString(), resolved_by: staff.id } };
    }
    return undefined;
  };
}

describe("the Conflicts page", () => {
  it("lists a lost booking by patient, doctor, time on the doctor's clock and reason, with where to rebook", async () => {
    await renderAs(staff, <ConflictsPage />, clinic());
    const list = await screen.findByRole("list", { name: "Bookings to rebook" });
    const item = await within(list).findByText("Booking of Ana Díaz with Dr Lee");
    const row = item.closest("li") as HTMLElement;
    await vi.waitFor(() => expect(row).toHaveTextContent(`Was for ${formatDateTime(lost.start, "Asia/Tokyo")}`));
    expect(row).toHaveTextContent("Why: Another booking took this time first; rebook the patient.");
    const rebook = within(row).getByRole("link", { name: "Rebook Ana Díaz with Dr Lee" });
    const href = new URL(rebook.getAttribute("href") ?? "", "http://clinic.test");
    expect(href.pathname).toBe("/book");
    expect(href.searchParams.get("patient")).toBe(ana.id);
    expect(href.searchParams.get("doctor")).toBe(doctor.id);
    expect(href.searchParams.get("conflict")).toBe(lost.id);
    expect(href.searchParams.get("day")).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it("marks a conflict as dealt with, and it leaves the list", async () => {
    const calls = await renderAs(staff, <ConflictsPage />, clinic());
    const button = await screen.findByRole("button", { name: /^Mark as dealt with: Ana Díaz at / });
    await act(async () => fireEvent.click(button));
    expect(calls.some((c) => c.method === "POST" && c.path === "/api/v1/sync/conflicts/op-1/resolve")).toBe(true);
    expect(await screen.findByRole("status")).toHaveTextContent("The booking of Ana Díaz at");
    expect(await screen.findByText("Nothing to rebook: every booking made here was confirmed.")).toBeInTheDocument();
  });

  it("sends a lost move to the patient's page, where the appointment can be moved again", async () => {
    const server = clinic();
    await renderAs(staff, <ConflictsPage />, (c) => (c.path === "/api/v1/sync/conflicts" ? { body: { conflicts: [{ ...lost, kind: "update" }] } } : server(c)));
    const item = await screen.findByText("Change to the appointment of Ana Díaz with Dr Lee");
    const row = item.closest("li") as HTMLElement;
    expect(within(row).queryByRole("link", { name: /^Rebook/ })).toBeNull();
    expect(within(row).getByRole("link", { name: "Ana Díaz" })).toHaveAttribute("href", "/patients/p-ana");
  });

  it("says when the sync is offline, above the list", async () => {
    const server = clinic();
    await renderAs(staff, <ConflictsPage />, (c) => (c.path === "/api/v1/sync/status" ? { body: { enrolled: true, state: "offline", queued: 1, open_conflicts: 0, last_success: never } } : server(c)));
    expect(await screen.findByText("Sync: Offline.")).toBeInTheDocument();
  });
});
