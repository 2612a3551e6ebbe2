import { op } from "../api/operations";
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { useSession } from "../auth/session";
import { errorsFor, TextField, type InputProps } from "../components/Field";
import { t } from "../i18n";

type Key = "name" | "email" | "date_of_birth" | "password";

/** RegisterPage lets a patient create an account (when the clinic allows it), then signs them in. */
export function RegisterPage() {
  const { client, login } = useSession();
  const [form, setForm] = useState<Record<Key, string>>({ name: "", email: "", date_of_birth: "", password: "" });
  const [errors, setErrors] = useState<Partial<Record<Key | "form", string>>>({});
  const [busy, setBusy] = useState(false);
  const set = (k: Key, v: string) => setForm((f) => ({ ...f, [k]: v }));

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const e: Partial<Record<Key, string>> = {};
    if (!form.name.trim()) e.name = t("setup.nameRequired");
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(form.email.trim())) e.email = t("login.emailInvalid");
    if (!form.date_of_birth) e.date_of_birth = t("register.dobInvalid");
    if (form.password.length < 10) e.password = t("setup.passwordShort");
    setErrors(e);
    if (Object.keys(e).length > 0) return;
    setBusy(true);
    try {
      const email = form.email.trim();
      await client.request(...op("POST /api/v1/auth/register"), { email, password: form.password, name: form.name.trim(), date_of_birth: form.date_of_birth });
      await login({ email, password: form.password });
    } catch (err) {
      setErrors(errorsFor(err, ["name", "email", "date_of_birth", "password"] as const));
    } finally {
      setBusy(false);
    }
  }

  const input = (k: Key, label: string, props: InputProps) => (
    <TextField id={k} label={label} error={errors[k]} value={form[k]} onValue={(v) => set(k, v)} {...props} />
  );
  return (
    <main className="login" id="main">
      <form className="card login-card" onSubmit={submit} noValidate aria-labelledby="register-title">
        <h1 id="register-title">{t("register.title")}</h1>
        {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
        {input("name", t("register.name"), { autoComplete: "name", autoFocus: true })}
        {input("email", t("login.email"), { type: "email", autoComplete: "email" })}
        {input("date_of_birth", t("register.dob"), { type: "date", autoComplete: "bday" })}
        {input("password", t("register.password"), { type: "password", autoComplete: "new-password" })}
        <button type="submit" className="primary" disabled={busy}>{busy ? t("register.busy") : t("register.submit")}</button>
        <Link to="/login">{t("register.haveAccount")}</Link>
      </form>
    </main>
  );
}
