import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { op } from "../api/operations";
import type * as S from "../api/schema";
import { Dialog } from "../admin/Dialog";
import { useSession } from "../auth/session";
import { doctorName } from "../components/doctors";
import { errorsFor, Field } from "../components/Field";
import { LoadError } from "../components/LoadError";
import { t } from "../i18n";
import { listDoctors, todayString } from "../portal/api";
import { useDoctorZones } from "../portal/zones";
import { formatDateTime, formatSpan, instantAt, viewerZone } from "../time";
import { borrowLease, expired, giveBackLease, leasesKey, maxHoldHours, ownLeases, ttlSeconds, useLeases, type HoldFor, type SyncLease } from "./leases";

type BorrowKey = "doctor" | "date" | "from" | "to" | "hours";
interface Borrow {
  doctor: string;
  date: string;
  from: string;
  to: string;
  hold: HoldFor["kind"];
  hours: string;
}

/** The API's names of the fields, as the form names them. */
const apiFields = { doctor_id: "doctor", start: "from", end: "to", ttl_seconds: "hours" } as const;

/**
 * validateBorrow checks the borrowing form before it is sent: a doctor, a
 * day, a block that ends after it starts, and a number of hours from 1 to
 * 168 when the lease is not held until the block ends.
 */
export function validateBorrow(f: Borrow): Partial<Record<BorrowKey, string>> {
  const e: Partial<Record<BorrowKey, string>> = {};
  if (!f.doctor) e.doctor = t("lease.doctorRequired");
  if (!f.date) e.date = t("lease.dateRequired");
  if (!f.from) e.from = t("lease.fromRequired");
  if (!f.to) e.to = t("lease.toRequired");
  else if (f.from && f.to <= f.from) e.to = t("lease.badRange");
  if (f.hold === "hours") {
    const n = Number(f.hours);
    if (!f.hours.trim() || !Number.isInteger(n) || n < 1 || n > maxHoldHours) e.hours = t("lease.hoursInvalid", { max: maxHoldHours });
  }
  return e;
}

/** useClinicZone is the clinic's time zone setting (admins read it), for a doctor without hours of their own. */
function useClinicZone(): string | undefined {
  const { client } = useSession();
  const settings = useQuery({ queryKey: ["settings"], queryFn: () => client.request<S.Settings>(...op("GET /api/v1/settings")), retry: false, staleTime: 5 * 60_000 });
  return settings.data?.time_zone || undefined;
}

/**
 * LentTime is the admin's view of the time the main server lends this
 * installation (slot leases): its own blocks that still hold, each with
 * "Give back", and a form to borrow a block of a doctor's time. Times are
 * on the doctor's clock (the clinic's for a doctor without hours).
 */
