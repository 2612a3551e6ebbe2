import { op } from "../api/operations";
import { useEffect, useState, type FormEvent } from "react";
import { Navigate, useSearchParams } from "react-router-dom";
import { useSession } from "../auth/session";
import { t } from "../i18n";
import { errorsFor, Field } from "../components/Field";

type Errors = Partial<Record<"name" | "email" | "password" | "confirm" | "form", string>>;

/** SetupPage creates the first administrator with the one-time token the server printed, then signs them in. */
export function SetupPage() {
  const { client, login, user } = useSession();
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const [needed, setNeeded] = useState<boolean | null>(null);
  const [form, setForm] = useState({ name: "", email: "", password: "", confirm: "" });
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    client
      .request<{ needed: boolean }>(...op("GET /api/v1/setup"))
      .then((s) => setNeeded(s.needed))
      .catch(() => setNeeded(true));
  }, [client]);

  if (user) return <Navigate to="/" replace />;

  function set(key: keyof typeof form, value: string) {
    setForm((f) => ({ ...f, [key]: value }));
  }

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const e: Errors = {};
    if (!form.name.trim()) e.name = t("setup.nameRequired");
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(form.email.trim())) e.email = t("login.emailInvalid");
    if (form.password.length < 10) e.password = t("setup.passwordShort");
    else if (form.password !== form.confirm) e.confirm = t("setup.mismatch");
    setErrors(e);
    if (Object.keys(e).length > 0) return;
    setBusy(true);
    try {
      await client.request(...op("POST /api/v1/setup"), { token, email: form.email.trim(), name: form.name.trim(), password: form.password });
      await login({ email: form.email.trim(), password: form.password });
    } catch (err) {
      setErrors(errorsFor(err, ["name", "email", "password"] as const));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login" id="main">
      <form className="card login-card" onSubmit={submit} noValidate aria-labelledby="setup-title">
        <h1 id="setup-title">{t("setup.title")}</h1>
        {needed === false ? (
          <p className="notice" role="status">{t("setup.done")}</p>
        ) : !token ? (
          <p className="error-banner" role="alert">{t("setup.noToken")}</p>
        ) : (
          <>
            <p>{t("setup.intro")}</p>
            {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
            <Field id="name" label={t("setup.name")} error={errors.name}>
              <input id="name" autoComplete="name" value={form.name} onChange={(e) => set("name", e.target.value)} aria-invalid={!!errors.name}
                aria-describedby={errors.name ? "name-error" : undefined} autoFocus />
            </Field>
            <Field id="email" label={t("login.email")} error={errors.email}>
              <input id="email" type="email" autoComplete="username" value={form.email} onChange={(e) => set("email", e.target.value)}
                aria-invalid={!!errors.email} aria-describedby={errors.email ? "email-error" : undefined} />
            </Field>
            <Field id="password" label={t("setup.password")} error={errors.password}>
              <input id="password" type="password" autoComplete="new-password" value={form.password} onChange={(e) => set("password", e.target.value)}
                aria-invalid={!!errors.password} aria-describedby={errors.password ? "password-error" : undefined} />
            </Field>
            <Field id="confirm" label={t("setup.confirm")} error={errors.confirm}>
              <input id="confirm" type="password" autoComplete="new-password" value={form.confirm} onChange={(e) => set("confirm", e.target.value)}
                aria-invalid={!!errors.confirm} aria-describedby={errors.confirm ? "confirm-error" : undefined} />
            </Field>
            <button type="submit" className="primary" disabled={busy}>
              {busy ? t("setup.busy") : t("setup.submit")}
            </button>
          </>
        )}
      </form>
    </main>
  );
}
