import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { renderAsAdmin, type Answer, type Call } from "../admin/testing";
import { todayString } from "../portal/api";
import { addDays, formatDateTime, formatSpan } from "../time";
import type { SyncLease } from "./leases";
import { SyncCard } from "./SyncCard";

afterEach(cleanup);

const never = "0001-01-01T00:00:00Z";
const now = new Date().toISOString();
const enrolled = {
  enrolled: true, state: "ok", upstream: "https://clinic-server:8443", node_id: "ws-front-1", last_success: now, last_attempt: now,
  queued: 0, oldest_queued: never, open_conflicts: 0, audit_local: 12, audit_shipped: 12,
};
const lee = { id: "d-lee", user_id: "u-lee", name: "Dr Lee", specialization: "General practice", qualifications: [], years_experience: 5, created_at: "", updated_at: "" };
const kim = { id: "d-kim", user_id: "u-kim", name: "Kim Park", specialization: "Dermatology", qualifications: [], years_experience: 9, created_at: "", updated_at: "" };
const tomorrow = addDays(todayString(), 1);
const at = (day: string, clock: string) => new Date(`${day}T${clock}:00Z`).toISOString();
const mine: SyncLease = {
  id: "l-mine", node_id: "", doctor_id: "d-lee", start: at(tomorrow, "09:00"), end: at(tomorrow, "12:00"), expires_at: at(tomorrow, "12:00"),
  created_at: now, released_at: never,
};
const theirs: SyncLease = { ...mine, id: "l-theirs", node_id: "ws-front-2", doctor_id: "d-kim" };
const givenBack: SyncLease = { ...mine, id: "l-old", released_at: now };

function page() {
  return (
    <>
      <h1>Welcome</h1>
      <SyncCard />
    </>
  );
}

/** server fakes an enrolled installation with doctors on UTC hours and the leases it knows of. */
function server(opts: { borrow?: (body: Record<string, unknown>) => Answer; release?: () => Answer; status?: object } = {}) {
  let leases: SyncLease[] = [mine, theirs, givenBack];
  return (c: Call): Answer => {
    if (c.path === "/api/v1/sync/status") return { body: opts.status ?? enrolled };
    if (c.path === "/api/v1/sync/nodes") return { body: { nodes: [] } };
    if (c.path === "/api/v1/doctors") return { body: { doctors: [lee, kim] } };
    if (c.path === "/api/v1/settings") return { body: { time_zone: "UTC" } };
    if (c.path.startsWith("/api/v1/doctors/") && c.path.endsWith("/availability")) return { body: { doctor_id: "d", time_zone: "UTC", slot_minutes: 30, weekly: [], exceptions: [] } };
    if (c.method === "GET" && c.path === "/api/v1/sync/node/leases") return { body: { leases } };
    if (c.method === "POST" && c.path === "/api/v1/sync/node/leases") {
      const b = c.body as Record<string, string | number>;
      const refused = opts.borrow?.(b);
      if (refused) return refused;
      const end = String(b.end);
      const made: SyncLease = { id: "l-new", node_id: "", doctor_id: String(b.doctor_id), start: String(b.start), end, created_at: now, released_at: never,
        expires_at: b.ttl_seconds ? new Date(Date.now() + Number(b.ttl_seconds) * 1000).toISOString() : end };
      leases = [...leases, made];
      return { status: 201, body: made };
    }
    if (c.method === "POST" && c.path === "/api/v1/sync/node/leases/l-mine/release") {
      const refused = opts.release?.();
      if (refused) return refused;
      leases = leases.map((l) => (l.id === "l-mine" ? { ...l, released_at: now } : l));
      return { body: leases[0] };
    }
    return undefined;
  };
}

