import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { op } from "../api/operations";
import type { Client } from "../api/client";
import type { Settings } from "../api/schema";
import type { Role, User } from "../api/types";
import { useSession } from "../auth/session";
import { browserTimeZone } from "../components/doctors";
import { errorsFor, Field, TextField, type InputProps } from "../components/Field";
import { LoadError } from "../components/LoadError";
import { TimeZoneSelect } from "../components/TimeZoneSelect";
import { t, type MessageKey } from "../i18n";
import { Dialog } from "./Dialog";

const roles: Role[] = ["patient", "doctor", "staff", "admin"];
type Key = "name" | "email" | "password" | "role" | "specialization" | "time_zone";

/** DoctorFields is what makes a doctor bookable: a specialization and the time zone of their hours. */
interface DoctorFields {
  specialization: string;
  time_zone: string;
}

/** useClinicTimeZone is the clinic's time zone setting, the default of a new doctor's. */
function useClinicTimeZone(client: Client): string {
  const settings = useQuery({ queryKey: ["settings"], queryFn: () => client.request<Settings>(...op("GET /api/v1/settings")) });
  return settings.data?.time_zone || browserTimeZone();
}

/**
 * DoctorProfileFields asks for a doctor's specialization and time zone;
 * idPrefix keeps the ids of two forms on one page apart.
 */
function DoctorProfileFields({ idPrefix, value, onChange, clinicZone, errors }: {
  idPrefix: string;
  value: DoctorFields;
  onChange: (v: DoctorFields) => void;
  clinicZone: string;
  errors: Partial<Record<"specialization" | "time_zone", string>>;
}) {
  const zone = value.time_zone || clinicZone;
  return (
    <fieldset className="stack">
      <p className="muted">{t("users.doctorHelp")}</p>
      <TextField id={`${idPrefix}-specialization`} label={t("users.specialization")} error={errors.specialization} value={value.specialization}
        onValue={(v) => onChange({ ...value, specialization: v })} autoComplete="off" required />
      <Field id={`${idPrefix}-time-zone`} label={t("users.timeZone")} error={errors.time_zone}>
        <TimeZoneSelect id={`${idPrefix}-time-zone`} value={zone} keep={clinicZone} error={errors.time_zone} onChange={(z) => onChange({ ...value, time_zone: z })} />
      </Field>
    </fieldset>
  );
}

/** doctorBody is the doctor profile part of a request, with the zone shown as the default filled in. */
const doctorBody = (d: DoctorFields, clinicZone: string) => ({ specialization: d.specialization.trim(), time_zone: d.time_zone || clinicZone });

