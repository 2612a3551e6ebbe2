import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { ApiError } from "../api/client";
import { useSession } from "../auth/session";
import { t } from "../i18n";
import { errorsFor, Field } from "../components/Field";

type Errors = Partial<Record<"email" | "password" | "totp_code" | "form", string>>;

const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** LoginPage signs a user in, with a second step for the authenticator code when the account has one. */
export function LoginPage() {
  const { login, idleSignedOut } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [needCode, setNeedCode] = useState(false);
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);

  function validate(): Errors {
    const e: Errors = {};
    if (!email.trim()) e.email = t("login.emailRequired");
    else if (!emailPattern.test(email.trim())) e.email = t("login.emailInvalid");
    if (!password) e.password = t("login.passwordRequired");
    if (needCode && !/^\d{6}$/.test(code.trim())) e.totp_code = t("login.totpInvalid");
    return e;
  }

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    const found = validate();
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      await login({ email: email.trim(), password, ...(needCode ? { totp_code: code.trim() } : {}) });
    } catch (err) {
      if (err instanceof ApiError && err.field === "totp_code") {
        // The password was right; the account also needs its code.
        setErrors(needCode ? { totp_code: err.message } : {});
        setNeedCode(true);
      } else {
        setErrors(errorsFor(err, ["email", "password"] as const));
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login" id="main">
      <form className="card login-card" onSubmit={submit} noValidate aria-labelledby="login-title">
        <h1 id="login-title">{t("app.name")}</h1>
        <h2>{t("login.title")}</h2>
        {idleSignedOut && <p className="notice" role="status">{t("idle.signedOut")}</p>}
        {errors.form && (
          <p className="error-banner" role="alert">
            {errors.form}
          </p>
        )}
        {!needCode ? (
          <>
            <Field id="email" label={t("login.email")} error={errors.email}>
              <input id="email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)}
                aria-invalid={!!errors.email} aria-describedby={errors.email ? "email-error" : undefined} autoFocus />
            </Field>
            <Field id="password" label={t("login.password")} error={errors.password}>
              <input id="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)}
                aria-invalid={!!errors.password} aria-describedby={errors.password ? "password-error" : undefined} />
            </Field>
          </>
        ) : (
          <>
            <p>{t("login.totpHelp")}</p>
            <Field id="totp_code" label={t("login.totp")} error={errors.totp_code}>
              <input id="totp_code" inputMode="numeric" autoComplete="one-time-code" maxLength={6} value={code} onChange={(e) => setCode(e.target.value)}
                aria-invalid={!!errors.totp_code} aria-describedby={errors.totp_code ? "totp_code-error" : undefined} autoFocus />
            </Field>
          </>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? t("login.busy") : needCode ? t("login.verify") : t("login.submit")}
        </button>
        {!needCode && <Link to="/register">{t("register.link")}</Link>}
        {needCode && (
          <button type="button" className="link" onClick={() => { setNeedCode(false); setCode(""); setErrors({}); }}>
            {t("login.back")}
          </button>
        )}
      </form>
    </main>
  );
}
