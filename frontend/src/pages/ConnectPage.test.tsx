import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { DesktopBinding, DesktopConnection } from "../desktop";
import { ingestionFinished } from "../live";
import { desktopTokens, rememberWindowSize } from "../desktop";
import { ConnectPage } from "./ConnectPage";

afterEach(cleanup);

function fakeDesktop(over: Partial<DesktopBinding> = {}): DesktopBinding {
  const ready: DesktopConnection = { state: "ready", mode: "standalone", base_url: "http://127.0.0.1:1" };
  return {
    Connection: vi.fn(async () => ready),
    Probe: vi.fn(async (_m: string, server: string) => ({ server, fingerprint: "AB:CD", subject: "HealthHub CA clinic-server", public: false, version: "0.1.0" })),
    Choose: vi.fn(async (mode: string, server: string) => ({ state: "ready" as const, mode: mode as "clinic", server, base_url: "http://127.0.0.1:2" })),
    WorkOffline: vi.fn(async () => ({ ...ready, offline: true })),
    Retry: vi.fn(async () => ready),
    PickFolder: vi.fn(async () => ""),
    Notify: vi.fn(async () => undefined),
    SaveSession: vi.fn(async () => undefined),
    LoadSession: vi.fn(async () => ""),
    ClearSession: vi.fn(async () => undefined),
    PageShown: vi.fn(async () => undefined),
    SaveWindowSize: vi.fn(async () => undefined),
    ...over,
  };
}

describe("ConnectPage", () => {
  it("connects to a clinic server only after its fingerprint is shown and confirmed", async () => {
    const d = fakeDesktop();
    const onReady = vi.fn();
    render(<ConnectPage desktop={d} initial={{ state: "choose" }} onReady={onReady} />);
    fireEvent.click(screen.getByLabelText(/The clinic's server/));
    fireEvent.change(screen.getByLabelText("Server address"), { target: { value: "healthhub.clinic.lan:8443" } });
    fireEvent.click(screen.getByRole("button", { name: "Check the server" }));
    await screen.findByText("AB:CD");
    expect(d.Choose).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole("button", { name: "They match: connect" }));
    await waitFor(() => expect(onReady).toHaveBeenCalled());
    expect(d.Choose).toHaveBeenCalledWith("clinic", "healthhub.clinic.lan:8443", "AB:CD");
  });

  it("says why a server cannot be used and offers to work offline", async () => {
    const d = fakeDesktop();
    const onReady = vi.fn();
    const initial: DesktopConnection = {
      state: "problem",
      mode: "clinic",
      server: "https://clinic.lan:8443",
      problem: { kind: "certificate_changed", message: "This server's certificate is not the one you confirmed before.", advice: "Ask your IT contact.", server: "https://clinic.lan:8443" },
    };
    render(<ConnectPage desktop={d} initial={initial} onReady={onReady} />);
    expect(screen.getByRole("heading")).toHaveTextContent("The server's certificate has changed");
    expect(screen.getByRole("alert")).toHaveTextContent("not the one you confirmed");
    fireEvent.click(screen.getByRole("button", { name: "Work offline on this computer" }));
    await waitFor(() => expect(onReady).toHaveBeenCalledWith(expect.objectContaining({ offline: true })));
  });

  it("keeps the choice screen open with the reason when a connection fails", async () => {
    const d = fakeDesktop({
      Choose: vi.fn(async () => ({ state: "problem" as const, mode: "hosted" as const, problem: { kind: "unreachable" as const, message: "The server does not answer.", advice: "Check the network." } })),
    });
    const onReady = vi.fn();
    render(<ConnectPage desktop={d} initial={{ state: "choose" }} onReady={onReady} />);
    fireEvent.click(screen.getByLabelText(/The hosted service/));
    fireEvent.change(screen.getByLabelText("Server address"), { target: { value: "https://clinic.example.org" } });
    fireEvent.click(screen.getByRole("button", { name: "Connect" }));
    await screen.findByText("The server does not answer.");
    expect(screen.getByText("Check the network.")).toBeInTheDocument();
    expect(onReady).not.toHaveBeenCalled();
  });
});

describe("desktop helpers", () => {
  it("keeps the refresh token through the shell", () => {
    const d = fakeDesktop();
    const tokens = desktopTokens(d, "kept");
    expect(tokens.get()).toBe("kept");
    tokens.set("new");
    expect(d.SaveSession).toHaveBeenCalledWith("new");
    tokens.set(null);
    expect(d.ClearSession).toHaveBeenCalled();
    expect(tokens.get()).toBeNull();
  });

  it("saves the window's size once resizing stops", () => {
    vi.useFakeTimers();
    const d = fakeDesktop();
    const stop = rememberWindowSize(d, 500);
    window.dispatchEvent(new Event("resize"));
    vi.advanceTimersByTime(300);
    window.dispatchEvent(new Event("resize"));
    vi.advanceTimersByTime(400);
    expect(d.SaveWindowSize).not.toHaveBeenCalled();
    vi.advanceTimersByTime(200);
    expect(d.SaveWindowSize).toHaveBeenCalledOnce();
    stop();
    window.dispatchEvent(new Event("resize"));
    vi.advanceTimersByTime(1000);
    expect(d.SaveWindowSize).toHaveBeenCalledOnce();
    vi.useRealTimers();
  });

  it("tells a finished knowledge import once", () => {
    const seen = new Set<string>();
    const ev = (data: object) => ({ type: "knowledge.ingestion", id: "s1", at: "", data: { source_id: "s1", ...data } });
    expect(ingestionFinished(seen, ev({ scanning: false, pending: 0, indexed: 3 }))).toBeNull(); // never seen running
    expect(ingestionFinished(seen, ev({ scanning: true, pending: 5 }))).toBeNull();
    expect(ingestionFinished(seen, ev({ scanning: false, pending: 2 }))).toBeNull();
    expect(ingestionFinished(seen, ev({ scanning: false, pending: 0, indexed: 9, failed: 1 }))).toEqual({ indexed: 9, failed: 1 });
    expect(ingestionFinished(seen, ev({ scanning: false, pending: 0, indexed: 9, failed: 1 }))).toBeNull();
  });
});
