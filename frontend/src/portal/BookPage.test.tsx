import { act, cleanup, fireEvent, screen } from "@testing-library/react";
import { Route, Routes, useLocation } from "react-router-dom";
import { afterEach, describe, expect, it } from "vitest";
import { admin, renderAs, type Answer, type Call } from "../admin/testing";
import { BookPage } from "./BookPage";
import { formatHour, todayString } from "./api";

afterEach(cleanup);

const staff = { ...admin, id: "u-sam", name: "Sam Staff", role: "staff" };
const lee = { id: "d-lee", user_id: "u-lee", name: "Dr Lee", specialization: "General practice", qualifications: [], years_experience: 5, created_at: "", updated_at: "" };
const kim = { id: "d-kim", user_id: "u-kim", name: "Dr Kim", specialization: "Dermatology", qualifications: [], years_experience: 9, created_at: "", updated_at: "" };
const ana = { id: "p-ana", name: "Ana Díaz", date_of_birth: "1990-05-06", address: {}, emergency_contacts: [], created_at: "", updated_at: "" };
const later = new Date(Date.now() + 3 * 24 * 3600_000);
const day = todayString(later);
const [y, m, d] = day.split("-").map(Number);
const slot = { start: new Date(y, m - 1, d, 10).toISOString(), end: new Date(y, m - 1, d, 10, 30).toISOString() };

/** DayPage stands for the clinic's day the booking page goes to, showing the notice it was given. */
function DayPage() {
  const booked = (useLocation().state as { booked?: string } | null)?.booked;
  return <p role="status">{booked}</p>;
}

function page() {
  return (
    <Routes>
      <Route path="/book" element={<BookPage />} />
      <Route path="/clinic-day" element={<DayPage />} />
    </Routes>
  );
}

/** node is a workstation that syncs: its bookings wait for the main server's confirmation. */
function node() {
  return (c: Call): Answer => {
    if (c.path === "/api/v1/doctors") return { body: { doctors: [kim, lee] } };
    if (c.path === "/api/v1/patients/p-ana") return { body: ana };
    if (c.path === "/api/v1/doctors/d-lee/availability") return { body: { doctor_id: lee.id, time_zone: "", slot_minutes: 30, weekly: [], exceptions: [] } };
    if (c.path === "/api/v1/doctors/d-lee/slots") return { body: { slots: [slot] } };
    if (c.method === "POST" && c.path === "/api/v1/appointments") {
      const b = c.body as Record<string, string>;
      return { status: 201, body: { id: "a-new", ...b, status: "pending", created_at: "", created_by: staff.id, updated_at: "" } };
    }
    if (c.method === "POST" && c.path === "/api/v1/sync/conflicts/op-1/resolve") return { body: { id: "op-1" } };
    return undefined;
  };
}

describe("booking for a patient after a sync conflict", () => {
  it("opens with the patient, the doctor and the day of the lost booking, and marks the conflict dealt with once rebooked", async () => {
    const calls = await renderAs(staff, page(), node(), `/book?patient=p-ana&doctor=d-lee&day=${day}&conflict=op-1`);
    expect(await screen.findByText("Booking for Ana Díaz")).toBeInTheDocument();
    expect(screen.getByText(/^Rebooking a booking the main server could not confirm/)).toBeInTheDocument();
    await vi.waitFor(() => expect(screen.getByLabelText("Doctor")).toHaveValue("d-lee"));
    expect(screen.getByLabelText("Specialization")).toHaveValue("General practice");
    expect(screen.getByLabelText("Day")).toHaveValue(day);

    await act(async () => fireEvent.click(await screen.findByLabelText(formatHour(slot.start))));
    await act(async () => fireEvent.click(screen.getByRole("button", { name: /^Book .* with Dr Lee$/ })));
    expect(calls.find((c) => c.method === "POST" && c.path === "/api/v1/appointments")?.body).toMatchObject({ doctor_id: "d-lee", patient_id: "p-ana", start: slot.start });
    expect(calls.some((c) => c.method === "POST" && c.path === "/api/v1/sync/conflicts/op-1/resolve")).toBe(true);
    // Made on a workstation that syncs, the booking waits for the main server.
    expect(await screen.findByRole("status")).toHaveTextContent(/^Requested: .* with Dr Lee\. It is confirmed as soon as the main server answers\.$/);
  });

  it("does not mark any conflict for an ordinary booking", async () => {
    const calls = await renderAs(staff, page(), node(), `/book?patient=p-ana&doctor=d-lee&day=${day}`);
    await vi.waitFor(() => expect(screen.getByLabelText("Doctor")).toHaveValue("d-lee"));
    expect(screen.queryByText(/^Rebooking/)).toBeNull();
    await act(async () => fireEvent.click(await screen.findByLabelText(formatHour(slot.start))));
    await act(async () => fireEvent.click(screen.getByRole("button", { name: /^Book .* with Dr Lee$/ })));
    await screen.findByRole("status");
    // The free times read whether this installation syncs (GET status); nothing is marked.
    expect(calls.some((c) => c.method === "POST" && c.path.startsWith("/api/v1/sync/"))).toBe(false);
  });
});
