import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { op } from "../api/operations";
import type { Role, User } from "../api/types";
import { useSession } from "../auth/session";
import { errorsFor, Field, TextField, type InputProps } from "../components/Field";
import { LoadError } from "../components/LoadError";
import { t, type MessageKey } from "../i18n";
import { Dialog } from "./Dialog";

const roles: Role[] = ["patient", "doctor", "staff", "admin"];
type Key = "name" | "email" | "password" | "role";

/** UsersPage: the admin creates accounts, changes their role, disables them and resets two-factor authentication. */
export function UsersPage() {
  const { client, user: me } = useSession();
  const queries = useQueryClient();
  const [q, setQ] = useState("");
  const users = useQuery({
    queryKey: ["users", q],
    queryFn: () => client.request<{ users: User[] }>(...op("GET /api/v1/users", {}, new URLSearchParams(q.trim() ? { q: q.trim(), limit: "200" } : { limit: "200" }))).then((r) => r.users),
  });
  const [form, setForm] = useState<Record<Key, string>>({ name: "", email: "", password: "", role: "staff" });
  const [errors, setErrors] = useState<Partial<Record<Key | "form", string>>>({});
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [changing, setChanging] = useState<User | null>(null);

  async function create(ev: FormEvent) {
    ev.preventDefault();
    setBusy(true);
    setErrors({});
    setStatus(null);
    try {
      const u = await client.request<User>(...op("POST /api/v1/users"), { ...form, name: form.name.trim(), email: form.email.trim() });
      setStatus(t("users.created", { name: u.name }));
      setForm({ name: "", email: "", password: "", role: form.role });
      await queries.invalidateQueries({ queryKey: ["users"] });
    } catch (err) {
      setErrors(errorsFor(err, ["name", "email", "password", "role"] as const));
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
        {users.data?.length === 0 && <p className="muted">{t("users.none")}</p>}
        <ul className="appointment-list" aria-label={t("users.title")}>
          {users.data?.map((u) => (
            <li key={u.id} className="appointment user-row" data-email={u.email}>
              <div>
                <strong>{u.name}</strong> {u.id === me?.id && <span className="muted">{t("users.self")}</span>}
                <div className="muted">
                  {u.email} · {t(`role.${u.role}` as MessageKey)}
                  {u.mfa_enabled ? ` · ${t("users.mfaOn")}` : ""}
                  {u.disabled ? ` · ${t("users.disabled")}` : ""}
                </div>
              </div>
              {u.id !== me?.id && (
                <div className="actions">
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
          <button type="submit" className="primary" disabled={busy}>{t("users.createSubmit")}</button>
        </form>
      </section>
      {changing && (
        <RoleDialog
          user={changing}
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
function RoleDialog({ user, onClose, onChanged }: { user: User; onClose: () => void; onChanged: (u: User) => void }) {
  const { client } = useSession();
  const [role, setRole] = useState<Role>(user.role);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function confirm(ev: FormEvent) {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onChanged(await client.request<User>(...op("PATCH /api/v1/users/{id}", { id: user.id }), { role }));
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
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
