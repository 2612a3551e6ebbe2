import { act, cleanup, fireEvent, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { invalid, renderAsAdmin, type Answer, type Call } from "../admin/testing";
import type { TranscriptionSettings } from "./api";
import { TranscriptionSettingsForm } from "./TranscriptionSettingsForm";

afterEach(cleanup);

function server(start: TranscriptionSettings, refuse?: (c: Call) => Answer) {
  let s = start;
  let policy = { clinical_records_years: 10, audit_events_years: 6, recordings_days: 30 };
  return (c: Call): Answer => {
    if (c.path === "/api/v1/retention" && c.method === "GET") return { body: policy };
    if (c.path === "/api/v1/retention" && c.method === "PATCH") {
      policy = { ...policy, ...(c.body as object) };
      return { body: policy };
    }
    if (c.path !== "/api/v1/transcription/settings") return undefined;
    if (c.method === "GET") return { body: s };
    const r = refuse?.(c);
    if (r) return r;
    const { api_key, ...rest } = c.body as Record<string, unknown>;
    s = { ...s, ...rest, has_api_key: api_key === undefined ? s.has_api_key : api_key !== "" };
    return { body: s };
  };
}

const none: TranscriptionSettings = { engine: "none", external: false, has_api_key: false, patients_see_notes: false };
const page = (answer: (c: Call) => Answer) =>
  renderAsAdmin(
    <>
      <h1>Assistant setup</h1>
      <TranscriptionSettingsForm />
    </>,
    answer,
  );
const type = (label: string | RegExp, value: string) => fireEvent.change(screen.getByLabelText(label), { target: { value } });

describe("TranscriptionSettingsForm", () => {
  it("sets an OpenAI-compatible engine with its address, model and key, and lets patients see signed notes", async () => {
    const calls = await page(server(none));
    const engine = await screen.findByLabelText("Engine");
    expect(screen.queryByLabelText("Server address")).toBeNull();
    fireEvent.change(engine, { target: { value: "openai-compatible" } });
    type("Server address", "http://127.0.0.1:9000/v1");
    type("Model", "whisper-1");
    type("API key", "sk-test");
    type("Language", "en");
    fireEvent.click(screen.getByLabelText("External service: redact"));
    fireEvent.click(screen.getByLabelText("Patients see their signed visit notes"));
    expect(screen.getByLabelText("Keep recordings (days after signing)")).toHaveValue("30");
    type("Keep recordings (days after signing)", "90");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Save transcription settings" })));
    expect(calls.find((c) => c.method === "PUT")?.body).toEqual({
      engine: "openai-compatible",
      base_url: "http://127.0.0.1:9000/v1",
      model: "whisper-1",
      api_key: "sk-test",
      language: "en",
      external: true,
      patients_see_notes: true,
    });
    // How long recordings are kept is the retention policy's.
    expect(calls.find((c) => c.method === "PATCH" && c.path === "/api/v1/retention")?.body).toEqual({ recordings_days: 90 });
    expect(await screen.findByRole("status")).toHaveTextContent("The transcription settings were saved.");
    // The key is never shown again; the field now offers to replace it.
    expect(screen.getByLabelText("New API key")).toHaveValue("");
    expect(screen.getByText("A key is stored and is never shown. Leave this empty to keep it.")).toBeInTheDocument();
  });

  it("keeps a stored key unless a new one is typed or its removal asked", async () => {
    const calls = await page(server({ ...none, engine: "openai-compatible", base_url: "http://x/v1", model: "m", has_api_key: true }));
    await screen.findByLabelText("New API key");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Save transcription settings" })));
    expect(calls.find((c) => c.method === "PUT")?.body).not.toHaveProperty("api_key");
    expect(calls.some((c) => c.method === "PATCH")).toBe(false);
    fireEvent.click(screen.getByLabelText("Remove the stored key"));
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Save transcription settings" })));
    expect(calls.filter((c) => c.method === "PUT").at(-1)?.body).toHaveProperty("api_key", "");
  });

  it("shows AWS's own settings and the server's refusal next to its field", async () => {
    const calls = await page(server(none, () => invalid("region", "Name an AWS region, such as us-east-1.")));
    fireEvent.change(await screen.findByLabelText("Engine"), { target: { value: "aws" } });
    type("AWS region", "mars-1");
    fireEvent.change(screen.getByLabelText("Specialty"), { target: { value: "CARDIOLOGY" } });
    fireEvent.change(screen.getByLabelText("Conversation type"), { target: { value: "DICTATION" } });
    type("S3 bucket for uploaded recordings", "clinic-audio");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Save transcription settings" })));
    expect(calls.find((c) => c.method === "PUT")?.body).toMatchObject({ engine: "aws", region: "mars-1", specialty: "CARDIOLOGY", conversation_type: "DICTATION", upload_bucket: "clinic-audio" });
    expect(screen.getByText("Name an AWS region, such as us-east-1.")).toBeInTheDocument();
    expect(screen.getByLabelText("AWS region")).toHaveAttribute("aria-invalid", "true");
  });

  it("refuses a retention that is not a whole number before sending", async () => {
    const calls = await page(server(none));
    await screen.findByLabelText("Keep recordings (days after signing)");
    type("Keep recordings (days after signing)", "a week");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Save transcription settings" })));
    expect(screen.getByText("Enter a whole number.")).toBeInTheDocument();
    expect(calls.some((c) => c.method === "PUT")).toBe(false);
  });
});
