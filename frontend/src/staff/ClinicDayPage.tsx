import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useLocation } from "react-router-dom";
import { ApiError } from "../api/client";
import { op } from "../api/operations";
import type { Appointment, Slot } from "../api/types";
import { useSession } from "../auth/session";
import { Field } from "../components/Field";
import { LoadError } from "../components/LoadError";
import { t } from "../i18n";
import { listDoctors, listPatients, rescheduleAppointment, setStatus, todayString } from "../portal/api";
import { AppointmentStatus } from "../components/AppointmentStatus";
import { SlotPicker } from "../portal/SlotPicker";
import { formatDateTime, formatTime } from "../time";
import { dayAppointments, dayKey, patientPath } from "./day";

type Panel = { kind: "cancel" | "move"; id: string } | null;

/** ClinicDayPage: every doctor's appointments on one day, updated live, with check-in, cancel and reschedule. */
export function ClinicDayPage() {
  const { client } = useSession();
  const queries = useQueryClient();
  const [day, setDay] = useState(todayString());
  const booked = (useLocation().state as { booked?: string } | null)?.booked;
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const patients = useQuery({ queryKey: ["patients", "all"], queryFn: () => listPatients(client) });
  const appts = useQuery({ queryKey: dayKey(day), queryFn: () => dayAppointments(client, day) });
  const [panel, setPanel] = useState<Panel>(null);
  const [reason, setReason] = useState("");
  const [slot, setSlot] = useState<Slot | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const names = new Map((patients.data ?? []).map((p) => [p.id, p.name]));
  const live = (appts.data ?? []).filter((a) => a.status !== "cancelled");
  const loadError = appts.error ?? doctors.error ?? patients.error;
  const who = (a: Appointment) => names.get(a.patient_id) ?? "…";

  function open(next: Panel) {
    setPanel(panel?.id === next?.id && panel?.kind === next?.kind ? null : next);
    setReason("");
    setSlot(null);
    setError(null);
  }

  // act runs one change, reports it, and refreshes every view of appointments.
  async function act(change: () => Promise<unknown>, done: string) {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      await change();
      setNotice(done);
      setPanel(null);
      await queries.invalidateQueries({ queryKey: ["appointments"] });
    } catch (err) {
      if (err instanceof ApiError && err.code === "conflict" && panel?.kind === "move") {
        setError(t("book.taken"));
        setSlot(null);
        await queries.invalidateQueries({ queryKey: ["slots"] });
      } else {
        setError(err instanceof Error ? err.message : t("error.generic"));
      }
    } finally {
      setBusy(false);
    }
  }

  const checkIn = (a: Appointment) => void act(() => setStatus(client, a.id, "arrived"), t("day.checkedIn", { patient: who(a) }));

  function cancel(ev: FormEvent, a: Appointment) {
    ev.preventDefault();
    void act(
      () => client.request<Appointment>(...op("POST /api/v1/appointments/{id}/cancel", { id: a.id }), { reason: reason.trim() }),
      t("day.cancelled", { patient: who(a), time: formatTime(a.start) }),
    );
  }

  function move(ev: FormEvent, a: Appointment) {
    ev.preventDefault();
    if (!slot) return;
    void act(() => rescheduleAppointment(client, a.id, slot), t("day.moved", { patient: who(a), time: formatDateTime(slot.start) }));
  }

  const row = (a: Appointment) => {
    const name = who(a);
    const time = formatTime(a.start);
    return (
      <li key={a.id} className="appointment">
        <div>
          <strong>{time}</strong> <Link to={patientPath(a.patient_id)}>{name}</Link>
          <div className="muted"><AppointmentStatus a={a} /></div>
        </div>
        {(a.status === "booked" || a.status === "pending") && (
          <div className="actions">
            {/* A booking waiting for the main server's confirmation can be moved or cancelled, not checked in. */}
            {a.status === "booked" && (
              <button type="button" className="primary" disabled={busy} onClick={() => checkIn(a)} aria-label={t("day.checkInNamed", { patient: name })}>
                {t("day.checkIn")}
              </button>
            )}
            <button type="button" aria-expanded={panel?.kind === "move" && panel.id === a.id} onClick={() => open({ kind: "move", id: a.id })}
              aria-label={t("day.rescheduleNamed", { patient: name, time })}>
              {t("day.reschedule")}
            </button>
            <button type="button" aria-expanded={panel?.kind === "cancel" && panel.id === a.id} onClick={() => open({ kind: "cancel", id: a.id })}
              aria-label={t("day.cancelNamed", { patient: name, time })}>
              {t("day.cancel")}
            </button>
          </div>
        )}
        {panel?.id === a.id && panel.kind === "cancel" && (
          <form className="stack move-panel" onSubmit={(ev) => cancel(ev, a)} aria-label={t("day.cancelTitle", { patient: name, time })}>
            <Field id={`cancel-reason-${a.id}`} label={t("day.cancelReason")}>
              <input id={`cancel-reason-${a.id}`} value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} aria-describedby={`cancel-help-${a.id}`} />
            </Field>
            <p id={`cancel-help-${a.id}`} className="muted">{t("day.cancelReasonHelp")}</p>
            <div className="actions">
              <button type="submit" className="primary" disabled={busy}>{t("day.cancelConfirm")}</button>
              <button type="button" onClick={() => setPanel(null)}>{t("day.keep")}</button>
            </div>
          </form>
        )}
        {panel?.id === a.id && panel.kind === "move" && (
          <form className="stack move-panel" onSubmit={(ev) => move(ev, a)} aria-label={t("day.moveTitle", { patient: name, time })}>
            <SlotPicker doctorID={a.doctor_id} slot={slot} onSlot={setSlot} idPrefix={`move-${a.id}-`} moving />
            <div className="actions">
              <button type="submit" className="primary" disabled={!slot || busy}>
                {slot ? t("appts.moveTo", { time: formatDateTime(slot.start) }) : t("book.pickSlot")}
              </button>
              <button type="button" onClick={() => setPanel(null)}>{t("day.keep")}</button>
            </div>
          </form>
        )}
      </li>
    );
  };

  return (
    <section className="card" aria-labelledby="day-title">
      <h1 id="day-title">{t("day.title")}</h1>
      {(notice ?? booked) && <p className="notice" role="status">{notice ?? booked}</p>}
      {error && <p className="error-banner" role="alert">{error}</p>}
      <label className="filters">
        {t("day.day")}
        <input type="date" value={day} onChange={(e) => { setDay(e.target.value); setPanel(null); }} />
      </label>
      <LoadError error={loadError} onRetry={() => Promise.all([appts.refetch(), doctors.refetch(), patients.refetch()])} />
      {(doctors.data ?? []).map((d) => {
        const mine = live.filter((a) => a.doctor_id === d.id).sort((x, y) => x.start.localeCompare(y.start));
        return (
          <div key={d.id} className="doctor-day">
            <h2 className="h3">{d.name} <span className="muted">({d.specialization})</span></h2>
            {appts.data && mine.length === 0 && <p className="muted">{t("day.none")}</p>}
            <ul className="appointment-list" aria-label={d.name}>{mine.map(row)}</ul>
          </div>
        );
      })}
    </section>
  );
}
