import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { op } from "../api/operations";
import { ApiError } from "../api/client";
import type { Patient, Slot } from "../api/types";
import { useSession } from "../auth/session";
import { doctorName } from "../components/doctors";
import { Field } from "../components/Field";
import { t } from "../i18n";
import { book, formatWhen, listDoctors, myPatient } from "./api";
import { SlotPicker } from "./SlotPicker";
import { LoadError } from "../components/LoadError";
import { resolveConflict } from "../sync/api";

/**
 * BookPage: specialization, doctor, day, free time, reason, confirm. Staff
 * come with ?patient=ID; a rebooking after a sync conflict also names the
 * doctor and the day (?doctor=ID&day=YYYY-MM-DD) and the conflict, which is
 * marked as dealt with once the new booking is made (?conflict=ID).
 */
export function BookPage() {
  const { client } = useSession();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const { user } = useSession();
  const [params] = useSearchParams();
  const forPatient = params.get("patient");
  const forDoctor = params.get("doctor");
  const forDay = params.get("day") ?? undefined;
  const conflict = params.get("conflict");
  // Staff book for the patient they chose; a patient books for themselves.
  const patient = useQuery({
    queryKey: forPatient ? ["patient", forPatient] : ["me", "patient"],
    queryFn: () => (forPatient ? client.request<Patient>(...op("GET /api/v1/patients/{id}", { id: forPatient })) : myPatient(client)),
  });
  const [specialization, setSpecialization] = useState("");
  const [doctorID, setDoctorID] = useState("");
  const [slot, setSlot] = useState<Slot | null>(null);
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // One key per intended booking: a retry after a lost answer books once.
  const key = useRef(crypto.randomUUID());

  const specializations = useMemo(() => [...new Set((doctors.data ?? []).map((d) => d.specialization))].sort(), [doctors.data]);
  const choices = (doctors.data ?? []).filter((d) => d.specialization === specialization);
  const doctor = choices.find((d) => d.id === doctorID);

  // The doctor named in the address is chosen once the doctors have loaded.
  const prefilled = useRef(false);
  useEffect(() => {
    if (prefilled.current || !forDoctor || !doctors.data) return;
    prefilled.current = true;
    const d = doctors.data.find((x) => x.id === forDoctor);
    if (d) {
      setSpecialization(d.specialization);
      setDoctorID(d.id);
    }
  }, [forDoctor, doctors.data]);

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    if (!slot || !doctor || !patient.data) {
      setError(t("book.pickSlot"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const made = await book(client, { doctor_id: doctor.id, patient_id: patient.data.id, start: slot.start, end: slot.end, reason: reason.trim() }, key.current);
      key.current = crypto.randomUUID();
      if (conflict) {
        // The new booking is made; a failure to mark the old one stays visible on the Conflicts page.
        await resolveConflict(client, conflict).catch(() => undefined);
        await queries.invalidateQueries({ queryKey: ["sync"] });
      }
      await queries.invalidateQueries({ queryKey: ["appointments"] });
      const booked = t(made?.status === "pending" ? "book.pending" : "book.booked", { time: formatWhen(slot.start), doctor: doctorName(doctor.name) });
      navigate(user?.role === "patient" ? "/appointments" : "/clinic-day", { state: { booked } });
    } catch (err) {
      if (err instanceof ApiError && err.code === "conflict") {
        setError(t("book.taken"));
        setSlot(null);
        key.current = crypto.randomUUID();
        await queries.invalidateQueries({ queryKey: ["slots", doctor.id] });
      } else {
        setError(err instanceof Error ? err.message : t("error.generic"));
      }
    } finally {
      setBusy(false);
    }
  }

  const loadError = doctors.error ?? patient.error;
  return (
    <section className="card" aria-labelledby="book-title">
      <h1 id="book-title">{t("book.title")}</h1>
      {forPatient && patient.data && <p className="notice">{t("book.forPatient", { name: patient.data.name })}</p>}
      {conflict && <p className="notice">{t("book.rebooking")}</p>}
      <LoadError error={loadError} onRetry={() => Promise.all([doctors.refetch(), patient.refetch()])} />
      <form className="stack" onSubmit={submit}>
        <Field id="specialization" label={t("book.specialization")}>
          <select id="specialization" value={specialization} onChange={(e) => { setSpecialization(e.target.value); setDoctorID(""); setSlot(null); }}>
            <option value="">{t("book.choose")}</option>
            {specializations.map((s) => (
              <option key={s} value={s}>{s}</option>
            ))}
          </select>
        </Field>
        {specialization && (
          <Field id="doctor" label={t("book.doctor")}>
            <select id="doctor" value={doctorID} onChange={(e) => { setDoctorID(e.target.value); setSlot(null); }}>
              <option value="">{t("book.choose")}</option>
              {choices.map((d) => (
                <option key={d.id} value={d.id}>{doctorName(d.name)}</option>
              ))}
            </select>
          </Field>
        )}
        {doctor && <SlotPicker doctorID={doctor.id} slot={slot} onSlot={setSlot} initialDay={doctor.id === forDoctor ? forDay : undefined} />}
        {slot && (
          <Field id="reason" label={t("book.reason")}>
            <input id="reason" value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} aria-describedby="reason-help" />
          </Field>
        )}
        {slot && <p id="reason-help" className="muted">{t("book.reasonHelp")}</p>}
        {error && <p className="error-banner" role="alert">{error}</p>}
        {slot && doctor && (
          <button type="submit" className="primary" disabled={busy}>
            {t("book.confirm", { time: formatWhen(slot.start), doctor: doctorName(doctor.name) })}
          </button>
        )}
      </form>
    </section>
  );
}