describe("the time lent to this installation", () => {
  it("lists only this installation's own leases that still hold, with the doctor, the block and the hold", async () => {
    await renderAsAdmin(page(), server());
    const lent = await screen.findByRole("group", { name: "Time lent to this installation" });
    const list = within(lent).getByRole("list", { name: "Time lent to this installation" });
    await within(list).findByText("Dr Lee");
    const rows = within(list).getAllByRole("listitem");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toHaveTextContent(formatSpan(mine.start, mine.end, "UTC"));
    expect(rows[0]).toHaveTextContent(`Held until ${formatDateTime(mine.expires_at, "UTC")}`);
    expect(within(list).queryByText("Dr Kim Park")).toBeNull();
  });

  it("shows no lent time and no form to borrow on an installation that is not enrolled", async () => {
    const calls = await renderAsAdmin(page(), server({ status: { ...enrolled, enrolled: false, state: "not_enrolled" } }));
    await screen.findByRole("form", { name: "Connect to an upstream server" });
    expect(screen.queryByRole("group", { name: "Time lent to this installation" })).toBeNull();
    expect(calls.some((c) => c.path === "/api/v1/sync/node/leases")).toBe(false);
  });

  it("checks the borrowing form, sends the block on the doctor's clock held until its end, and shows the main server's refusal", async () => {
    let tries = 0;
    const calls = await renderAsAdmin(page(), server({
      borrow: () => (tries++ === 0 ? { status: 409, body: { error: { code: "conflict", message: "The upstream server refused: Another lease holds part of that time of this doctor." } } } : undefined),
    }));
    const form = await screen.findByRole("form", { name: "Borrow time from the main server" });
    fireEvent.change(within(form).getByLabelText("From"), { target: { value: "14:00" } });
    fireEvent.change(within(form).getByLabelText("To"), { target: { value: "13:00" } });
    await act(async () => fireEvent.click(within(form).getByRole("button", { name: "Borrow this time" })));
    expect(within(form).getByText("Choose a doctor.")).toBeInTheDocument();
    expect(within(form).getByLabelText("To")).toHaveAttribute("aria-invalid", "true");
    expect(within(form).getByText("The block must end after it starts.")).toBeInTheDocument();
    expect(calls.some((c) => c.method === "POST" && c.path === "/api/v1/sync/node/leases")).toBe(false);

    await within(form).findByRole("option", { name: "Dr Lee" });
    fireEvent.change(within(form).getByLabelText("Doctor"), { target: { value: "d-lee" } });
    fireEvent.change(within(form).getByLabelText("Date"), { target: { value: tomorrow } });
    fireEvent.change(within(form).getByLabelText("To"), { target: { value: "16:30" } });
    expect(within(form).getByRole("radio", { name: "Until the block ends" })).toBeChecked();
    await act(async () => fireEvent.click(within(form).getByRole("button", { name: "Borrow this time" })));
    expect(calls.filter((c) => c.method === "POST" && c.path === "/api/v1/sync/node/leases").at(-1)?.body).toEqual({
      doctor_id: "d-lee", start: at(tomorrow, "14:00"), end: at(tomorrow, "16:30"), ttl_seconds: 0,
    });
    expect(await within(form).findByRole("alert")).toHaveTextContent("The upstream server refused: Another lease holds part of that time of this doctor.");

    await act(async () => fireEvent.click(within(form).getByRole("button", { name: "Borrow this time" })));
    const lent = screen.getByRole("group", { name: "Time lent to this installation" });
    expect(await within(lent).findByRole("status")).toHaveTextContent(`Borrowed: Dr Lee's time, ${formatSpan(at(tomorrow, "14:00"), at(tomorrow, "16:30"), "UTC")}, held until ${formatDateTime(at(tomorrow, "16:30"), "UTC")}.`);
    expect(within(form).queryByRole("alert")).toBeNull();
    await vi.waitFor(() => expect(within(lent).getAllByRole("button", { name: /^Give back Dr Lee's time/ })).toHaveLength(2));
  });

  it("holds a lease for a number of hours up to 168, and says when the main server cannot be reached", async () => {
    const calls = await renderAsAdmin(page(), server({
      borrow: () => ({ status: 503, body: { error: { code: "unavailable", message: "The upstream server cannot be reached now; try again when it is online." } } }),
    }));
    const form = await screen.findByRole("form", { name: "Borrow time from the main server" });
    await within(form).findByRole("option", { name: "Dr Kim Park" });
    fireEvent.change(within(form).getByLabelText("Doctor"), { target: { value: "d-kim" } });
    fireEvent.change(within(form).getByLabelText("Date"), { target: { value: tomorrow } });
    await act(async () => fireEvent.click(within(form).getByRole("radio", { name: "A number of hours" })));
    const hours = within(form).getByLabelText("Hours (1 to 168)");
    fireEvent.change(hours, { target: { value: "169" } });
    await act(async () => fireEvent.click(within(form).getByRole("button", { name: "Borrow this time" })));
    expect(hours).toHaveAttribute("aria-invalid", "true");
    expect(within(form).getByText("Enter a whole number of hours from 1 to 168.")).toBeInTheDocument();

    fireEvent.change(hours, { target: { value: "48" } });
    await act(async () => fireEvent.click(within(form).getByRole("button", { name: "Borrow this time" })));
    expect(calls.filter((c) => c.method === "POST" && c.path === "/api/v1/sync/node/leases").at(-1)?.body).toEqual({
      doctor_id: "d-kim", start: at(tomorrow, "09:00"), end: at(tomorrow, "12:00"), ttl_seconds: 48 * 3600,
    });
    expect(await within(form).findByRole("alert")).toHaveTextContent("The upstream server cannot be reached now; try again when it is online.");
  });

  it("gives a lease back only once the admin confirms, showing a refusal in the dialog", async () => {
    let tries = 0;
    const calls = await renderAsAdmin(page(), server({
      release: () => (tries++ === 0 ? { status: 503, body: { error: { code: "unavailable", message: "The upstream server cannot be reached now; try again when it is online." } } } : undefined),
    }));
    const name = `Give back Dr Lee's time, ${formatSpan(mine.start, mine.end, "UTC")}`;
    await act(async () => fireEvent.click(await screen.findByRole("button", { name })));
    let dialog = screen.getByRole("dialog", { name: `${name}?` });
    await act(async () => fireEvent.click(within(dialog).getByRole("button", { name: "Keep it" })));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(calls.some((c) => c.path.endsWith("/release"))).toBe(false);

    await act(async () => fireEvent.click(screen.getByRole("button", { name })));
    dialog = screen.getByRole("dialog", { name: `${name}?` });
    expect(dialog).toHaveTextContent("Bookings already made there stay.");
    await act(async () => fireEvent.click(within(dialog).getByRole("button", { name: "Give back" })));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("The upstream server cannot be reached now");
    await act(async () => fireEvent.click(within(dialog).getByRole("button", { name: "Give back" })));
    expect(calls.filter((c) => c.method === "POST" && c.path === "/api/v1/sync/node/leases/l-mine/release")).toHaveLength(2);
    expect(await screen.findByText(`Given back: Dr Lee's time, ${formatSpan(mine.start, mine.end, "UTC")}.`)).toBeInTheDocument();
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(await screen.findByText("No time is lent to this installation.")).toBeInTheDocument();
  });
});