export function LentTime() {
  const { client } = useSession();
  const queries = useQueryClient();
  const leases = useLeases();
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const clinicZone = useClinicZone();
  const [form, setForm] = useState<Borrow>({ doctor: "", date: todayString(), from: "09:00", to: "12:00", hold: "end", hours: "24" });
  const [errors, setErrors] = useState<Partial<Record<BorrowKey | "form", string>>>({});
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [givingBack, setGivingBack] = useState<SyncLease | null>(null);
  const own = ownLeases(leases.data ?? []);
  const doctorZone = useDoctorZones([...own.map((l) => l.doctor_id), form.doctor]);
  const zoneOf = (id: string) => doctorZone(id) ?? clinicZone;
  const names = new Map((doctors.data ?? []).map((d) => [d.id, doctorName(d.name)]));
  const nameOf = (id: string) => names.get(id) ?? "…";
  const span = (l: SyncLease) => formatSpan(l.start, l.end, zoneOf(l.doctor_id));

  const refresh = () => Promise.all([queries.invalidateQueries({ queryKey: leasesKey }), queries.invalidateQueries({ queryKey: ["slots"] })]);

  async function borrow(ev: FormEvent) {
    ev.preventDefault();
    setNotice(null);
    const e = validateBorrow(form);
    setErrors(e);
    if (Object.keys(e).length > 0) return;
    const zone = zoneOf(form.doctor);
    const hold: HoldFor = form.hold === "end" ? { kind: "end" } : { kind: "hours", hours: Number(form.hours) };
    setBusy(true);
    try {
      const l = await borrowLease(client, {
        doctor_id: form.doctor,
        start: instantAt(form.date, form.from, zone).toISOString(),
        end: instantAt(form.date, form.to, zone).toISOString(),
        ttl_seconds: ttlSeconds(hold),
      });
      setNotice(t("lease.borrowed", { doctor: nameOf(l.doctor_id), span: span(l), time: formatDateTime(l.expires_at, zoneOf(l.doctor_id)) }));
      await refresh();
    } catch (err) {
      const placed = errorsFor(err, Object.keys(apiFields) as (keyof typeof apiFields)[]);
      const out: Partial<Record<BorrowKey | "form", string>> = { form: placed.form };
      for (const [api, mine] of Object.entries(apiFields)) {
        const m = placed[api as keyof typeof apiFields];
        if (m) out[mine] = m;
      }
      // Hours the form does not show: the message goes with the form.
      if (out.hours && form.hold !== "hours") out.form = out.hours;
      setErrors(out);
    } finally {
      setBusy(false);
    }
  }

  const set = (k: keyof Borrow) => (v: string) => setForm({ ...form, [k]: v });
  const described = (k: BorrowKey, help?: string) => [errors[k] ? `lease-${k}-error` : "", help ?? ""].filter(Boolean).join(" ") || undefined;
  const formZone = zoneOf(form.doctor) ?? viewerZone();

  return (
    <div className="sync-leases" role="group" aria-labelledby="sync-leases-title">
      <h3 id="sync-leases-title" className="h3">{t("lease.title")}</h3>
      <p className="muted">{t("lease.intro")}</p>
      <LoadError error={leases.error} onRetry={() => leases.refetch()} />
      {notice && <p className="notice" role="status">{notice}</p>}
      {leases.data && own.length === 0 && <p className="muted">{t("lease.none")}</p>}
      <ul className="appointment-list" aria-labelledby="sync-leases-title">
        {own.map((l) => {
          const over = expired(l);
          const zone = zoneOf(l.doctor_id);
          return (
            <li key={l.id} className="appointment sync-lease">
              <div>
                <strong>{nameOf(l.doctor_id)}</strong>
                <div>{span(l)}</div>
                <div className="muted">
                  {over ? t("lease.expired", { time: formatDateTime(l.expires_at, zone) }) : t("lease.heldUntil", { time: formatDateTime(l.expires_at, zone) })}
                </div>
              </div>
              <div className="actions">
                <button type="button" onClick={() => setGivingBack(l)} aria-label={t("lease.giveBackNamed", { doctor: nameOf(l.doctor_id), span: span(l) })}>
                  {t("lease.giveBack")}
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      <form className="stack" onSubmit={borrow} noValidate aria-labelledby="lease-borrow-title">
        <h4 id="lease-borrow-title" className="h3">{t("lease.borrowTitle")}</h4>
        <p id="lease-borrow-help" className="help">{t("lease.borrowHelp")}</p>
        {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
        <Field id="lease-doctor" label={t("book.doctor")} error={errors.doctor}>
          <select id="lease-doctor" value={form.doctor} onChange={(e) => set("doctor")(e.target.value)} aria-invalid={!!errors.doctor} aria-describedby={described("doctor")}>
            <option value="">{t("book.choose")}</option>
            {(doctors.data ?? []).map((d) => (
              <option key={d.id} value={d.id}>{doctorName(d.name)}</option>
            ))}
          </select>
        </Field>
        <div className="lease-when">
          <Field id="lease-date" label={t("lease.date")} error={errors.date}>
            <input id="lease-date" type="date" min={todayString()} value={form.date} onChange={(e) => set("date")(e.target.value)} aria-invalid={!!errors.date} aria-describedby={described("date", "lease-zone-help")} />
          </Field>
          <Field id="lease-from" label={t("lease.from")} error={errors.from}>
            <input id="lease-from" type="time" step={60} value={form.from} onChange={(e) => set("from")(e.target.value)} aria-invalid={!!errors.from} aria-describedby={described("from", "lease-zone-help")} />
          </Field>
          <Field id="lease-to" label={t("lease.to")} error={errors.to}>
            <input id="lease-to" type="time" step={60} value={form.to} onChange={(e) => set("to")(e.target.value)} aria-invalid={!!errors.to} aria-describedby={described("to", "lease-zone-help")} />
          </Field>
        </div>
        <p id="lease-zone-help" className="help">{t("lease.zoneHelp", { zone: formZone })}</p>
        <fieldset className="lease-hold">
          <legend>{t("lease.holdFor")}</legend>
          <label className="check">
            <input type="radio" name="lease-hold" value="end" checked={form.hold === "end"} onChange={() => set("hold")("end")} /> {t("lease.holdEnd")}
          </label>
          <label className="check">
            <input type="radio" name="lease-hold" value="hours" checked={form.hold === "hours"} onChange={() => set("hold")("hours")} /> {t("lease.holdHours")}
          </label>
          {form.hold === "hours" && (
            <Field id="lease-hours" label={t("lease.hours", { max: maxHoldHours })} error={errors.hours}>
              <input id="lease-hours" type="number" inputMode="numeric" min={1} max={maxHoldHours} step={1} value={form.hours} onChange={(e) => set("hours")(e.target.value)}
                aria-invalid={!!errors.hours} aria-describedby={described("hours")} />
            </Field>
          )}
        </fieldset>
        <button type="submit" className="primary" disabled={busy} aria-describedby="lease-borrow-help">{busy ? t("lease.borrowing") : t("lease.borrow")}</button>
      </form>
      {givingBack && (
        <GiveBackDialog
          lease={givingBack}
          doctor={nameOf(givingBack.doctor_id)}
          span={span(givingBack)}
          onClose={() => setGivingBack(null)}
          onDone={() => {
            setNotice(t("lease.givenBack", { doctor: nameOf(givingBack.doctor_id), span: span(givingBack) }));
            setGivingBack(null);
            void refresh();
          }}
        />
      )}
    </div>
  );
}

/** GiveBackDialog asks before giving a lease back: bookings there then wait for the main server again, and other sites may book the time. */
function GiveBackDialog({ lease, doctor, span, onClose, onDone }: { lease: SyncLease; doctor: string; span: string; onClose: () => void; onDone: () => void }) {
  const { client } = useSession();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function giveBack(ev: FormEvent) {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await giveBackLease(client, lease.id);
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("lease.giveBackTitle", { doctor, span })} onClose={onClose}>
      <form className="stack-form" onSubmit={giveBack}>
        <p>{t("lease.giveBackBody")}</p>
        {error && <p className="error-banner" role="alert">{error}</p>}
        <div className="form-actions">
          <button type="button" onClick={onClose}>{t("sync.keep")}</button>
          <button type="submit" className="danger solid" disabled={busy}>{t("lease.giveBack")}</button>
        </div>
      </form>
    </Dialog>
  );
}
