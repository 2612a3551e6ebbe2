import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useLocation } from "react-router-dom";
import { ApiError } from "../api/client";
import type { Appointment, Slot } from "../api/types";
import { useSession } from "../auth/session";
import { t } from "../i18n";
import { cancelAppointment, formatWhen, rescheduleAppointment } from "./api";
import { AppointmentStatus } from "../components/AppointmentStatus";
import { useMyComingAppointments } from "./mine";
import { SlotPicker } from "./SlotPicker";
import { useDoctorZones } from "./zones";
import { LoadError } from "../components/LoadError";

/** AppointmentsPage lists the patient's coming appointments, with cancel and reschedule. */
export function AppointmentsPage() {
  const { client } = useSession();
  const queries = useQueryClient();
  const booked = (useLocation().state as { booked?: string } | null)?.booked;
  const { patient, doctors, appts } = useMyComingAppointments();
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [moving, setMoving] = useState<Appointment | null>(null);
  const [slot, setSlot] = useState<Slot | null>(null);
  const [busy, setBusy] = useState(false);
  const names = new Map((doctors.data ?? []).map((d) => [d.id, d.name]));
  const zoneOf = useDoctorZones((appts.data ?? []).map((a) => a.doctor_id));
  // An appointment's time on its doctor's clock, naming the zone when it is not the patient's.
  const when = (a: Pick<Appointment, "start" | "doctor_id">) => formatWhen(a.start, zoneOf(a.doctor_id));

  async function cancel(a: Appointment) {
    if (!window.confirm(t("appts.cancelConfirm", { time: when(a) }))) return;
    setError(null);
    try {
      await cancelAppointment(client, a.id);
      await queries.invalidateQueries({ queryKey: ["appointments"] });
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    }
  }

  async function move(ev: FormEvent) {
    ev.preventDefault();
    if (!moving || !slot) return;
    setBusy(true);
    setError(null);
    try {
      await rescheduleAppointment(client, moving.id, slot);
      setNotice(t("appts.moved", { time: when({ start: slot.start, doctor_id: moving.doctor_id }), doctor: names.get(moving.doctor_id) ?? "" }));
      setMoving(null);
      setSlot(null);
      await queries.invalidateQueries({ queryKey: ["appointments"] });
    } catch (err) {
      if (err instanceof ApiError && err.code === "conflict") {
        setError(t("book.taken"));
        setSlot(null);
        await queries.invalidateQueries({ queryKey: ["slots", moving.doctor_id] });
      } else {
        setError(err instanceof Error ? err.message : t("error.generic"));
      }
    } finally {
      setBusy(false);
    }
  }

  const loadError = patient.error ?? appts.error;
  const upcoming = (appts.data ?? []).filter((a) => a.status !== "cancelled");
  return (
    <section className="card" aria-labelledby="appts-title">
      <div className="chat-head">
        <h1 id="appts-title">{t("appts.title")}</h1>
        <Link to="/book" className="button primary">{t("book.title")}</Link>
      </div>
      {(notice ?? booked) && <p className="notice" role="status">{notice ?? booked}</p>}
      <LoadError error={loadError} onRetry={() => appts.refetch()} />
      {error && <p className="error-banner" role="alert">{error}</p>}
      {appts.data && upcoming.length === 0 && <p className="muted">{t("appts.none")}</p>}
      <ul className="appointment-list">
        {upcoming.map((a) => (
          <li key={a.id} className="appointment">
            <div>
              <strong>{when(a)}</strong> {t("appts.with", { doctor: names.get(a.doctor_id) ?? "" })}
              <div className="muted"><AppointmentStatus a={a} /></div>
            </div>
            <div className="actions">
              <button type="button" aria-expanded={moving?.id === a.id} onClick={() => { setMoving(moving?.id === a.id ? null : a); setSlot(null); setError(null); }}
                aria-label={`${t("appts.reschedule")} ${when(a)}`}>
                {t("appts.reschedule")}
              </button>
              <button type="button" onClick={() => void cancel(a)} aria-label={`${t("appts.cancel")} ${when(a)}`}>
                {t("appts.cancel")}
              </button>
            </div>
            {moving?.id === a.id && (
              <form className="stack move-panel" onSubmit={move} aria-label={t("appts.moveTitle", { time: when(a) })}>
                <p className="muted">{t("appts.moveHelp")}</p>
                <SlotPicker doctorID={a.doctor_id} slot={slot} onSlot={setSlot} idPrefix="move-" moving />
                <div className="actions">
                  <button type="submit" className="primary" disabled={!slot || busy}>
                    {slot ? t("appts.moveTo", { time: when({ start: slot.start, doctor_id: a.doctor_id }) }) : t("book.pickSlot")}
                  </button>
                  <button type="button" onClick={() => setMoving(null)}>{t("appts.keep")}</button>
                </div>
              </form>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
