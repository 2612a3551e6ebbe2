import { describe, expect, it } from "vitest";
import type { Appointment, Patient } from "../api/types";
import { contactFields, contactPatch } from "./ContactForm";
import { describeException, sortExceptions } from "./HoursPage";
import { ageOn } from "./PatientSummary";
import { hourRange } from "./WeekCalendar";

const patient: Patient = {
  id: "p1",
  name: "Pat Patient",
  date_of_birth: "1990-04-12",
  phone: "+44 1",
  email: "pat@example.org",
  address: { city: "Springfield" },
  emergency_contacts: [{ name: "Robin", phone: "+44 2", relationship: "partner" }],
  created_at: "",
  updated_at: "",
};

describe("contactPatch", () => {
  const same = { phone: "+44 1", email: "pat@example.org", address: { city: "Springfield" }, contacts: [{ name: "Robin", phone: "+44 2", relationship: "partner" }] };

  it("sends nothing when nothing changed, whitespace included", () => {
    expect(contactPatch(patient, same)).toEqual({});
    expect(contactPatch(patient, { ...same, phone: " +44 1 ", address: { city: "Springfield ", line: "" } })).toEqual({});
  });

  it("sends only the changed fields, the address and contacts whole", () => {
    expect(contactPatch(patient, { ...same, phone: "+44 9" })).toEqual({ phone: "+44 9" });
    expect(contactPatch(patient, { ...same, address: { city: "Shelbyville", line: "1 Main St" } })).toEqual({
      address: { line: "1 Main St", postal_code: "", city: "Shelbyville", country: "" },
    });
    expect(contactPatch(patient, { ...same, contacts: [...same.contacts, { name: "", phone: "", relationship: "" }] })).toEqual({});
    expect(contactPatch(patient, { ...same, contacts: [] })).toEqual({ emergency_contacts: [] });
  });

  it("names the fields as the server does in its errors", () => {
    expect(contactFields(1)).toContain("emergency_contacts[0].phone");
    expect(contactFields(1)).toContain("address.postal_code");
    expect(contactFields(1)).not.toContain("emergency_contacts[1].phone");
  });
});

describe("time off", () => {
  it("orders by date, then start, and says what each does", () => {
    const list = sortExceptions([
      { date: "2026-12-24", start: "12:00", end: "14:00", available: false },
      { date: "2026-12-20", available: false },
      { date: "2026-12-24", start: "08:00", end: "09:00", available: true },
    ]);
    expect(list.map((e) => `${e.date} ${e.start ?? ""}`)).toEqual(["2026-12-20 ", "2026-12-24 08:00", "2026-12-24 12:00"]);
    expect(describeException(list[0])).toMatch(/: off all day$/);
    expect(describeException(list[1])).toMatch(/: extra hours 08:00–09:00$/);
    expect(describeException(list[2])).toMatch(/: off 12:00–14:00$/);
  });
});

describe("ageOn", () => {
  it("counts whole years, the birthday itself included", () => {
    expect(ageOn("1990-04-12", new Date(2026, 3, 11))).toBe(35);
    expect(ageOn("1990-04-12", new Date(2026, 3, 12))).toBe(36);
    expect(ageOn("not a date")).toBeNull();
  });
});

describe("hourRange", () => {
  const at = (start: Date, minutes: number) => ({ start: start.toISOString(), end: new Date(start.getTime() + minutes * 60_000).toISOString() }) as Appointment;
  it("shows office hours at least and widens to hold every appointment", () => {
    expect(hourRange([])).toEqual([8, 18]);
    expect(hourRange([at(new Date(2026, 0, 5, 7, 30), 30), at(new Date(2026, 0, 5, 18, 30), 20)])).toEqual([7, 19]);
    expect(hourRange([at(new Date(2026, 0, 5, 23, 30), 60)])).toEqual([8, 24]);
  });
});
