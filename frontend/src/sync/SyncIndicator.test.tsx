import { cleanup, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { admin, renderAs, type Answer, type Call } from "../admin/testing";
import { Shell } from "../components/Shell";
import { formatTime } from "../time";

afterEach(cleanup);

const as = (role: string) => ({ ...admin, id: `u-${role}`, name: `A ${role}`, role });
const never = "0001-01-01T00:00:00Z";
const lastSuccess = new Date(Date.now() - 60_000).toISOString();

/** status is a node's GET /api/v1/sync/status. */
const status = (over: Record<string, unknown> = {}) => ({
  enrolled: true, upstream: "https://clinic-server:8443", node_id: "ws-front-1", state: "ok", last_success: lastSuccess, last_attempt: lastSuccess,
  queued: 0, oldest_queued: never, open_conflicts: 0, audit_local: 10, audit_shipped: 10, ...over,
});

function server(st: unknown) {
  return (c: Call): Answer => (c.path === "/api/v1/sync/status" ? { body: st } : undefined);
}

function shell() {
  return (
    <Shell server="ws-front-1:8080">
      <h1>Today</h1>
    </Shell>
  );
}

describe("the sync indicator in the top bar", () => {
  it("tells the front desk the state, the last success, what waits and what to rebook, and opens the Conflicts page", async () => {
    await renderAs(as("staff"), shell(), server(status({ state: "offline", queued: 2, open_conflicts: 1 })));
    const link = await screen.findByRole("link", { name: /^Sync: Offline/ });
    expect(link).toHaveAttribute("href", "/conflicts");
    expect(link).toHaveTextContent(`Sync: Offline last ${formatTime(lastSuccess)} 2 waiting 1 to rebook`);
    expect(link.getAttribute("title")).toContain("The main server cannot be reached.");
  });

  it("says up to date when nothing waits, and sending while changes are on their way", async () => {
    await renderAs(as("admin"), shell(), server(status()));
    expect(await screen.findByRole("link", { name: /^Sync: Up to date/ })).not.toHaveTextContent("waiting");
    cleanup();
    await renderAs(as("admin"), shell(), server(status({ queued: 1 })));
    expect(await screen.findByRole("link", { name: /^Sync: Sending changes/ })).toHaveTextContent("1 waiting");
  });

  it("names a revoked installation and one that never synced in plain words", async () => {
    await renderAs(as("staff"), shell(), server(status({ state: "revoked", last_success: never })));
    expect(await screen.findByRole("link", { name: /^Sync: Disconnected/ })).toHaveTextContent("last never");
  });

  it("shows doctors the state without a link, since conflicts are the front desk's", async () => {
    await renderAs(as("doctor"), shell(), server(status({ open_conflicts: 1 })));
    expect(await screen.findByText("Sync: Up to date")).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: /^Sync:/ })).toBeNull();
  });

  it("is absent on an installation that syncs with no upstream", async () => {
    const calls = await renderAs(as("staff"), shell(), server(status({ enrolled: false, state: "not_enrolled", upstream: undefined })));
    await vi.waitFor(() => expect(calls.some((c) => c.path === "/api/v1/sync/status")).toBe(true));
    expect(screen.queryByText(/^Sync:/)).toBeNull();
  });

  it("is never asked for by a patient", async () => {
    const calls = await renderAs(as("patient"), shell(), server(status()));
    expect(screen.getByRole("button", { name: "Sign out" })).toBeInTheDocument();
    expect(calls.some((c) => c.path.startsWith("/api/v1/sync/"))).toBe(false);
    expect(screen.queryByText(/^Sync:/)).toBeNull();
  });
});
