import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { Route, Routes } from "react-router-dom";
import { admin, renderAs, type Answer, type Call } from "../admin/testing";
import type { Consultation } from "./api";
import { ConsultationButton } from "./ConsultationButton";
import { VisitNotes } from "./VisitNotes";

afterEach(cleanup);

const patient = { ...admin, id: "u-ana", name: "Ana Díaz", role: "patient" };
const doctor = { ...admin, id: "u-lee", name: "Dr Lee", role: "doctor" };

const base: Consultation = {
  id: "c1",
  patient_id: "p-ana",
  doctor_id: "d-lee",
  doctor_user_id: "u-lee",
  created_at: "2026-03-02T09:00:00Z",
  updated_at: "2026-03-02T09:00:00Z",
  note: { reason: "Cough", history: "Three days", findings: "Clear chest", plan: "Rest" },
  note_status: "signed",
  note_version: 3,
  signed_at: "2026-03-02T09:30:00Z",
  signed_by: "u-lee",
  doctor_name: "Dr Lee",
};
const draft: Consultation = { ...base, id: "c2", note: { reason: "Secret draft", history: "", findings: "", plan: "" }, note_status: "draft", signed_at: undefined, signed_by: undefined, created_at: "2026-03-05T09:00:00Z" };

const withHeading = (ui: React.ReactNode) => (
  <>
    <h1>Record</h1>
    {ui}
  </>
);

describe("VisitNotes", () => {
  it("shows a patient their signed notes with date, doctor and the four parts, and never a draft the server sends", async () => {
    const calls = await renderAs(patient, withHeading(<VisitNotes patientID="p-ana" />), (c: Call): Answer => (c.path === "/api/v1/consultations" ? { body: { consultations: [draft, base] } } : undefined));
    const notes = await screen.findByRole("list", { name: "Visit notes" });
    const items = within(notes).getAllByRole("listitem");
    expect(items).toHaveLength(1);
    expect(items[0]).toHaveAccessibleName(/· Dr Lee$/);
    expect(items[0]).toHaveTextContent("ReasonCoughHistoryThree daysFindingsClear chestPlanRest");
    expect(screen.queryByText("Secret draft")).toBeNull();
    expect(screen.queryByText("Not signed yet")).toBeNull();
    expect(calls[0].query.get("patient_id")).toBe("p-ana");
  });

  it("says so when the clinic does not share notes", async () => {
    await renderAs(patient, withHeading(<VisitNotes patientID="p-ana" />), () => ({ status: 403, body: { error: { code: "forbidden", message: "no" } } }));
    expect(await screen.findByText(/The clinic does not share visit notes here/)).toBeInTheDocument();
  });

  it("shows a doctor links to each consultation, the unsigned ones by date", async () => {
    await renderAs(doctor, withHeading(<VisitNotes patientID="p-ana" withLinks startable />), (c: Call): Answer => (c.path === "/api/v1/consultations" ? { body: { consultations: [draft, base] } } : undefined));
    const unsigned = await screen.findByRole("list", { name: "Not signed yet" });
    expect(within(unsigned).getByRole("link")).toHaveAttribute("href", "/consultations/c2");
    expect(unsigned).toHaveTextContent("draft");
    expect(screen.getByRole("link", { name: /^Open the consultation of / })).toHaveAttribute("href", "/consultations/c1");
    expect(screen.getByRole("button", { name: "Start consultation" })).toBeInTheDocument();
  });
});

describe("ConsultationButton", () => {
  it("starts the appointment's consultation and opens its page", async () => {
    const calls = await renderAs(
      doctor,
      <Routes>
        <Route path="/" element={withHeading(<ConsultationButton appointmentID="a1" patient="Ana Díaz" />)} />
        <Route path="/consultations/:id" element={<h1>Consultation page</h1>} />
      </Routes>,
      (c: Call): Answer => {
        if (c.method === "GET" && c.path === "/api/v1/consultations") return { body: { consultations: [] } };
        if (c.method === "POST" && c.path === "/api/v1/consultations") return { status: 201, body: { ...base, id: "c9", note_status: "none" } };
        return undefined;
      },
    );
    const start = await screen.findByRole("button", { name: "Start consultation with Ana Díaz" });
    await act(async () => fireEvent.click(start));
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ appointment_id: "a1" });
    expect(await screen.findByRole("heading", { name: "Consultation page" })).toBeInTheDocument();
  });

  it("opens the one there is", async () => {
    const calls = await renderAs(doctor, withHeading(<ConsultationButton appointmentID="a1" patient="Ana Díaz" />), (c: Call): Answer =>
      c.path === "/api/v1/consultations" ? { body: { consultations: [base] } } : undefined,
    );
    expect(await screen.findByRole("button", { name: "Open consultation with Ana Díaz" })).toHaveTextContent("Open consultation");
    expect(calls[0].query.get("appointment_id")).toBe("a1");
  });
});
