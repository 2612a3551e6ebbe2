import { useQuery, useQueryClient } from "@tanstack/react-query";
import { op } from "../api/operations";
import type { ClinicalEntry, Notification } from "../api/types";
import { useSession } from "../auth/session";
import { t, type MessageKey } from "../i18n";
import { myPatient } from "./api";

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
        {error && (
          <div className="error-banner" role="alert">
            <p>{error.message}</p>
            <button type="button" onClick={() => void Promise.all([patient.refetch(), entries.refetch()])}>{t("error.retry")}</button>
          </div>
        )}
        {p && (
          <>
            <h2 className="h3">{t("record.profile")}</h2>
            <dl className="facts">
              <dt>{t("register.name")}</dt>
              <dd>{p.name}</dd>
              <dt>{t("record.dob")}</dt>
              <dd>{p.date_of_birth || "—"}</dd>
              <dt>{t("record.phone")}</dt>
              <dd>{p.phone || "—"}</dd>
              <dt>{t("record.email")}</dt>
              <dd>{p.email || "—"}</dd>
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
