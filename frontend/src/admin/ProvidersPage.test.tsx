import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { LLMProvider } from "./api";
import { blankDraft, inputOf } from "./ProviderForm";
import { ProvidersPage } from "./ProvidersPage";
import { invalid, renderAsAdmin, type Answer, type Call } from "./testing";

afterEach(cleanup);

const offline: LLMProvider = {
  id: "offline",
  name: "Offline (no language model)",
  kind: "offline",
  external: false,
  enabled: true,
  default: true,
  has_api_key: false,
  models: [{ name: "extractive", roles: ["patient", "doctor", "staff", "admin"] }],
  created_at: "0001-01-01T00:00:00Z",
  updated_at: "0001-01-01T00:00:00Z",
};
const cloud: LLMProvider = {
  id: "p1",
  name: "Clinic GPU",
  kind: "openai",
  base_url: "http://gpu.clinic.internal/v1",
  external: false,
  enabled: true,
  default: false,
  has_api_key: true,
  models: [{ name: "llama3", roles: ["staff"] }],
  created_at: "2026-03-01T10:00:00Z",
  updated_at: "2026-03-01T10:00:00Z",
};

function server(overrides: (c: Call) => Answer = () => undefined) {
  return (c: Call): Answer => {
    const o = overrides(c);
    if (o) return o;
    if (c.method === "GET" && c.path === "/api/v1/ai/providers") return { body: { providers: [cloud, offline] } };
    if (c.method === "GET" && c.path === "/api/v1/ai/models") return { body: { models: [{ id: "extractive", provider: offline.name, kind: "offline", external: false }] } };
    if (c.method === "GET" && c.path === "/api/v1/ai/settings") return { body: { messages_per_minute: 20, daily_tokens: 200000, retention_days: 30 } };
    if (c.method === "POST" && c.path === "/api/v1/ai/providers") return { status: 201, body: { ...cloud, id: "p2", ...(c.body as object) } };
    if (c.method === "PUT") return { body: { ...cloud, ...(c.body as object) } };
    if (c.method === "DELETE") return { status: 204 };
    if (c.method === "PATCH" && c.path === "/api/v1/ai/settings") return { body: { messages_per_minute: 20, daily_tokens: 200000, retention_days: 30, ...(c.body as object) } };
    return undefined;
  };
}

const type = (label: string | RegExp, value: string) => fireEvent.change(screen.getByLabelText(label), { target: { value } });
const click = (name: string | RegExp) => act(async () => fireEvent.click(screen.getByRole("button", { name })));
const provider = (name: string) => screen.getByRole("listitem", { name });

