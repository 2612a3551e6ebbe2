import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { AuditEvent } from "../api/types";
import { AuditPage, describeEvent } from "./AuditPage";
import { renderAsAdmin, type Answer, type Call } from "./testing";

afterEach(cleanup);

const base: AuditEvent = {
  seq: 7, id: "ev-7", time: "2026-12-01T09:30:00Z", actor_id: "0191d2f4-lee-full-id", actor_role: "doctor", actor_name: "Lee",
  action: "read", resource_type: "patient", resource_id: "0191d2f4-ana-full-id", patient_id: "0191d2f4-ana-full-id", patient_name: "Ana Díaz",
  outcome: "success", source_ip: "", user_agent: "", request_id: "req-1", detail: "", prev_hash: "", hash: "",
};

describe("audit events in words", () => {
  it.each([
    [{}, "Dr Lee read the record of Ana Díaz"],
    [{ actor_name: "Dr. Lee" }, "Dr. Lee read the record of Ana Díaz"],
    [{ outcome: "denied", actor_role: "patient", actor_name: "Pat Jones", resource_type: "clinical" }, "Pat Jones tried to read the medical record of Ana Díaz"],
    [{ action: "login", resource_type: "session", patient_id: "", patient_name: "", actor_role: "staff", actor_name: "Sam Staff" }, "Sam Staff signed in"],
    [{ action: "verify", resource_type: "audit_event", patient_id: "", actor_role: "admin", actor_name: "Ada Admin" }, "Ada Admin verified the audit log"],
    [{ actor_id: "anonymous", actor_role: "", actor_name: "", action: "login", resource_type: "session", patient_id: "", outcome: "failure" }, "Someone not signed in tried to sign in"],
    [{ actor_name: "", patient_name: "" }, "A doctor account read the record of a patient"],
  ])("%o reads %s", (patch, words) => {
    expect(describeEvent({ ...base, ...patch } as AuditEvent)).toBe(words);
  });
});

describe("AuditPage", () => {
  it("shows names and roles, filters by a date range, shows full ids on demand and exports the filtered view", async () => {
    const calls = await renderAsAdmin(<AuditPage />, (c: Call): Answer => {
      if (c.path === "/api/v1/audit/events") return { body: { events: [base], next_before: 0 } };
      if (c.path === "/api/v1/audit/export") return { body: "" };
      return undefined;
    });
    const row = (await screen.findByText("Dr Lee read the record of Ana Díaz")).closest("tr") as HTMLElement;
    expect(row).toHaveTextContent("doctor");
    expect(within(row).getByRole("link", { name: "Ana Díaz" })).toHaveAttribute("href", "/patients/0191d2f4-ana-full-id");
    expect(row).not.toHaveTextContent("0191d2f4-lee-full-id");

    fireEvent.click(screen.getByLabelText("Show full ids"));
    expect(row).toHaveTextContent("0191d2f4-lee-full-id");
    expect(row).toHaveTextContent("0191d2f4-ana-full-id");

    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-12-01" } });
    fireEvent.change(screen.getByLabelText("To"), { target: { value: "2026-12-03" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Filter" })));
    const listed = await vi.waitFor(() => {
      const c = calls.filter((c) => c.path === "/api/v1/audit/events").at(-1)!;
      expect(c.query.get("from")).not.toBeNull();
      return c;
    });
    // From the start of the first day to the start of the day after the last, in this computer's zone.
    expect(listed.query.get("from")).toBe(new Date(2026, 11, 1).toISOString());
    expect(listed.query.get("to")).toBe(new Date(2026, 11, 4).toISOString());

    const createObjectURL = vi.fn(() => "blob:audit");
    Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Export this view" })));
    await vi.waitFor(() => expect(createObjectURL).toHaveBeenCalled());
    const exported = calls.find((c) => c.path === "/api/v1/audit/export")!;
    expect(exported.query.get("from")).toBe(listed.query.get("from"));
    expect(exported.query.get("to")).toBe(listed.query.get("to"));
  });

  it("refuses a range that ends before it starts", async () => {
    const calls = await renderAsAdmin(<AuditPage />, (c: Call): Answer => (c.path === "/api/v1/audit/events" ? { body: { events: [], next_before: 0 } } : undefined));
    await screen.findByText("No events match.");
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-12-05" } });
    fireEvent.change(screen.getByLabelText("To"), { target: { value: "2026-12-01" } });
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Filter" })));
    expect(screen.getByRole("alert")).toHaveTextContent("The end of the range must be after its start.");
    expect(calls.filter((c) => c.path === "/api/v1/audit/events")).toHaveLength(1);
  });
});