/** UsersPage: the admin creates accounts, changes their role, disables them and resets two-factor authentication. */
export function UsersPage() {
  const { client, user: me } = useSession();
  const queries = useQueryClient();
  const [q, setQ] = useState("");
  const users = useQuery({
    queryKey: ["users", q],
    queryFn: () =>
      client.request<{ users: User[]; doctors_without_profile?: string[] }>(
        ...op("GET /api/v1/users", {}, new URLSearchParams(q.trim() ? { q: q.trim(), limit: "200" } : { limit: "200" })),
      ),
  });
  const incomplete = new Set(users.data?.doctors_without_profile ?? []);
  const clinicZone = useClinicTimeZone(client);
  const [form, setForm] = useState<Record<Key, string>>({ name: "", email: "", password: "", role: "staff", specialization: "", time_zone: "" });
  const [errors, setErrors] = useState<Partial<Record<Key | "form", string>>>({});
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [changing, setChanging] = useState<User | null>(null);
  const [completing, setCompleting] = useState<User | null>(null);

  async function create(ev: FormEvent) {
    ev.preventDefault();
    setBusy(true);
    setErrors({});
    setStatus(null);
    try {
      const account = { name: form.name.trim(), email: form.email.trim(), password: form.password, role: form.role };
      const body = form.role === "doctor" ? { ...account, ...doctorBody(form, clinicZone) } : account;
      const u = await client.request<User>(...op("POST /api/v1/users"), body);
      setStatus(t(u.role === "doctor" ? "users.doctorCreated" : "users.created", { name: u.name }));
      setForm({ name: "", email: "", password: "", role: form.role, specialization: "", time_zone: form.time_zone });
      await queries.invalidateQueries({ queryKey: ["users"] });
      await queries.invalidateQueries({ queryKey: ["doctors"] });
    } catch (err) {
      setErrors(errorsFor(err, ["name", "email", "password", "role", "specialization", "time_zone"] as const));
    } finally {
      setBusy(false);
    }
  }

  async function patch(u: User, body: { disabled?: boolean; reset_mfa?: boolean }, done?: string) {
    setStatus(null);
    setErrors({});
    try {
      await client.request<User>(...op("PATCH /api/v1/users/{id}", { id: u.id }), body);
      if (done) setStatus(done);
      await queries.invalidateQueries({ queryKey: ["users"] });
    } catch (err) {
      setErrors({ form: err instanceof Error ? err.message : t("error.generic") });
    }
  }

  const input = (k: Key, label: string, props: InputProps) => (
    <TextField id={`new-${k}`} label={label} error={errors[k]} value={form[k]} onValue={(v) => setForm({ ...form, [k]: v })} {...props} />
  );

  return (
    <div className="stack-wide">
      <section className="card" aria-labelledby="users-title">
        <h1 id="users-title">{t("users.title")}</h1>
        {status && <p className="notice" role="status">{status}</p>}
        {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
        <label className="visually-hidden" htmlFor="user-search">{t("users.search")}</label>
        <input id="user-search" type="search" placeholder={t("users.search")} value={q} onChange={(e) => setQ(e.target.value)} />
        <LoadError error={users.error} onRetry={() => users.refetch()} />
        {users.data?.users.length === 0 && <p className="muted">{t("users.none")}</p>}
        <ul className="appointment-list" aria-label={t("users.title")}>
          {users.data?.users.map((u) => (
            <li key={u.id} className="appointment user-row" data-email={u.email}>
              <div>
                <strong>{u.name}</strong> {u.id === me?.id && <span className="muted">{t("users.self")}</span>}
                <div className="muted">
                  {u.email} · {t(`role.${u.role}` as MessageKey)}
                  {u.mfa_enabled ? ` · ${t("users.mfaOn")}` : ""}
                  {u.disabled ? ` · ${t("users.disabled")}` : ""}
                </div>
                {incomplete.has(u.id) && <p className="field-error">{t("users.noProfile")}</p>}
              </div>
              {u.id !== me?.id && (
                <div className="actions">
                  {incomplete.has(u.id) && (
                    <button type="button" className="primary" onClick={() => setCompleting(u)} aria-label={t("users.completeProfileOf", { name: u.name })}>
                      {t("users.completeProfile")}
                    </button>
                  )}
                  <button type="button" onClick={() => setChanging(u)} aria-label={t("users.changeRoleOf", { name: u.name })}>
                    {t("users.changeRole")}
                  </button>
                  <button type="button" onClick={() => void patch(u, { disabled: !u.disabled })}>
                    {u.disabled ? t("users.enable") : t("users.disable")}
                  </button>
                  {u.mfa_enabled && (
                    <button type="button" onClick={() => void patch(u, { reset_mfa: true }, t("users.resetDone", { name: u.name }))}>
                      {t("users.resetMFA")}
                    </button>
                  )}
                </div>
              )}
            </li>
          ))}
        </ul>
      </section>
      <section className="card" aria-labelledby="users-create">
        <h2 id="users-create" className="h2">{t("users.create")}</h2>
        <form className="stack" onSubmit={create} noValidate>
          {input("name", t("register.name"), { autoComplete: "off" })}
          {input("email", t("login.email"), { type: "email", autoComplete: "off" })}
          {input("password", t("register.password"), { type: "password", autoComplete: "new-password" })}
          <Field id="new-role" label={t("users.role")} error={errors.role}>
            <select id="new-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value })}>
              {roles.map((r) => <option key={r} value={r}>{t(`role.${r}` as MessageKey)}</option>)}
            </select>
          </Field>
          {form.role === "doctor" && (
            <DoctorProfileFields idPrefix="new" value={form} clinicZone={clinicZone} errors={errors} onChange={(d) => setForm({ ...form, ...d })} />
          )}
          <button type="submit" className="primary" disabled={busy}>{t("users.createSubmit")}</button>
        </form>
      </section>
      {completing && (
        <CompleteDoctorDialog
          user={completing}
          clinicZone={clinicZone}
          onClose={() => setCompleting(null)}
          onDone={() => {
            setCompleting(null);
            setErrors({});
            setStatus(t("users.completed", { name: completing.name }));
            void queries.invalidateQueries({ queryKey: ["users"] });
            void queries.invalidateQueries({ queryKey: ["doctors"] });
          }}
        />
      )}
      {changing && (
        <RoleDialog
          user={changing}
          clinicZone={clinicZone}
          onClose={() => setChanging(null)}
          onChanged={(u) => {
            setChanging(null);
            setErrors({});
            setStatus(t("users.roleChanged", { name: u.name, role: t(`role.${u.role}` as MessageKey) }));
            void queries.invalidateQueries({ queryKey: ["users"] });
          }}
        />
      )}
    </div>
  );
}

/**
 * RoleDialog changes an account's role once the admin confirms; the
 * account's sessions end, so the new role applies from its next sign-in.
 */
function RoleDialog({ user, clinicZone, onClose, onChanged }: { user: User; clinicZone: string; onClose: () => void; onChanged: (u: User) => void }) {
  const { client } = useSession();
  const [role, setRole] = useState<Role>(user.role);
  const [doctor, setDoctor] = useState<DoctorFields>({ specialization: "", time_zone: "" });
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<"specialization" | "time_zone", string>>>({});
  const [busy, setBusy] = useState(false);
  // An account that becomes a doctor needs a doctor profile to be booked;
  // one that was a doctor before keeps the profile it has.
  const becomesDoctor = role === "doctor" && user.role !== "doctor";

  async function confirm(ev: FormEvent) {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    setFieldErrors({});
    try {
      onChanged(await client.request<User>(...op("PATCH /api/v1/users/{id}", { id: user.id }), becomesDoctor ? { role, ...doctorBody(doctor, clinicZone) } : { role }));
    } catch (err) {
      const placed = errorsFor(err, ["specialization", "time_zone"] as const);
      setFieldErrors(placed);
      setError(placed.form ?? null);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("users.roleTitle", { name: user.name })} onClose={onClose}>
      <form className="stack-form" onSubmit={confirm}>
        <p>{t("users.roleNow", { role: t(`role.${user.role}` as MessageKey) })}</p>
        <Field id="change-role" label={t("users.newRole")}>
          <select id="change-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {t(`role.${r}` as MessageKey)}
              </option>
            ))}
          </select>
        </Field>
        {becomesDoctor && <DoctorProfileFields idPrefix="change" value={doctor} clinicZone={clinicZone} errors={fieldErrors} onChange={setDoctor} />}
        {role !== user.role && <p className="notice">{t("users.roleEffect", { name: user.name, role: t(`role.${role}` as MessageKey) })}</p>}
        {error && (
          <p className="error-banner" role="alert">
            {error}
          </p>
        )}
        <div className="form-actions">
          <button type="button" onClick={onClose}>
            {t("users.roleCancel")}
          </button>
          <button type="submit" className="primary" disabled={busy || role === user.role}>
            {t("users.roleConfirm")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/**
 * CompleteDoctorDialog gives a doctor account made without a doctor profile
 * the profile it lacks (POST /api/v1/doctors with its e-mail), so patients
 * can book it.
 */
function CompleteDoctorDialog({ user, clinicZone, onClose, onDone }: { user: User; clinicZone: string; onClose: () => void; onDone: () => void }) {
  const { client } = useSession();
  const [doctor, setDoctor] = useState<DoctorFields>({ specialization: "", time_zone: "" });
  const [errors, setErrors] = useState<Partial<Record<"specialization" | "time_zone" | "form", string>>>({});
  const [busy, setBusy] = useState(false);

  async function save(ev: FormEvent) {
    ev.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      await client.request(...op("POST /api/v1/doctors"), { email: user.email, name: user.name, ...doctorBody(doctor, clinicZone) });
      onDone();
    } catch (err) {
      setErrors(errorsFor(err, ["specialization", "time_zone"] as const));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={t("users.completeTitle", { name: user.name })} onClose={onClose}>
      <form className="stack-form" onSubmit={save} noValidate>
        <DoctorProfileFields idPrefix="complete" value={doctor} clinicZone={clinicZone} errors={errors} onChange={setDoctor} />
        {errors.form && (
          <p className="error-banner" role="alert">
            {errors.form}
          </p>
        )}
        <div className="form-actions">
          <button type="button" onClick={onClose}>
            {t("users.roleCancel")}
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {t("users.completeSave")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
