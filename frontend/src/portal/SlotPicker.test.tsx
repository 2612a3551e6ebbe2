import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { admin, renderAs, type Answer, type Call } from "../admin/testing";
import type { Slot } from "../api/types";
import type { SyncLease } from "../sync/leases";
import { formatHour, todayString } from "./api";
import { SlotPicker } from "./SlotPicker";

afterEach(cleanup);

const staff = { ...admin, id: "u-sam", name: "Sam Staff", role: "staff" };
const patient = { ...admin, id: "u-pat", name: "Pat Patient", role: "patient" };
const never = "0001-01-01T00:00:00Z";
const later = new Date(Date.now() + 3 * 24 * 3600_000);
const day = todayString(later);
const [y, m, d] = day.split("-").map(Number);
const at = (h: number, min = 0) => new Date(y, m - 1, d, h, min).toISOString();
const slots = [9, 10, 11].map((h) => ({ start: at(h), end: at(h, 30) }));
const status = (enrolled: boolean) => ({
  enrolled, state: enrolled ? "ok" : "not_enrolled", last_success: never, last_attempt: never, queued: 0, oldest_queued: never, open_conflicts: 0, audit_local: 0, audit_shipped: 0,
});
const lease = (over: Partial<SyncLease>): SyncLease => ({
  id: "l", node_id: "", doctor_id: "d-lee", start: at(9), end: at(9, 30), expires_at: at(23), created_at: at(0), released_at: never, ...over,
});
// Another site holds 10:00–10:30 (its lease overlaps it), this installation 11:00–12:00.
const leases = [lease({ id: "theirs", node_id: "ws-2", start: at(10, 15), end: at(10, 45) }), lease({ id: "mine", start: at(11), end: at(12) })];

function server(enrolled: boolean) {
  return (c: Call): Answer => {
    if (c.path === "/api/v1/sync/status") return { body: status(enrolled) };
    if (c.path === "/api/v1/sync/node/leases") return { body: { leases } };
    if (c.path === "/api/v1/doctors/d-lee/slots") return { body: { slots } };
    if (c.path === "/api/v1/doctors/d-lee/availability") return { body: { doctor_id: "d-lee", time_zone: "", slot_minutes: 30, weekly: [], exceptions: [] } };
    return undefined;
  };
}

function Picker({ moving = false }: { moving?: boolean }) {
  const [slot, setSlot] = useState<Slot | null>(null);
  return (
    <>
      <h1>Book</h1>
      <SlotPicker doctorID="d-lee" slot={slot} onSlot={setSlot} initialDay={day} moving={moving} />
      <p>Chosen: {slot ? formatHour(slot.start) : "none"}</p>
    </>
  );
}

const radio = (name: string | RegExp) => screen.findByRole("radio", { name });

describe("free times on an installation that syncs", () => {
  it("marks times lent to another site as held and not bookable, and times in this installation's own lease as confirmed at once", async () => {
    const calls = await renderAs(staff, <Picker />, server(true));
    const held = await radio(`${formatHour(at(10))} Held by another site`);
    expect(held).toBeDisabled();
    const own = await radio(`${formatHour(at(11))} Confirmed at once`);
    expect(own).toBeEnabled();
    const plain = await radio(formatHour(at(9)));
    expect(plain).toBeEnabled();
    const times = screen.getByRole("group", { name: "Free times" });
    expect(times).toHaveAccessibleDescription(/^Times marked “Held by another site” are lent to another installation/);
    expect(held.closest("label")).toHaveClass("held");

    fireEvent.click(held);
    expect(screen.getByText("Chosen: none")).toBeInTheDocument();
    await act(async () => fireEvent.click(own));
    expect(screen.getByText(`Chosen: ${formatHour(at(11))}`)).toBeInTheDocument();
    // One fetch of the leases for the page, whatever the picker does.
    fireEvent.change(screen.getByLabelText("Day"), { target: { value: todayString(new Date(later.getTime() + 24 * 3600_000)) } });
    await within(times).findByText(formatHour(at(9)));
    expect(calls.filter((c) => c.path === "/api/v1/sync/node/leases")).toHaveLength(1);
  });

  it("does not claim a move is confirmed at once, but still holds another site's time", async () => {
    await renderAs(staff, <Picker moving />, server(true));
    expect(await radio(`${formatHour(at(10))} Held by another site`)).toBeDisabled();
    expect(await radio(formatHour(at(11)))).toBeEnabled();
    expect(screen.queryByText("Confirmed at once")).toBeNull();
  });

  it("asks for no leases on an installation that is not enrolled, nor for a patient", async () => {
    let calls = await renderAs(staff, <Picker />, server(false));
    expect(await radio(formatHour(at(10)))).toBeEnabled();
    expect(calls.some((c) => c.path === "/api/v1/sync/status")).toBe(true);
    expect(calls.some((c) => c.path === "/api/v1/sync/node/leases")).toBe(false);
    cleanup();

    calls = await renderAs(patient, <Picker />, server(true));
    expect(await radio(formatHour(at(10)))).toBeEnabled();
    expect(calls.some((c) => c.path.startsWith("/api/v1/sync/"))).toBe(false);
  });
});
