// The clinic's day as the front desk and the doctors' home pages read it.
import type { Client } from "../api/client";
import type { Appointment } from "../api/types";
import { listAppointments, localDay } from "../portal/api";

/** dayAppointments lists the appointments of a YYYY-MM-DD day (this computer's zone), for one doctor or all. */
export function dayAppointments(c: Client, day: string, doctorID?: string): Promise<Appointment[]> {
  const from = localDay(day);
  const to = new Date(from.getFullYear(), from.getMonth(), from.getDate() + 1);
  return listAppointments(c, { doctor_id: doctorID, from, to });
}

/** dayKey is the query key of a day's appointments, so a change anywhere refreshes every view of it. */
export const dayKey = (day: string, doctorID?: string) => ["appointments", "day", day, doctorID ?? "all"];

/** waiting: the patient is in the clinic and has not been seen yet. */
export const isWaiting = (a: Appointment) => a.status === "arrived" || a.status === "checked-in";

/** expected: the patient has not come yet and the time has not passed (booked, or waiting for the main server to confirm it). */
export const isExpected = (a: Appointment, now = new Date()) => (a.status === "booked" || a.status === "pending") && new Date(a.end) > now;

/** nextUp is the first appointment still to be dealt with: waiting, or expected and not over. */
export function nextUp(appts: Appointment[], now = new Date()): Appointment | undefined {
  return [...appts].sort((x, y) => x.start.localeCompare(y.start)).find((a) => isWaiting(a) || isExpected(a, now));
}

/** patientPath is the staff and doctors' page of a patient. */
export const patientPath = (id: string) => `/patients/${encodeURIComponent(id)}`;
