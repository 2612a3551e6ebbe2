import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { op } from "../api/operations";
import type { ClinicalEntry, Notification, Patient } from "../api/types";
import { useSession } from "../auth/session";
import { t, type MessageKey } from "../i18n";
import { myPatient } from "./api";
import { ContactForm } from "./ContactForm";
import { LoadError } from "../components/LoadError";
import { VisitNotes } from "../consult/VisitNotes";

const kinds: { kind: string; title: MessageKey }[] = [
  { kind: "condition", title: "record.conditions" },
  { kind: "allergy", title: "record.allergies" },
  { kind: "medication", title: "record.medications" },
];

/** RecordPage: the patient's profile, history, allergies and medications, and their notifications. */
export function RecordPage() {
  const { client } = useSession();
  const queries = useQueryClient();
  const patient = useQuery({ queryKey: ["me", "patient"], queryFn: () => myPatient(client) });
  const entries = useQuery({
    queryKey: ["entries", patient.data?.id],
    enabled: !!patient.data,
    queryFn: () => client.request<{ entries: ClinicalEntry[] }>(...op("GET /api/v1/patients/{id}/entries", { id: patient.data!.id })).then((r) => r.entries),
  });
  const notes = useQuery({
    queryKey: ["notifications"],
    queryFn: () => client.request<{ notifications: Notification[] }>(...op("GET /api/v1/notifications")).then((r) => r.notifications),
  });

  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState(false);

  function onSaved(p: Patient) {
    queries.setQueryData(["me", "patient"], p);
    setEditing(false);
    setSaved(true);
  }

  async function markRead(n: Notification) {
    await client.request(...op("POST /api/v1/notifications/{id}/read", { id: n.id }));
    await queries.invalidateQueries({ queryKey: ["notifications"] });
  }

  const error = patient.error ?? entries.error;
  const p = patient.data;
  return (
    <div className="stack-wide">
      <section className="card" aria-labelledby="record-title">
        <h1 id="record-title">{t("record.title")}</h1>
        <LoadError error={error} onRetry={() => Promise.all([patient.refetch(), entries.refetch()])} />
        {saved && <p className="notice" role="status">{t("contact.saved")}</p>}
        {p && editing && (
          <>
            <h2 className="h3">{t("contact.title")}</h2>
            <ContactForm patient={p} onSaved={onSaved} onCancel={() => setEditing(false)} />
          </>
        )}
        {p && !editing && (
          <>
            <div className="chat-head">
              <h2 className="h3">{t("record.profile")}</h2>
              <button type="button" onClick={() => { setEditing(true); setSaved(false); }}>{t("contact.edit")}</button>
            </div>
            <dl className="facts">
              <dt>{t("register.name")}</dt>
              <dd>{p.name}</dd>
              <dt>{t("record.dob")}</dt>
              <dd>{p.date_of_birth || "—"}</dd>
              <dt>{t("record.phone")}</dt>
              <dd>{p.phone || "—"}</dd>
              <dt>{t("record.email")}</dt>
              <dd>{p.email || "—"}</dd>
              <dt>{t("record.address")}</dt>
              <dd>{[p.address?.line, [p.address?.postal_code, p.address?.city].filter(Boolean).join(" "), p.address?.country].filter(Boolean).join(", ") || "—"}</dd>
              <dt>{t("record.emergency")}</dt>
              <dd>
                {p.emergency_contacts?.length
                  ? p.emergency_contacts.map((c) => `${c.name}${c.relationship ? ` (${c.relationship})` : ""}, ${c.phone}`).join("; ")
                  : "—"}
              </dd>
              <dt>{t("record.insurance")}</dt>
              <dd>{p.insurance_provider || "—"}</dd>
            </dl>
          </>
        )}
        {kinds.map(({ kind, title }) => {
          const list = (entries.data ?? []).filter((e) => e.kind === kind);
          return (
            <div key={kind}>
              <h2 className="h3">{t(title)}</h2>
              {entries.data && list.length === 0 && <p className="muted">{t("record.noneRecorded")}</p>}
              <ul className="entries">
                {list.map((e) => (
                  <li key={e.id}>
                    <strong>{e.description}</strong>
                    {e.detail ? ` — ${e.detail}` : ""}
                    <span className="muted">
                      {e.onset_date ? ` · ${t("record.since", { date: e.onset_date })}` : ""}
                      {e.end_date ? ` · ${t("record.until", { date: e.end_date })}` : ""}
                      {e.status ? ` · ${e.status}` : ""}
                    </span>
                  </li>
                ))}
              </ul>
            </div>
          );
        })}
        <p className="muted">{t("record.askClinic")}</p>
      </section>
      {p && <VisitNotes patientID={p.id} />}
      <section className="card" aria-labelledby="notifications-title">
        <h2 id="notifications-title" className="h2">{t("notifications.title")}</h2>
        {notes.data?.length === 0 && <p className="muted">{t("notifications.none")}</p>}
        <ul className="appointment-list">
          {notes.data?.map((n) => (
            <li key={n.id} className={n.read_at ? "appointment" : "appointment unread"}>
              <div>
                <strong>{n.subject}</strong>
                <div className="muted">{new Date(n.created_at).toLocaleString()}</div>
                <p>{n.body}</p>
              </div>
              {!n.read_at && <button type="button" onClick={() => void markRead(n)}>{t("notifications.markRead")}</button>}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
