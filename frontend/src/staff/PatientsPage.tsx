import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { op } from "../api/operations";
import type { Patient } from "../api/types";
import { useSession } from "../auth/session";
import { errorsFor, TextField, type InputProps } from "../components/Field";
import { t } from "../i18n";
import { LoadError } from "../components/LoadError";
import { patientPath } from "./day";

type Key = "name" | "date_of_birth" | "phone" | "email" | "password";

/** PatientsPage: staff find and register patients, and book for them. */
export function PatientsPage() {
  const { client } = useSession();
  const queries = useQueryClient();
  const [q, setQ] = useState("");
  const patients = useQuery({
    queryKey: ["patients", q],
    queryFn: () => client.request<{ patients: Patient[] }>(...op("GET /api/v1/patients", {}, new URLSearchParams(q.trim() ? { q: q.trim(), limit: "100" } : { limit: "100" }))).then((r) => r.patients),
  });
  const empty = { name: "", date_of_birth: "", phone: "", email: "", password: "" };
  const [form, setForm] = useState<Record<Key, string>>(empty);
  const [errors, setErrors] = useState<Partial<Record<Key | "form", string>>>({});
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function register(ev: FormEvent) {
    ev.preventDefault();
    const e: Partial<Record<Key, string>> = {};
    if (!form.name.trim()) e.name = t("setup.nameRequired");
    if (!form.date_of_birth) e.date_of_birth = t("register.dobInvalid");
    if (form.password && form.password.length < 10) e.password = t("setup.passwordShort");
    setErrors(e);
    setStatus(null);
    if (Object.keys(e).length > 0) return;
    setBusy(true);
    try {
      const body: Record<string, string> = { name: form.name.trim(), date_of_birth: form.date_of_birth };
      for (const k of ["phone", "email", "password"] as const) if (form[k].trim()) body[k] = form[k].trim();
      const p = await client.request<Patient>(...op("POST /api/v1/patients"), body);
      setStatus(t("patients.registered", { name: p.name }));
      setForm(empty);
      await queries.invalidateQueries({ queryKey: ["patients"] });
    } catch (err) {
      setErrors(errorsFor(err, ["name", "date_of_birth", "phone", "email", "password"] as const));
    } finally {
      setBusy(false);
    }
  }

  const input = (k: Key, label: string, props: InputProps = {}) => (
    <TextField id={`patient-${k}`} label={label} error={errors[k]} value={form[k]} onValue={(v) => setForm({ ...form, [k]: v })} {...props} />
  );

  return (
    <div className="stack-wide">
      <section className="card" aria-labelledby="patients-title">
        <h1 id="patients-title">{t("patients.title")}</h1>
        {status && <p className="notice" role="status">{status}</p>}
        <label className="visually-hidden" htmlFor="patient-search">{t("patients.search")}</label>
        <input id="patient-search" type="search" placeholder={t("patients.search")} value={q} onChange={(e) => setQ(e.target.value)} />
        <LoadError error={patients.error} onRetry={() => patients.refetch()} />
        {patients.data?.length === 0 && <p className="muted">{t("patients.none")}</p>}
        <ul className="appointment-list" aria-label={t("patients.title")}>
          {patients.data?.map((p) => (
            <li key={p.id} className="appointment">
              <div>
                <strong><Link to={patientPath(p.id)}>{p.name}</Link></strong>
                <div className="muted">{[p.date_of_birth, p.phone, p.email].filter(Boolean).join(" · ")}</div>
              </div>
              <Link className="button" to={`/book?patient=${encodeURIComponent(p.id)}`}>{t("patients.book", { name: p.name })}</Link>
            </li>
          ))}
        </ul>
      </section>
      <section className="card" aria-labelledby="patients-register">
        <h2 id="patients-register" className="h2">{t("patients.register")}</h2>
        <form className="stack" onSubmit={register} noValidate>
          {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
          {input("name", t("register.name"), { autoComplete: "off" })}
          {input("date_of_birth", t("register.dob"), { type: "date" })}
          {input("phone", t("patients.phone"), { type: "tel", autoComplete: "off" })}
          {input("email", t("patients.emailOptional"), { type: "email", autoComplete: "off" })}
          {input("password", t("patients.passwordOptional"), { type: "password", autoComplete: "new-password" })}
          <button type="submit" className="primary" disabled={busy}>{t("patients.register")}</button>
        </form>
      </section>
    </div>
  );
}
