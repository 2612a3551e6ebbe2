import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { invalid, renderAsAdmin, type Answer, type Call } from "../admin/testing";
import { formatDateTime } from "../time";
import type { SyncNode } from "./api";
import { SyncCard } from "./SyncCard";

afterEach(cleanup);

const never = "0001-01-01T00:00:00Z";
const now = new Date().toISOString();
const alone = { enrolled: false, state: "not_enrolled", last_success: never, last_attempt: never, queued: 0, oldest_queued: never, open_conflicts: 0, audit_local: 12, audit_shipped: 0 };
const enrolled = {
  ...alone, enrolled: true, state: "ok", upstream: "https://clinic-server:8443", node_id: "ws-front-1", last_success: now, last_attempt: now, audit_shipped: 7,
};
const frontDesk: SyncNode = { id: "ws-front-1", name: "Front desk 1", public_key: "k", doctor_ids: [], enrolled_by: "", enrolled_at: now, revoked_at: never, last_seen_at: now, audit_size: 42 };

function page() {
  return (
    <>
      <h1>Welcome</h1>
      <SyncCard />
    </>
  );
}

/** server fakes an installation: its own sync (status), and the installations that sync with it. */
function server(opts: { status?: Record<string, unknown>; enrol?: (body: unknown) => Answer } = {}) {
  let status: Record<string, unknown> = opts.status ?? alone;
  let nodes: SyncNode[] = [frontDesk];
  return (c: Call): Answer => {
    if (c.path === "/api/v1/sync/status") return { body: status };
    if (c.method === "POST" && c.path === "/api/v1/sync/upstream") {
      const refused = opts.enrol?.(c.body);
      if (refused) return refused;
      status = { ...enrolled, last_success: never, queued: 0 };
      return { body: status };
    }
    if (c.method === "POST" && c.path === "/api/v1/sync/run") {
      status = { ...status, state: "revoked", last_error: "This node's enrolment was revoked by an administrator of the upstream server." };
      return { body: status };
    }
    if (c.path === "/api/v1/sync/nodes") return { body: { nodes } };
    if (c.path === "/api/v1/sync/node/leases") return { body: { leases: [] } };
    if (c.path === "/api/v1/doctors") return { body: { doctors: [] } };
    if (c.path === "/api/v1/settings") return { body: { time_zone: "UTC" } };
    if (c.method === "POST" && c.path === "/api/v1/sync/enrollments") {
      const name = (c.body as { name: string }).name;
      return { status: 201, body: { code: "ABCD-EFGH-JKLM-NPQR", enrollment: { id: "e1", name, doctor_ids: [], created_by: "admin-1", created_at: now, expires_at: "2030-01-02T09:00:00Z", used_at: never } } };
    }
    if (c.method === "POST" && c.path === "/api/v1/sync/nodes/ws-front-1/revoke") {
      nodes = [{ ...frontDesk, revoked_at: now, revoked_by: "admin-1" }];
      return { body: nodes[0] };
    }
    return undefined;
  };
}

