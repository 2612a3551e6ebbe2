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
