import { screen } from "@testing-library/react";
import { renderAsAdmin } from "../admin/testing";
import type { DesktopBinding, DesktopConnection } from "../desktop";
import { Shell } from "./Shell";

const clinic: DesktopConnection = { state: "ready", mode: "clinic", server: "https://healthhub.clinic.lan:8443", base_url: "http://127.0.0.1:41234" };

function page() {
  return <h1>Today</h1>;
}

describe("Shell", () => {
  afterEach(() => {
    delete (window as { go?: unknown }).go;
  });

  it("shows no connection button and no server address in a browser", async () => {
    await renderAsAdmin(<Shell server="healthhub.clinic.lan:8443">{page()}</Shell>, () => undefined);
    expect(screen.getByRole("button", { name: "Sign out" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Connection" })).not.toBeInTheDocument();
    expect(screen.queryByText(/Server:/)).not.toBeInTheDocument();
  });

  it("shows the connection button, the mode and the server address in the desktop app", async () => {
    (window as { go?: unknown }).go = { main: { Desktop: {} as DesktopBinding } };
    await renderAsAdmin(
      <Shell server="healthhub.clinic.lan:8443" connection={clinic}>
        {page()}
      </Shell>,
      () => undefined,
    );
    expect(screen.getByRole("button", { name: "Connection" })).toBeInTheDocument();
    expect(screen.getByText("Server: healthhub.clinic.lan:8443")).toBeInTheDocument();
    expect(screen.getByText("Clinic server")).toBeInTheDocument();
  });

  it("shows no server address in the desktop app's standalone mode, where the server is the app itself", async () => {
    (window as { go?: unknown }).go = { main: { Desktop: {} as DesktopBinding } };
    await renderAsAdmin(
      <Shell server="127.0.0.1:41234" connection={{ state: "ready", mode: "standalone" }}>
        {page()}
      </Shell>,
      () => undefined,
    );
    expect(screen.getByRole("button", { name: "Connection" })).toBeInTheDocument();
    expect(screen.getByText("This computer")).toBeInTheDocument();
    expect(screen.queryByText(/Server:/)).not.toBeInTheDocument();
  });
});
