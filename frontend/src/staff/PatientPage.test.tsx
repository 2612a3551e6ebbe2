import { cleanup, screen, within } from "@testing-library/react";
import { Route, Routes } from "react-router-dom";
import { afterEach, describe, expect, it } from "vitest";
import { admin, renderAs, type Answer, type Call } from "../admin/testing";
import { PatientPage } from "./PatientPage";

afterEach(cleanup);

const ana = { id: "p-ana", name: "Ana Díaz", date_of_birth: "1990-05-06", phone: "+34 600 000 000", address: {}, emergency_contacts: [], created_at: "", updated_at: "" };
const doctor = { id: "d-lee", user_id: "u-lee", name: "Dr Lee", specialization: "General practice", qualifications: [], years_experience: 5, created_at: "", updated_at: "" };
const visit = { id: "a1", doctor_id: doctor.id, patient_id: ana.id, start: "2026-12-01T09:00:00Z", end: "2026-12-01T09:30:00Z", status: "fulfilled", reason: "" };

function server(c: Call): Answer {
  if (c.path === "/api/v1/patients/p-ana") return { body: ana };
  if (c.path === "/api/v1/patients/p-ana/entries") return { body: { entries: [{ id: "e1", patient_id: ana.id, kind: "allergy", description: "Penicillin", status: "active", created_at: "", updated_at: "" }] } };
  if (c.path === "/api/v1/doctors") return { body: { doctors: [doctor] } };
  if (c.path === "/api/v1/appointments") return { body: { appointments: [visit] } };
  return undefined;
}

const page = <Routes><Route path="/patients/:id" element={<PatientPage />} /></Routes>;

describe("a patient's page", () => {
  it("shows the front desk the patient's details and appointments, with booking, and no medical history", async () => {
    const calls = await renderAs({ ...admin, id: "u-sam", name: "Sam Staff", role: "staff" }, page, server, "/patients/p-ana");
    expect(await screen.findByRole("heading", { level: 1, name: "Ana Díaz" })).toBeInTheDocument();
    expect(screen.getByText("+34 600 000 000")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Book for Ana Díaz" })).toHaveAttribute("href", "/book?patient=p-ana");
    expect(await within(screen.getByRole("list", { name: "Appointments" })).findByText(/with Dr Lee/)).toBeInTheDocument();
    expect(calls.some((c) => c.path.endsWith("/entries"))).toBe(false);
  });

  it("shows a doctor the medical summary", async () => {
    await renderAs({ ...admin, id: "u-lee", name: "Dr Lee", role: "doctor" }, page, server, "/patients/p-ana");
    expect(await screen.findByRole("heading", { level: 2, name: "Ana Díaz" })).toBeInTheDocument();
    expect(await screen.findByText("Penicillin")).toBeInTheDocument();
  });
});
