import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { admin, renderAs, type Answer, type Call } from "../admin/testing";
import { formatHour } from "../portal/api";
import { ClinicDayPage } from "./ClinicDayPage";

afterEach(cleanup);

const staff = { ...admin, id: "u-sam", name: "Sam Staff", role: "staff" };
const hour = 3600_000;
const doctor = { id: "d-lee", user_id: "u-lee", name: "Dr Lee", specialization: "General practice", qualifications: [], years_experience: 5, created_at: "", updated_at: "" };
const ana = { id: "p-ana", name: "Ana Díaz", date_of_birth: "1990-05-06", address: {}, emergency_contacts: [], created_at: "", updated_at: "" };
const start = new Date(Date.now() + 0.5 * hour);
const free = { start: new Date(Date.now() + 3 * hour).toISOString(), end: new Date(Date.now() + 3.5 * hour).toISOString() };

/** clinic is a fake server with one booked appointment that the page's actions change. */
function clinic() {
  const a = { id: "a1", doctor_id: doctor.id, patient_id: ana.id, start: start.toISOString(), end: new Date(start.getTime() + 0.5 * hour).toISOString(), status: "booked", reason: "" };
  return (c: Call): Answer => {
    if (c.path === "/api/v1/doctors") return { body: { doctors: [doctor] } };
    if (c.path === "/api/v1/patients") return { body: { patients: [ana] } };
    if (c.path === "/api/v1/appointments") return { body: { appointments: [{ ...a }] } };
    if (c.path === "/api/v1/doctors/d-lee/slots") return { body: { slots: [free] } };
    if (c.method === "POST" && c.path === "/api/v1/appointments/a1/status") {
      a.status = (c.body as { status: string }).status;
      return { body: { ...a } };
    }
    if (c.method === "POST" && c.path === "/api/v1/appointments/a1/cancel") {
      a.status = "cancelled";
      return { body: { ...a } };
    }
    if (c.method === "POST" && c.path === "/api/v1/appointments/a1/reschedule") {
      Object.assign(a, c.body);
      return { body: { ...a } };
    }
    return undefined;
  };
}

const list = () => screen.findByRole("list", { name: "Dr Lee" });

describe("the clinic's day", () => {
  it("checks a patient in by the button named for them: the appointment becomes arrived", async () => {
    const calls = await renderAs(staff, <ClinicDayPage />, clinic());
    await act(async () => fireEvent.click(await screen.findByRole("button", { name: "Check in Ana Díaz" })));
    expect(calls.find((c) => c.path === "/api/v1/appointments/a1/status")?.body).toEqual({ status: "arrived" });
    expect(await screen.findByRole("status")).toHaveTextContent("Ana Díaz is checked in.");
    await vi.waitFor(() => expect(within(document.body).queryByRole("button", { name: "Check in Ana Díaz" })).toBeNull());
    expect(await list()).toHaveTextContent("Arrived");
    expect(within(await list()).getByRole("link", { name: "Ana Díaz" })).toHaveAttribute("href", "/patients/p-ana");
  });

  it("cancels with the reason given, and the appointment leaves the day", async () => {
    const calls = await renderAs(staff, <ClinicDayPage />, clinic());
    await act(async () => fireEvent.click(await screen.findByRole("button", { name: `Cancel the appointment of Ana Díaz at ${formatHour(start.toISOString())}` })));
    const form = screen.getByRole("form", { name: /^Cancel Ana Díaz at/ });
    fireEvent.change(within(form).getByLabelText("Reason for cancelling"), { target: { value: "Patient called in sick" } });
    await act(async () => fireEvent.click(within(form).getByRole("button", { name: "Cancel the appointment" })));
    expect(calls.find((c) => c.path === "/api/v1/appointments/a1/cancel")?.body).toEqual({ reason: "Patient called in sick" });
    expect(await screen.findByRole("status")).toHaveTextContent("The appointment of Ana Díaz at");
    await vi.waitFor(() => expect(screen.getByText("No appointments.")).toBeInTheDocument());
  });

  it("keeps the appointment when the desk changes its mind about cancelling", async () => {
    const calls = await renderAs(staff, <ClinicDayPage />, clinic());
    await act(async () => fireEvent.click(await screen.findByRole("button", { name: /^Cancel the appointment of Ana Díaz/ })));
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Keep it" })));
    expect(screen.queryByRole("form")).toBeNull();
    expect(calls.some((c) => c.method === "POST")).toBe(false);
  });

  it("reschedules to a free slot picked with the slot picker", async () => {
    const calls = await renderAs(staff, <ClinicDayPage />, clinic());
    await act(async () => fireEvent.click(await screen.findByRole("button", { name: /^Reschedule Ana Díaz at/ })));
    const form = screen.getByRole("form", { name: /^Move Ana Díaz from/ });
    await act(async () => fireEvent.click(await within(form).findByLabelText(formatHour(free.start))));
    await act(async () => fireEvent.click(within(form).getByRole("button", { name: /^Move to/ })));
    expect(calls.find((c) => c.path === "/api/v1/appointments/a1/reschedule")?.body).toEqual(free);
    expect(await screen.findByRole("status")).toHaveTextContent("Ana Díaz moved to");
  });
});

describe("a booking waiting for the main server", () => {
  it("shows as waiting for confirmation, with move and cancel but no check-in", async () => {
    const server = clinic();
    const pending = { id: "a2", doctor_id: doctor.id, patient_id: ana.id, start: start.toISOString(), end: new Date(start.getTime() + 0.5 * hour).toISOString(), status: "pending", reason: "flu" };
    await renderAs(staff, <ClinicDayPage />, (c) => (c.path === "/api/v1/appointments" ? { body: { appointments: [pending] } } : server(c)));
    const day = await list();
    const badge = await within(day).findByText("Waiting for confirmation");
    expect(badge).toHaveClass("status-badge", "pending");
    expect(day).toHaveTextContent("Waiting for confirmation · flu");
    expect(within(day).queryByRole("button", { name: "Check in Ana Díaz" })).toBeNull();
    expect(within(day).getByRole("button", { name: /^Reschedule Ana Díaz at/ })).toBeInTheDocument();
    expect(within(day).getByRole("button", { name: /^Cancel the appointment of Ana Díaz at/ })).toBeInTheDocument();
  });
});