describe("the admin's Sync card", () => {
  it("connects a lone installation to an upstream, showing the upstream's refusal next to the code", async () => {
    let tries = 0;
    const calls = await renderAsAdmin(page(), server({
      enrol: () => (tries++ === 0 ? invalid("code", "The upstream refused the enrolment: This enrolment code is unknown, used or expired.") : undefined),
    }));
    const form = await screen.findByRole("form", { name: "Connect to an upstream server" });
    await act(async () => fireEvent.click(within(form).getByRole("button", { name: "Connect" })));
    expect(within(form).getByText("Enter the upstream server's address.")).toBeInTheDocument();
    expect(within(form).getByText("Enter the enrolment code.")).toBeInTheDocument();
    expect(calls.some((c) => c.path === "/api/v1/sync/upstream")).toBe(false);

    fireEvent.change(within(form).getByLabelText("Upstream server address"), { target: { value: " https://clinic-server:8443 " } });
    fireEvent.change(within(form).getByLabelText("One-time enrolment code"), { target: { value: "abcd-efgh-jklm-npqz" } });
    fireEvent.change(within(form).getByLabelText("Certificate fingerprint (optional)"), { target: { value: "ab:cd" } });
    await act(async () => fireEvent.click(within(form).getByRole("button", { name: "Connect" })));
    const code = within(form).getByLabelText("One-time enrolment code");
    expect(code).toHaveAttribute("aria-invalid", "true");
    expect(within(form).getByText("The upstream refused the enrolment: This enrolment code is unknown, used or expired.")).toBeInTheDocument();

    fireEvent.change(code, { target: { value: "ABCD-EFGH-JKLM-NPQR" } });
    await act(async () => fireEvent.click(within(form).getByRole("button", { name: "Connect" })));
    expect(calls.filter((c) => c.path === "/api/v1/sync/upstream").at(-1)?.body).toEqual({ upstream: "https://clinic-server:8443", code: "ABCD-EFGH-JKLM-NPQR", fingerprint: "ab:cd", name: "" });
    const mine = await screen.findByRole("group", { name: "This installation" });
    expect(mine).toHaveTextContent("https://clinic-server:8443");
    expect(mine).toHaveTextContent("Last successnever");
  });

  it("shows how an enrolled installation syncs, and syncs now on request", async () => {
    const calls = await renderAsAdmin(page(), server({ status: { ...enrolled, queued: 2, oldest_queued: now, open_conflicts: 1 } }));
    const mine = await screen.findByRole("group", { name: "This installation" });
    expect(mine).toHaveTextContent("StateSending changes");
    expect(mine).toHaveTextContent(`Last success${formatDateTime(now)}`);
    expect(mine).toHaveTextContent(`Changes waiting2, the oldest from ${formatDateTime(now)}`);
    expect(mine).toHaveTextContent("Audit events shipped7 of 12");
    expect(within(mine).getByRole("link", { name: "See them" })).toHaveAttribute("href", "/conflicts");
    expect(screen.queryByRole("form", { name: "Connect to an upstream server" })).toBeNull();
    expect(await screen.findByText("No time is lent to this installation.")).toBeInTheDocument();
    expect(screen.getByRole("form", { name: "Borrow time from the main server" })).toBeInTheDocument();

    await act(async () => fireEvent.click(within(mine).getByRole("button", { name: "Sync now" })));
    expect(calls.some((c) => c.method === "POST" && c.path === "/api/v1/sync/run")).toBe(true);
    expect(await within(mine).findByRole("status")).toHaveTextContent("Synced: Disconnected.");
    expect(mine).toHaveTextContent("Last errorThis node's enrolment was revoked");
  });

  it("lists the installations syncing with this server and makes a one-time code, shown once with its expiry", async () => {
    const calls = await renderAsAdmin(page(), server());
    const nodes = await screen.findByRole("list", { name: "Installations syncing with this server" });
    const row = (await within(nodes).findByText("Front desk 1")).closest("li") as HTMLElement;
    expect(row).toHaveTextContent("ws-front-1");
    expect(row).toHaveTextContent("Audit events held: 42");
    expect(row).toHaveTextContent("Active");

    const form = screen.getByRole("form", { name: "Make an enrolment code" });
    fireEvent.change(within(form).getByLabelText("Name of the installation"), { target: { value: "Front desk 2" } });
    await act(async () => fireEvent.click(within(form).getByRole("button", { name: "Make an enrolment code" })));
    expect(calls.find((c) => c.path === "/api/v1/sync/enrollments")?.body).toEqual({ name: "Front desk 2", doctor_ids: [] });
    const shown = await within(form).findByRole("status");
    expect(shown).toHaveTextContent("Enrolment code for Front desk 2");
    expect(shown).toHaveTextContent("ABCD-EFGH-JKLM-NPQR");
    expect(shown).toHaveTextContent(`Valid until ${formatDateTime("2030-01-02T09:00:00Z")}`);
    expect(within(form).getByLabelText("Name of the installation")).toHaveValue("");
  });

  it("revokes an installation only once the admin confirms", async () => {
    const calls = await renderAsAdmin(page(), server());
    await act(async () => fireEvent.click(await screen.findByRole("button", { name: "Revoke Front desk 1" })));
    let dialog = screen.getByRole("dialog", { name: "Revoke Front desk 1?" });
    await act(async () => fireEvent.click(within(dialog).getByRole("button", { name: "Keep it" })));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(calls.some((c) => c.path.endsWith("/revoke"))).toBe(false);

    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Revoke Front desk 1" })));
    dialog = screen.getByRole("dialog", { name: "Revoke Front desk 1?" });
    expect(dialog).toHaveTextContent("Front desk 1 can no longer sync with this server.");
    await act(async () => fireEvent.click(within(dialog).getByRole("button", { name: "Revoke" })));
    expect(calls.some((c) => c.method === "POST" && c.path === "/api/v1/sync/nodes/ws-front-1/revoke")).toBe(true);
    expect(await screen.findByText("Front desk 1 is revoked.")).toBeInTheDocument();
    await vi.waitFor(() => expect(screen.getByText(/^Revoked /)).toBeInTheDocument());
    expect(screen.queryByRole("button", { name: "Revoke Front desk 1" })).toBeNull();
  });
});
