import { useState, type FormEvent } from "react";
import { op } from "../api/operations";
import type { EmergencyContact, Patient, PatientInput } from "../api/types";
import { useSession } from "../auth/session";
import { errorsFor, TextField } from "../components/Field";
import { t } from "../i18n";

const maxContacts = 5;

/** contactFields lists the fields a form shows, named as the server names them in errors. */
export function contactFields(contacts: number): string[] {
  const out = ["phone", "email", "address.line", "address.postal_code", "address.city", "address.country"];
  for (let i = 0; i < contacts; i++) out.push(`emergency_contacts[${i}].name`, `emergency_contacts[${i}].phone`, `emergency_contacts[${i}].relationship`);
  return out;
}

/** contactPatch is what changed: only the fields a patient may change themselves. */
export function contactPatch(p: Patient, f: { phone: string; email: string; address: NonNullable<PatientInput["address"]>; contacts: EmergencyContact[] }): PatientInput {
  const out: PatientInput = {};
  if (f.phone.trim() !== (p.phone ?? "")) out.phone = f.phone.trim();
  if (f.email.trim() !== (p.email ?? "")) out.email = f.email.trim();
  const a = p.address ?? {};
  const addr = { line: f.address.line?.trim() ?? "", postal_code: f.address.postal_code?.trim() ?? "", city: f.address.city?.trim() ?? "", country: f.address.country?.trim() ?? "" };
  if (addr.line !== (a.line ?? "") || addr.postal_code !== (a.postal_code ?? "") || addr.city !== (a.city ?? "") || addr.country !== (a.country ?? "")) out.address = addr;
  const contacts = f.contacts
    .map((c) => ({ name: c.name.trim(), phone: c.phone.trim(), relationship: c.relationship?.trim() ?? "" }))
    .filter((c) => c.name || c.phone || c.relationship);
  const before = (p.emergency_contacts ?? []).map((c) => ({ name: c.name, phone: c.phone, relationship: c.relationship ?? "" }));
  if (JSON.stringify(contacts) !== JSON.stringify(before)) out.emergency_contacts = contacts;
  return out;
}

/** ContactForm: a patient keeps their phone, e-mail, address and emergency contacts up to date. */
export function ContactForm({ patient, onSaved, onCancel }: { patient: Patient; onSaved: (p: Patient) => void; onCancel: () => void }) {
  const { client } = useSession();
  const [phone, setPhone] = useState(patient.phone ?? "");
  const [email, setEmail] = useState(patient.email ?? "");
  const [address, setAddress] = useState({ line: "", postal_code: "", city: "", country: "", ...patient.address });
  const [contacts, setContacts] = useState<EmergencyContact[]>(
    patient.emergency_contacts?.length ? patient.emergency_contacts.map((c) => ({ ...c, relationship: c.relationship ?? "" })) : [{ name: "", phone: "", relationship: "" }],
  );
  const [errors, setErrors] = useState<Partial<Record<string, string>>>({});
  const [busy, setBusy] = useState(false);

  async function save(ev: FormEvent) {
    ev.preventDefault();
    setErrors({});
    const body = contactPatch(patient, { phone, email, address, contacts });
    if (Object.keys(body).length === 0) {
      onCancel();
      return;
    }
    setBusy(true);
    try {
      onSaved(await client.request<Patient>(...op("PATCH /api/v1/patients/{id}", { id: patient.id }), body));
    } catch (err) {
      setErrors(errorsFor(err, contactFields(contacts.length)));
    } finally {
      setBusy(false);
    }
  }

  const setContact = (i: number, patch: Partial<EmergencyContact>) => setContacts(contacts.map((c, j) => (j === i ? { ...c, ...patch } : c)));
  const addr = (k: keyof typeof address, label: string, autoComplete: string) => (
    <TextField id={`address-${k}`} label={label} error={errors[`address.${k}`]} value={address[k] ?? ""} onValue={(v) => setAddress({ ...address, [k]: v })} autoComplete={autoComplete} />
  );
  return (
    <form className="stack" onSubmit={save} noValidate aria-label={t("contact.title")}>
      {errors.form && <p className="error-banner" role="alert">{errors.form}</p>}
      <TextField id="contact-phone" label={t("record.phone")} error={errors.phone} value={phone} onValue={setPhone} type="tel" autoComplete="tel" />
      <TextField id="contact-email" label={t("record.email")} error={errors.email} value={email} onValue={setEmail} type="email" autoComplete="email" />
      <fieldset className="slots">
        <legend>{t("contact.address")}</legend>
        {addr("line", t("contact.street"), "street-address")}
        <div className="filters">
          {addr("postal_code", t("contact.postalCode"), "postal-code")}
          {addr("city", t("contact.city"), "address-level2")}
          {addr("country", t("contact.country"), "country-name")}
        </div>
      </fieldset>
      <fieldset className="slots">
        <legend>{t("contact.emergency")}</legend>
        {contacts.map((c, i) => (
          <div key={i} className="filters" role="group" aria-label={t("contact.emergencyN", { n: i + 1 })}>
            <TextField id={`ec-${i}-name`} label={t("contact.ecName", { n: i + 1 })} error={errors[`emergency_contacts[${i}].name`]} value={c.name} onValue={(v) => setContact(i, { name: v })} autoComplete="off" />
            <TextField id={`ec-${i}-phone`} label={t("contact.ecPhone", { n: i + 1 })} error={errors[`emergency_contacts[${i}].phone`]} value={c.phone} onValue={(v) => setContact(i, { phone: v })} type="tel" autoComplete="off" />
            <TextField id={`ec-${i}-relationship`} label={t("contact.ecRelationship", { n: i + 1 })} error={errors[`emergency_contacts[${i}].relationship`]} value={c.relationship ?? ""} onValue={(v) => setContact(i, { relationship: v })} autoComplete="off" />
            <button type="button" className="link" onClick={() => setContacts(contacts.filter((_, j) => j !== i))}>{t("contact.ecRemove", { n: i + 1 })}</button>
          </div>
        ))}
        {contacts.length < maxContacts && (
          <button type="button" onClick={() => setContacts([...contacts, { name: "", phone: "", relationship: "" }])}>{t("contact.ecAdd")}</button>
        )}
      </fieldset>
      <p className="muted">{t("contact.frontDesk")}</p>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>{t("contact.save")}</button>
        <button type="button" onClick={onCancel}>{t("contact.cancel")}</button>
      </div>
    </form>
  );
}
