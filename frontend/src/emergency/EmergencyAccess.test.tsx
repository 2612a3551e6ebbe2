import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { Route, Routes } from "react-router-dom";
import { afterEach, describe, expect, it } from "vitest";
import { admin, renderAs, type Answer, type Call } from "../admin/testing";
import { PatientPage } from "../staff/PatientPage";

afterEach(cleanup);

const ana = { id: "p-ana", name: "Ana Díaz", date_of_birth: "1990-05-06", phone: "", address: {}, emergency_contacts: [], created_at: "", updated_at: "" };
const refused = { status: 403, body: { error: { code: "forbidden", message: "Your role (doctor) may not read this medical record." } } };
const reasons = [
  { code: "life_threatening", label: "Life-threatening emergency" },
  { code: "other", label: "Other (explain in the details)" },
];
const page = <Routes><Route path="/patients/:id" element={<PatientPage />} /></Routes>;
const doctor = { ...admin, id: "u-lee", name: "Dr Lee", role: "doctor" };

/** clinic answers as the server would for a doctor who holds a grant once granted is true. */
function clinic(state: { granted: boolean; password: string }) {
  const until = new Date(Date.now() + 4 * 3600_000).toISOString();
  return (c: Call): Answer => {
    if (c.path === "/api/v1/emergency-access/options") return { body: { reasons, default_minutes: 240, max_minutes: 480 } };
    if (c.path === "/api/v1/emergency-access" && c.method === "GET") {
      return { body: { grants: state.granted ? [{ id: "g1", patient_id: ana.id, created_at: new Date().toISOString(), expires_at: until }] : [] } };
    }
    if (c.path === "/api/v1/emergency-access" && c.method === "POST") {
      const body = c.body as { password?: string };
      if (body.password !== state.password) return { status: 403, body: { error: { code: "forbidden", field: "password", message: "That password is not correct." } } };
      state.granted = true;
      return { status: 201, body: { id: "g1", patient_id: ana.id, expires_at: until } };
    }
    if (!state.granted) return refused;
    if (c.path === "/api/v1/patients/p-ana") return { body: ana };
    if (c.path === "/api/v1/patients/p-ana/entries") return { body: { entries: [] } };
    if (c.path === "/api/v1/appointments") return { body: { appointments: [] } };
    return undefined;
  };
}

describe("emergency access", () => {
  it("offers it on a refused record, needs a reason and the right password, then opens the record under a banner", async () => {
    const state = { granted: false, password: "right password" };
    const calls = await renderAs(doctor, page, clinic(state), "/patients/p-ana");
    expect(await screen.findByRole("heading", { name: "You do not treat this patient" })).toBeInTheDocument();
    expect(screen.queryByText("Ana Díaz")).not.toBeInTheDocument();
    fireEvent.click(screen.getByRole("button", { name: "Emergency access" }));
    const dialog = await screen.findByRole("dialog", { name: "Emergency access to this record" });
    await within(dialog).findByRole("option", { name: "Life-threatening emergency" });

    // Nothing is sent without a reason and a password.
    fireEvent.click(within(dialog).getByRole("button", { name: "Open the record" }));
    expect(await within(dialog).findByText("Choose the reason you need this record.")).toBeInTheDocument();
    expect(within(dialog).getByText(/Enter your password/)).toBeInTheDocument();
    // "Other" needs the details.
    fireEvent.change(within(dialog).getByLabelText("Reason"), { target: { value: "other" } });
    fireEvent.change(within(dialog).getByLabelText("Your password"), { target: { value: "wrong" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Open the record" }));
    expect(await within(dialog).findByText("Explain in the details why you need this record.")).toBeInTheDocument();
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);

    // A wrong password is shown on its field, and the dialog stays.
    fireEvent.change(within(dialog).getByLabelText("Reason"), { target: { value: "life_threatening" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Open the record" }));
    expect(await within(dialog).findByText("That password is not correct.")).toBeInTheDocument();

    fireEvent.change(within(dialog).getByLabelText("Your password"), { target: { value: "right password" } });
    fireEvent.change(within(dialog).getByLabelText("Details"), { target: { value: "  Collapsed in the waiting room  " } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Open the record" }));
    expect(await screen.findByRole("heading", { level: 2, name: "Ana Díaz" })).toBeInTheDocument();
    expect(await screen.findByRole("status")).toHaveTextContent(/^Emergency access until .+ — every view is recorded$/);
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    const posts = calls.filter((c) => c.method === "POST" && c.path === "/api/v1/emergency-access");
    expect(posts.at(-1)?.body).toEqual({ patient_id: "p-ana", reason: "life_threatening", details: "Collapsed in the waiting room", password: "right password" });
  });

  it("sends the authenticator code when no password is given", async () => {
    const state = { granted: false, password: "" };
    const calls = await renderAs(doctor, page, (c) => {
      if (c.method === "POST" && c.path === "/api/v1/emergency-access") {
        state.granted = true;
        return { status: 201, body: { id: "g1" } };
      }
      return clinic(state)(c);
    }, "/patients/p-ana");
    fireEvent.click(await screen.findByRole("button", { name: "Emergency access" }));
    const dialog = await screen.findByRole("dialog");
    await within(dialog).findByRole("option", { name: "Life-threatening emergency" });
    fireEvent.change(within(dialog).getByLabelText("Reason"), { target: { value: "life_threatening" } });
    fireEvent.change(within(dialog).getByLabelText(/code from your authenticator app/), { target: { value: " 123456 " } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Open the record" }));
    expect(await screen.findByRole("heading", { level: 2, name: "Ana Díaz" })).toBeInTheDocument();
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ patient_id: "p-ana", reason: "life_threatening", details: "", totp_code: "123456" });
  });
});
