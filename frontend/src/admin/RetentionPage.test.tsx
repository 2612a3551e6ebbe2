import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RetentionPage } from "./RetentionPage";
import { renderAsAdmin, type Answer, type Call } from "./testing";

afterEach(cleanup);

const floors = { clinical_records_floor_years: 6, audit_events_floor_years: 6 };
const ann = { id: "p-ann", name: "Ann Old", date_of_birth: "1940-01-01" };

function server() {
  let policy = { clinical_records_years: 10, audit_events_years: 6, ...floors };
  let holds: { patient_id: string; patient_name: string; reason: string; placed_by: string; placed_at: string }[] = [
    { patient_id: "p-bob", patient_name: "Bob Held", reason: "subpoena 7", placed_by: "admin-1", placed_at: "2026-01-02T03:04:05Z" },
  ];
  return (c: Call): Answer => {
    if (c.path === "/api/v1/retention" && c.method === "GET") return { body: policy };
    if (c.path === "/api/v1/retention" && c.method === "PATCH") {
      policy = { ...policy, ...(c.body as object) };
      return { body: policy };
    }
    if (c.path === "/api/v1/retention/run") return { body: { dry_run: true, patients: 3, legal_holds: holds.length, policy } };
    if (c.path === "/api/v1/legal-holds" && c.method === "GET") return { body: { holds } };
    if (c.path === "/api/v1/legal-holds" && c.method === "POST") {
      const b = c.body as { patient_id: string; reason: string };
      const h = { patient_id: b.patient_id, patient_name: "Ann Old", reason: b.reason, placed_by: "admin-1", placed_at: "2026-02-03T04:05:06Z" };
      holds = [...holds, h];
      return { status: 201, body: h };
    }
    if (c.path === "/api/v1/legal-holds/p-bob" && c.method === "DELETE") {
      holds = holds.filter((h) => h.patient_id !== "p-bob");
      return { status: 204 };
    }
    if (c.path === "/api/v1/patients") return { body: { patients: c.query.get("q") === "ann" ? [ann] : [] } };
    return undefined;
  };
}

describe("RetentionPage", () => {
  it("keeps the periods at or above their floors and saves them", async () => {
    const calls = await renderAsAdmin(<RetentionPage />, server());
    const audit = await screen.findByLabelText("Audit events (years)");
    await vi.waitFor(() => expect(audit).toHaveValue("6"));
    fireEvent.change(audit, { target: { value: "4" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Save retention" })));
    expect(screen.getByText("At least 6 years.")).toBeInTheDocument();
    expect(calls.some((c) => c.method === "PATCH")).toBe(false);

    fireEvent.change(audit, { target: { value: "8" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Save retention" })));
    expect(calls.find((c) => c.method === "PATCH")?.body).toEqual({ clinical_records_years: 10, audit_events_years: 8 });
    expect(await screen.findByText("Retention saved.")).toBeInTheDocument();

    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Count what would be purged now" })));
    expect(calls.find((c) => c.path === "/api/v1/retention/run")?.body).toEqual({ dry_run: true });
    expect(await screen.findByText(/would remove 3 patients' records; 1 patients are on legal hold/)).toBeInTheDocument();
  });

  it("places a hold on a patient found by name, with a reason, and lifts another", async () => {
    const calls = await renderAsAdmin(<RetentionPage />, server());
    const list = await screen.findByRole("list", { name: "Legal holds" });
    await within(list).findByText("Bob Held");

    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Place hold" })));
    expect(screen.getByText("Choose the patient to place on hold.")).toBeInTheDocument();

    fireEvent.change(screen.getByLabelText("Find a patient"), { target: { value: "ann" } });
    await screen.findByRole("option", { name: "Ann Old · 1940-01-01" });
    fireEvent.change(screen.getByLabelText("Patient"), { target: { value: "p-ann" } });
    fireEvent.change(screen.getByLabelText("Reason (the matter or request)"), { target: { value: "records request 12" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Place hold" })));
    expect(calls.find((c) => c.method === "POST" && c.path === "/api/v1/legal-holds")?.body).toEqual({ patient_id: "p-ann", reason: "records request 12" });
    expect(await screen.findByText("Ann Old is on legal hold.")).toBeInTheDocument();
    await within(list).findByText("Ann Old");

    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Lift the legal hold of Bob Held" })));
    expect(calls.some((c) => c.method === "DELETE" && c.path === "/api/v1/legal-holds/p-bob")).toBe(true);
    await vi.waitFor(() => expect(within(list).queryByText("Bob Held")).toBeNull());
  });
});