describe("ProvidersPage", () => {
  it("lists each provider with its address, flags and who may use which model, never a key", async () => {
    await renderAsAdmin(<ProvidersPage />, server());
    await screen.findByRole("listitem", { name: "Clinic GPU" });
    const gpu = provider("Clinic GPU");
    expect(gpu).toHaveTextContent("OpenAI-compatible server · http://gpu.clinic.internal/v1");
    expect(within(gpu).getByRole("list", { name: "About Clinic GPU" })).toHaveTextContent(/EnabledInside the clinicKey stored/);
    expect(within(gpu).getByRole("list", { name: "Who may use llama3" })).toHaveTextContent(/^Staff$/);
    expect(within(gpu).getByRole("button", { name: "Edit Clinic GPU" })).toBeInTheDocument();

    // The server's own offline mode can be read but not changed.
    const builtIn = provider("Offline (no language model)");
    expect(builtIn).toHaveTextContent("Default");
    expect(builtIn).toHaveTextContent("Built in");
    expect(within(builtIn).queryByRole("button")).toBeNull();
    expect(screen.getByText(/Models open to you now: extractive/)).toBeInTheDocument();
  });

  it("adds a provider with a model for staff only, sending only what was filled in", async () => {
    const calls = await renderAsAdmin(<ProvidersPage />, server());
    await screen.findByRole("listitem", { name: "Clinic GPU" });
    type("Name", "Ollama");
    type("Server address (optional)", "http://127.0.0.1:11434/v1");
    fireEvent.click(screen.getByLabelText(/Runs outside the clinic/));
    type("Model", "llama3.1");
    fireEvent.click(within(screen.getByRole("group", { name: "Who may use it" })).getByLabelText("Staff"));
    await click("Add provider");
    const post = calls.find((c) => c.method === "POST");
    expect(post?.body).toEqual({
      name: "Ollama",
      kind: "openai",
      base_url: "http://127.0.0.1:11434/v1",
      enabled: true,
      default: false,
      external: false,
      models: [{ name: "llama3.1", roles: ["staff"] }],
    });
    expect(await screen.findByText("Ollama was added.")).toBeInTheDocument();
    expect(screen.getByLabelText("Name")).toHaveValue("");
  });

  it("shows the server's objection next to the field it names, and other failures above the form", async () => {
    let answer: Answer = invalid("base_url", "base_url must be an http:// or https:// address.");
    await renderAsAdmin(<ProvidersPage />, server((c) => (c.method === "POST" ? answer : undefined)));
    await screen.findByRole("listitem", { name: "Clinic GPU" });
    type("Name", "Typo");
    type("Server address (optional)", "ftp://nowhere");
    type("Model", "m");
    await click("Add provider");
    const address = screen.getByLabelText("Server address (optional)");
    expect(address).toHaveAttribute("aria-invalid", "true");
    expect(address.getAttribute("aria-describedby")).toContain("provider-base_url-error");
    expect(document.getElementById("provider-base_url-error")).toHaveTextContent("base_url must be an http:// or https:// address.");

    answer = invalid("models", "Each model needs a name of its own.");
    await click("Add provider");
    expect(document.getElementById("provider-models-error")).toHaveTextContent("Each model needs a name of its own.");
    expect(document.getElementById("provider-base_url-error")).toBeNull();

    answer = { status: 500, body: { error: { code: "internal", message: "The database is busy." } } };
    await click("Add provider");
    expect(within(screen.getByRole("form", { name: "Add a provider" })).getByRole("alert")).toHaveTextContent("The database is busy.");
  });

  it("edits a provider: the key field starts empty and can clear the stored key", async () => {
    const calls = await renderAsAdmin(<ProvidersPage />, server());
    await screen.findByRole("listitem", { name: "Clinic GPU" });
    await click("Edit Clinic GPU");
    expect(screen.getByRole("heading", { name: "Edit Clinic GPU" })).toBeInTheDocument();
    expect(screen.getByLabelText("Name")).toHaveValue("Clinic GPU");
    expect(screen.getByLabelText("New API key")).toHaveValue("");
    expect(screen.getByLabelText(/Runs outside the clinic/)).not.toBeChecked();
    const roles = within(screen.getByRole("group", { name: "Who may use it" }));
    expect(roles.getByLabelText("Staff")).toBeChecked();
    fireEvent.click(roles.getByLabelText("Doctors"));
    fireEvent.click(screen.getByLabelText("Remove the stored key"));
    await click("Save changes");
    const put = calls.find((c) => c.method === "PUT");
    expect(put?.path).toBe("/api/v1/ai/providers/p1");
    expect(put?.body).toMatchObject({ name: "Clinic GPU", base_url: "http://gpu.clinic.internal/v1", clear_api_key: true, models: [{ name: "llama3", roles: ["doctor", "staff"] }] });
    expect(put?.body).not.toHaveProperty("api_key");
    expect(await screen.findByText("Changes to Clinic GPU were saved.")).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "Add a provider" })).toBeInTheDocument();
  });

  it("deletes only after the admin confirms", async () => {
    const calls = await renderAsAdmin(<ProvidersPage />, server());
    await screen.findByRole("listitem", { name: "Clinic GPU" });
    await click("Delete Clinic GPU");
    const dialog = screen.getByRole("dialog", { name: "Delete Clinic GPU?" });
    await act(async () => fireEvent.click(within(dialog).getByRole("button", { name: "Keep it" })));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);

    await click("Delete Clinic GPU");
    await act(async () => fireEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Delete provider" })));
    expect(calls.find((c) => c.method === "DELETE")?.path).toBe("/api/v1/ai/providers/p1");
    expect(await screen.findByText("Clinic GPU was deleted.")).toBeInTheDocument();
  });

  it("changes the assistant limits, checking whole numbers first and placing the server's objection", async () => {
    const calls = await renderAsAdmin(
      <ProvidersPage />,
      server((c) => ((c.body as { messages_per_minute?: number } | undefined)?.messages_per_minute === 0 ? invalid("messages_per_minute", "messages_per_minute must be between 1 and 10000.") : undefined)),
    );
    await vi.waitFor(() => expect(screen.getByLabelText("Messages per minute")).toHaveValue("20"));
    type("Tokens per day", "lots");
    await click("Save limits");
    expect(document.getElementById("limit-daily_tokens-error")).toHaveTextContent("Enter a whole number.");
    expect(calls.some((c) => c.method === "PATCH")).toBe(false);

    type("Tokens per day", "50000");
    type("Messages per minute", "0");
    await click("Save limits");
    expect(document.getElementById("limit-messages_per_minute-error")).toHaveTextContent("between 1 and 10000");

    type("Messages per minute", "5");
    await click("Save limits");
    expect(calls.filter((c) => c.method === "PATCH").at(-1)?.body).toEqual({ messages_per_minute: 5, daily_tokens: 50000, retention_days: 30 });
    expect(await screen.findByText("The limits were saved.")).toBeInTheDocument();
    expect(screen.getByLabelText("Messages per minute")).toHaveValue("5");
  });
});

describe("inputOf", () => {
  it("sends the region only for Bedrock and never marks the offline mode external", () => {
    const bedrock = inputOf({ ...blankDraft(), name: "AWS", kind: "bedrock", baseURL: "http://left.over", region: " eu-central-1 ", apiKey: "sk-left", models: [{ name: "claude", contextTokens: "200000", roles: ["doctor"] }] });
    expect(bedrock).toEqual({ name: "AWS", kind: "bedrock", region: "eu-central-1", enabled: true, default: false, external: true, models: [{ name: "claude", roles: ["doctor"], context_tokens: 200000 }] });
    expect(inputOf({ ...blankDraft(), kind: "offline", external: true }).external).toBe(false);
    expect(inputOf({ ...blankDraft(), apiKey: "sk-new", clearAPIKey: true })).toMatchObject({ api_key: "sk-new" });
    expect(inputOf({ ...blankDraft(), apiKey: "sk-new", clearAPIKey: true })).not.toHaveProperty("clear_api_key");
  });
});
