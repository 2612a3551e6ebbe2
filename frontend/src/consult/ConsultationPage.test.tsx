import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { Route, Routes } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { admin, renderAs, type Answer, type Call } from "../admin/testing";
import type { Consultation, Recording, TranscriptSegment } from "./api";
import type { CaptureEvents } from "./capture";
import { ConsultationPage } from "./ConsultationPage";

// The microphone: the test hands frames to the page as the worklet would.
const mic = vi.hoisted(() => ({ events: null as CaptureEvents | null, stopped: 0, paused: 0 }));
vi.mock("./capture", async (original) => {
  const real = await original<typeof import("./capture")>();
  class FakeCapture {
    static async start(events: CaptureEvents) {
      mic.events = events;
      return new FakeCapture();
    }
    async pause() {
      mic.paused++;
    }
    async resume() {}
    async stop() {
      mic.stopped++;
    }
    get rate() {
      return 16000;
    }
  }
  return { ...real, MicrophoneCapture: FakeCapture };
});

/** FakeSocket stands in for the browser's WebSocket; the test plays the server. */
class FakeSocket {
  static all: FakeSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((m: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  binaryType = "blob";
  sent: (string | ArrayBuffer)[] = [];
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(m: string | ArrayBuffer) {
    this.sent.push(m);
  }
  close() {}
  server(m: unknown) {
    act(() => this.onmessage!({ data: JSON.stringify(m) }));
  }
  texts() {
    return this.sent.filter((m): m is string => typeof m === "string").map((m) => JSON.parse(m) as Record<string, unknown>);
  }
  frames() {
    return this.sent.filter((m): m is ArrayBuffer => typeof m !== "string");
  }
}

beforeEach(() => {
  FakeSocket.all = [];
  mic.events = null;
  mic.stopped = 0;
  vi.stubGlobal("WebSocket", FakeSocket);
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const doctor = { ...admin, id: "u-lee", name: "Dr Lee", role: "doctor" };
const patientUser = { ...admin, id: "u-ana", name: "Ana Díaz", role: "patient" };

function consultation(over: Partial<Consultation> = {}): Consultation {
  return {
    id: "c1",
    patient_id: "p-ana",
    doctor_id: "d-lee",
    doctor_user_id: "u-lee",
    appointment_id: "a1",
    created_at: "2026-03-02T09:00:00Z",
    updated_at: "2026-03-02T09:00:00Z",
    note: { reason: "", history: "", findings: "", plan: "" },
    note_status: "none",
    note_version: 0,
    patient_name: "Ana Díaz",
    doctor_name: "Dr Lee",
    ...over,
  };
}

const seg = (id: string, text: string, start_ms: number): TranscriptSegment => ({ id, recording_id: "r1", consultation_id: "c1", start_ms, end_ms: start_ms + 800, text, created_at: "" });

/** clinic is a fake server for one consultation; the note's version and status follow the calls. */
function clinic(start: Partial<Consultation> = {}, recordings: Recording[] = []) {
  let c = consultation(start);
  const segments: TranscriptSegment[] = [];
  const conflictOnce = { armed: false };
  const handler = (call: Call): Answer => {
    const { method, path } = call;
    if (path === "/api/v1/consultations/c1" && method === "GET") return { body: { consultation: c, recordings } };
    if (path === "/api/v1/consultations/c1/transcript") return { body: { segments, recordings } };
    if (path === "/api/v1/consultations/c1/consent") {
      c = { ...c, consent_at: "2026-03-02T09:01:00Z", consent_by: "u-lee", consent_how: (call.body as { consent_how: string }).consent_how };
      return { body: c };
    }
    if (path === "/api/v1/consultations/c1/draft") {
      c = { ...c, note: { reason: "Chest pain", history: "Since yesterday", findings: "", plan: "Aspirin" }, note_status: "draft", note_version: c.note_version + 1, drafted_by: "offline" };
      return { body: c };
    }
    if (path === "/api/v1/consultations/c1/note") {
      const b = call.body as { note: Consultation["note"]; version: number };
      if (conflictOnce.armed || b.version !== c.note_version) {
        conflictOnce.armed = false;
        c = { ...c, note: { ...c.note, plan: "Changed elsewhere" }, note_version: c.note_version + 1 };
        return { status: 409, body: { error: { code: "conflict", message: "The note was changed." } } };
      }
      c = { ...c, note: b.note, note_status: "draft", note_version: c.note_version + 1 };
      return { body: c };
    }
    if (path === "/api/v1/consultations/c1/sign") {
      expect((call.body as { version: number }).version).toBe(c.note_version);
      c = { ...c, note_status: "signed", signed_at: "2026-03-02T09:30:00Z", signed_by: "u-lee", note_version: c.note_version + 1 };
      return { body: c };
    }
    return undefined;
  };
  return { handler, segments, conflictOnce, current: () => c };
}

const page = (user: typeof admin, server: (c: Call) => Answer) =>
  renderAs(
    user,
    <Routes>
      <Route path="/consultations/:id" element={<ConsultationPage />} />
    </Routes>,
    server,
    "/consultations/c1",
  );

const click = (name: string | RegExp) => act(async () => fireEvent.click(screen.getByRole("button", { name })));

describe("ConsultationPage: recording", () => {
  it("records only after consent is ticked and said how, then streams the microphone and shows the transcript as it comes", async () => {
    const s = clinic();
    const calls = await page(doctor, s.handler);
    await screen.findByRole("heading", { name: "Consultation with Ana Díaz" });
    const record = screen.getByRole("button", { name: "Record" });
    expect(record).toBeDisabled();
    expect(screen.getByLabelText("Upload recording")).toBeDisabled();
    fireEvent.click(screen.getByLabelText("The patient agreed to recording"));
    expect(record).toBeDisabled();
    fireEvent.click(screen.getByLabelText("In writing"));
    expect(record).toBeEnabled();

    await act(async () => fireEvent.click(record));
    expect(calls.find((c) => c.path === "/api/v1/consultations/c1/consent")?.body).toEqual({ consent_how: "written" });
    expect(await screen.findByText(/^The patient agreed to recording in writing, /)).toBeInTheDocument();

    // The audio socket opens with the access token and starts a new recording.
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    const ws = FakeSocket.all[0];
    expect(ws.url).toBe("ws://clinic.test/api/v1/consultations/c1/audio?access_token=a");
    act(() => ws.onopen!());
    expect(ws.texts()).toEqual([{ type: "start", recording_id: "", sample_rate: 16000 }]);
    ws.server({ type: "ready", recording_id: "r1", next_seq: 0, samples: 0 });

    act(() => mic.events!.onFrame(new Int16Array(16000)));
    act(() => mic.events!.onLevel(0.4));
    expect(ws.frames()).toHaveLength(1);
    expect(screen.getByLabelText("Microphone level")).toHaveAttribute("value", "0.4");
    expect(screen.getByText("0:01")).toBeInTheDocument();
    ws.server({ type: "ack", seq: 0, samples: 16000 });
    ws.server({ type: "segment", segment: seg("s1", "chest pain", 200) });
    ws.server({ type: "segment", segment: seg("s2", "since yesterday", 1200) });
    const transcript = await screen.findByRole("list", { name: "Transcript" });
    await vi.waitFor(() => expect(within(transcript).getAllByRole("listitem").map((li) => li.textContent)).toEqual(["0:00chest pain since yesterday"]));

    await click("Pause");
    expect(mic.paused).toBe(1);
    await click("Resume");
    await click("Stop");
    expect(mic.stopped).toBe(1);
    await vi.waitFor(() => expect(ws.texts().at(-1)).toEqual({ type: "stop" }));
    ws.server({ type: "stopped", samples: 16000 });
    expect(await screen.findByText("Recording stored: 0:01.")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Record" })).toBeEnabled();
  });

  it("says what to do when the server refuses the recording", async () => {
    const s = clinic({ consent_at: "2026-03-02T09:01:00Z", consent_how: "verbal" });
    await page(doctor, s.handler);
    await screen.findByText(/^The patient agreed to recording verbally, /);
    await click("Record");
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(1));
    act(() => FakeSocket.all[0].onopen!());
    FakeSocket.all[0].server({ type: "error", code: "forbidden", message: "Recording needs the patient's consent." });
    expect(await screen.findByRole("alert")).toHaveTextContent("The recording stopped: Recording needs the patient's consent.");
    expect(mic.stopped).toBe(1);
  });

  it("shows the server's message when it refuses an uploaded file", async () => {
    const s = clinic({ consent_at: "2026-03-02T09:01:00Z", consent_how: "verbal" });
    const sent: { url: string; type: string | null; auth: string | null }[] = [];
    const realFetch = globalThis.fetch;
    await page(doctor, s.handler);
    vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      sent.push({ url: String(input), type: headers.get("Content-Type"), auth: headers.get("Authorization") });
      return new Response(JSON.stringify({ error: { code: "invalid", message: "This file is not audio HealthHub can read: upload WAV, FLAC, Ogg/Opus, MP3 or M4A." } }), { status: 400 });
    });
    const input = await screen.findByLabelText("Upload recording");
    await act(async () => fireEvent.change(input, { target: { files: [new File(["not audio"], "visit.mp3")] } }));
    expect(await screen.findByRole("alert")).toHaveTextContent("This file is not audio HealthHub can read");
    expect(sent).toEqual([{ url: "http://clinic.test/api/v1/consultations/c1/recordings?filename=visit.mp3", type: "audio/mpeg", auth: "Bearer a" }]);
    vi.stubGlobal("fetch", realFetch);
  });

  it("shows no recorder to a doctor who does not hold the consultation", async () => {
    const s = clinic({ doctor_user_id: "u-other", doctor_name: "Dr Other" });
    await page(doctor, s.handler);
    await screen.findByText("Only the doctor who holds this consultation records and edits it.");
    expect(screen.queryByRole("button", { name: "Record" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Draft note" })).toBeNull();
  });
});

describe("ConsultationPage: the note", () => {
  it("drafts the note, saves an edit with its version, and signs after confirming; then it is read-only", async () => {
    const s = clinic({ consent_at: "2026-03-02T09:01:00Z" });
    const calls = await page(doctor, s.handler);
    await screen.findByRole("button", { name: "Draft note" });
    await click("Draft note");
    const plan = await screen.findByLabelText("Plan");
    expect(plan).toHaveValue("Aspirin");
    expect(screen.getByText(/Drafted from the transcript \(offline\)/)).toBeInTheDocument();
    fireEvent.change(plan, { target: { value: "Aspirin 100 mg daily" } });
    await click("Save note");
    expect(calls.find((c) => c.method === "PUT")?.body).toEqual({ note: { reason: "Chest pain", history: "Since yesterday", findings: "", plan: "Aspirin 100 mg daily" }, version: 1 });
    expect(await screen.findByText("The note was saved.")).toBeInTheDocument();

    await click("Sign");
    const dialog = screen.getByRole("dialog", { name: "Sign the visit note?" });
    await act(async () => fireEvent.click(within(dialog).getByRole("button", { name: "Sign the note" })));
    expect(calls.find((c) => c.path === "/api/v1/consultations/c1/sign")?.body).toEqual({ version: 2 });
    expect(await screen.findByText(/^Signed by Dr Lee, /)).toBeInTheDocument();
    expect(screen.queryByLabelText("Plan")).toBeNull();
    expect(screen.getByText("Aspirin 100 mg daily")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Record" })).toBeNull();
  });

  it("on a conflict shows the current note and keeps the doctor's text to copy from", async () => {
    const s = clinic({ note: { reason: "Cough", history: "", findings: "", plan: "Rest" }, note_status: "draft", note_version: 4 });
    await page(doctor, s.handler);
    const plan = await screen.findByLabelText("Plan");
    fireEvent.change(plan, { target: { value: "Rest and fluids" } });
    s.conflictOnce.armed = true;
    await click("Save note");
    expect(await screen.findByRole("alert")).toHaveTextContent("The note was changed elsewhere after you opened it");
    await vi.waitFor(() => expect(screen.getByLabelText("Plan")).toHaveValue("Changed elsewhere"));
    const kept = screen.getByText("Your changes that were not saved").closest("details")!;
    expect(kept).toHaveTextContent("Rest and fluids");
  });

  it("shows a patient the signed note only, without recorder or transcript", async () => {
    const s = clinic({ note: { reason: "Cough", history: "Three days", findings: "Clear chest", plan: "Rest" }, note_status: "signed", note_version: 3, signed_at: "2026-03-02T09:30:00Z", signed_by: "u-lee" });
    await page(patientUser, s.handler);
    await screen.findByText(/^Signed by Dr Lee, /);
    expect(screen.getByText("Clear chest")).toBeInTheDocument();
    expect(screen.queryByRole("heading", { name: "Transcript" })).toBeNull();
    expect(screen.queryByRole("link", { name: "Open the patient's record" })).toBeNull();
  });
});
