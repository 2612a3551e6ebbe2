import { op } from "../api/operations";
import type { Client } from "../api/client";
import type { Appointment, Doctor, Patient, Slot } from "../api/types";
import { t, type MessageKey } from "../i18n";

export const listDoctors = (c: Client) => c.request<{ doctors: Doctor[] }>(...op("GET /api/v1/doctors")).then((r) => r.doctors);

export const myPatient = (c: Client) => c.request<Patient>(...op("GET /api/v1/me/patient"));

export const listPatients = (c: Client) => c.request<{ patients: Patient[] }>(...op("GET /api/v1/patients", {}, new URLSearchParams({ limit: "200" }))).then((r) => r.patients);

export function freeSlots(c: Client, doctorID: string, from: Date, to: Date) {
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
  return c.request<{ slots: Slot[] }>(...op("GET /api/v1/doctors/{id}/slots", { id: doctorID }, q)).then((r) => r.slots);
}

export function listAppointments(c: Client, filter: { doctor_id?: string; patient_id?: string; from?: Date; to?: Date }) {
  const q = new URLSearchParams();
  if (filter.doctor_id) q.set("doctor_id", filter.doctor_id);
  if (filter.patient_id) q.set("patient_id", filter.patient_id);
  if (filter.from) q.set("from", filter.from.toISOString());
  if (filter.to) q.set("to", filter.to.toISOString());
  return c.request<{ appointments: Appointment[] }>(...op("GET /api/v1/appointments", {}, q)).then((r) => r.appointments);
}

/** book asks for a slot; the key makes a retry after a lost answer safe. */
export function book(c: Client, body: { doctor_id: string; patient_id: string; start: string; end: string; reason: string }, key: string) {
  return c.requestWith<Appointment>(...op("POST /api/v1/appointments"), body, { "Idempotency-Key": key });
}

export const cancelAppointment = (c: Client, id: string) =>
  c.request<Appointment>(...op("POST /api/v1/appointments/{id}/cancel", { id }), { reason: "" });

export const rescheduleAppointment = (c: Client, id: string, slot: Slot) =>
  c.request<Appointment>(...op("POST /api/v1/appointments/{id}/reschedule", { id }), { start: slot.start, end: slot.end });

export const setStatus = (c: Client, id: string, status: string) =>
  c.request<Appointment>(...op("POST /api/v1/appointments/{id}/status", { id }), { status });


/** statusText is an appointment's status in words, with its reason when it has one. */
export function statusText(a: Pick<Appointment, "status" | "reason">, withReason = true): string {
  const status = t(`status.${a.status}` as MessageKey);
  return withReason && a.reason ? `${status} · ${a.reason}` : status;
}

// The portal's names for the UI's one time formatter: pass the doctor's
// (or clinic's) zone and the time is shown on that clock, with the zone
// named when it is not the viewer's.
export { formatDateTime as formatWhen, formatTime as formatHour } from "../time";

/** localDay is the start of a YYYY-MM-DD day in this computer's time zone. */
export function localDay(day: string): Date {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d);
}

export function todayString(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}`;
}
