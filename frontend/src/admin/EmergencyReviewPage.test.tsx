import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { EmergencyReviewPage } from "./EmergencyReviewPage";
import { renderAsAdmin, type Call } from "./testing";

afterEach(cleanup);

const grant = {
  id: "g1", user_id: "u-night", user_role: "doctor", user_name: "Dr Night", patient_id: "p-ana", patient_name: "Ana Díaz",
  reason: "life_threatening", reason_label: "Life-threatening emergency", details: "Collapsed", created_at: "2026-12-07T02:10:00Z",
  expires_at: "2026-12-07T06:10:00Z", escalated: true, review_status: "pending",
  uses: [
    { time: "2026-12-07T02:11:00Z", action: "read", resource_type: "clinical" },
    { time: "2026-12-07T02:12:00Z", action: "create", resource_type: "clinical" },
  ],
};

describe("the emergency access review", () => {
  it("lists each use with what was done, and records a decision with the note it needs", async () => {
    let decided = false;
    const calls = await renderAsAdmin(<EmergencyReviewPage />, (c: Call) => {
      if (c.path === "/api/v1/emergency-access/review" && c.method === "GET") return { body: { grants: decided ? [] : [grant] } };
      if (c.path === "/api/v1/emergency-access/review/g1" && c.method === "POST") {
        decided = true;
        return { body: { ...grant, review_status: "not_justified" } };
      }
      return undefined;
    });
    const item = (await screen.findByRole("heading", { name: "Dr Night opened the record of Ana Díaz Repeated use" })).closest("li")!;
    expect(within(item).getByText("Life-threatening emergency — Collapsed")).toBeInTheDocument();
    expect(within(item).getByText(/Read the medical record/)).toBeInTheDocument();
    expect(within(item).getByText(/Added to the medical record/)).toBeInTheDocument();
    expect(calls[0].query.get("status")).toBe("pending");

    fireEvent.click(within(item).getByRole("button", { name: "Record decision" }));
    expect(await within(item).findByText("Choose whether this use was justified.")).toBeInTheDocument();
    fireEvent.click(within(item).getByLabelText("Not justified"));
    fireEvent.click(within(item).getByRole("button", { name: "Record decision" }));
    expect(await within(item).findByText(/Say why it was not justified/)).toBeInTheDocument();
    expect(calls.some((c) => c.method === "POST")).toBe(false);

    fireEvent.change(within(item).getByLabelText("Note"), { target: { value: "Her own doctor was on duty." } });
    fireEvent.click(within(item).getByRole("button", { name: "Record decision" }));
    expect(await screen.findByText("Dr Night: recorded as Not justified.")).toBeInTheDocument();
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ decision: "not_justified", note: "Her own doctor was on duty." });
    expect(await screen.findByText("No use of emergency access awaits a decision.")).toBeInTheDocument();
  });
});

describe("privacy officers", () => {
  it("lets an administrator give a member of staff the role and take it away", async () => {
    let officers: string[] = ["u-doc"];
    const users = {
      staff: [{ id: "u-rita", name: "Rita Reception", email: "rita@clinic.example", role: "staff", disabled: false }],
      doctor: [{ id: "u-doc", name: "Dr Lee", email: "lee@clinic.example", role: "doctor", disabled: false }],
    };
    const calls = await renderAsAdmin(<EmergencyReviewPage />, (c: Call) => {
      if (c.path === "/api/v1/emergency-access/review") return { body: { grants: [] } };
      if (c.path === "/api/v1/emergency-access/privacy-officers") return { body: { user_ids: officers } };
      if (c.path === "/api/v1/users") return { body: { users: users[c.query.get("role") as "staff" | "doctor"] ?? [] } };
      if (c.path.startsWith("/api/v1/emergency-access/privacy-officers/")) {
        const id = c.path.split("/").pop()!;
        officers = c.method === "PUT" ? [...officers, id] : officers.filter((o) => o !== id);
        return { status: 204 };
      }
      return undefined;
    });
    const list = await screen.findByRole("list", { name: "Privacy officers" });
    expect(await within(list).findByText("Dr Lee (lee@clinic.example)")).toBeInTheDocument();
    const add = screen.getByLabelText("Make privacy officer");
    await within(add).findByRole("option", { name: "Rita Reception (rita@clinic.example)" });
    expect(within(add).queryByRole("option", { name: /Dr Lee/ })).not.toBeInTheDocument();
    fireEvent.change(add, { target: { value: "u-rita" } });
    fireEvent.click(screen.getByRole("button", { name: "Add" }));
    expect(await within(list).findByText("Rita Reception (rita@clinic.example)")).toBeInTheDocument();
    fireEvent.click(screen.getByRole("button", { name: "Remove Dr Lee (lee@clinic.example) as privacy officer" }));
    await within(list).findByText("Rita Reception (rita@clinic.example)");
    expect(await screen.findByRole("option", { name: "Dr Lee (lee@clinic.example)" })).toBeInTheDocument();
    expect(calls.filter((c) => c.method !== "GET").map((c) => `${c.method} ${c.path}`)).toEqual([
      "PUT /api/v1/emergency-access/privacy-officers/u-rita",
      "DELETE /api/v1/emergency-access/privacy-officers/u-doc",
    ]);
  });
});
