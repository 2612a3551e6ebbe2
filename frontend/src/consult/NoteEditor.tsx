import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { useSession } from "../auth/session";
import { Dialog } from "../admin/Dialog";
import { t, type MessageKey } from "../i18n";
import { formatDateTime } from "../time";
import { consultKey, draftNote, isSigned, noteParts, saveNote, signNote, type Consultation, type ConsultationView, type VisitNote } from "./api";

const partLabel = (p: keyof VisitNote) => t(`consult.note.${p}` as MessageKey);
const sameNote = (a: VisitNote, b: VisitNote) => noteParts.every((p) => a[p] === b[p]);

/** signedLine says who signed a note and when. */
export function signedLine(c: Consultation): string {
  const name = !c.signed_by || c.signed_by === c.doctor_user_id ? (c.doctor_name ?? "") : c.signed_by;
  return t("consult.signedBy", { name, time: c.signed_at ? formatDateTime(c.signed_at) : "" });
}

/** NoteParts shows a note's four parts, read-only. */
export function NoteParts({ note }: { note: VisitNote }) {
  return (
    <dl className="note-parts">
      {noteParts.map((p) => (
        <div key={p}>
          <dt>{partLabel(p)}</dt>
          <dd>{note[p] || "—"}</dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * NoteEditor is the visit note: drafted from the transcript or written by
 * hand, edited and saved with its version (a change made elsewhere in
 * between is refused, and the current note shown), and signed after a
 * confirmation, after which it is read-only. Only the consultation's doctor
 * (editable) changes it.
 */
export function NoteEditor({ consultation: c, editable }: { consultation: Consultation; editable: boolean }) {
  const { client } = useSession();
  const queries = useQueryClient();
  // What the doctor typed; null shows the server's note.
  const [typed, setTyped] = useState<VisitNote | null>(null);
  const [writing, setWriting] = useState(false);
  const [busy, setBusy] = useState<"draft" | "save" | "sign" | null>(null);
  const [asking, setAsking] = useState<"sign" | "redraft" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [unsaved, setUnsaved] = useState<VisitNote | null>(null);
  const note = typed ?? c.note;
  const dirty = typed !== null && !sameNote(typed, c.note);

  function keep(updated: Consultation) {
    queries.setQueryData<ConsultationView>(consultKey(c.id), (v) => (v ? { ...v, consultation: updated } : v));
    void queries.invalidateQueries({ queryKey: ["consultations", "patient", c.patient_id] });
    void queries.invalidateQueries({ queryKey: ["consultations", "appointment"] });
  }

  /** failed shows why; a conflict reloads the note and keeps the doctor's text to copy from. */
  async function failed(err: unknown, text: VisitNote | null) {
    if (err instanceof ApiError && err.status === 409) {
      setError(t("consult.conflict"));
      if (text && !sameNote(text, c.note)) setUnsaved(text);
      setTyped(null);
      await queries.invalidateQueries({ queryKey: consultKey(c.id), exact: true });
      return;
    }
    setError(err instanceof Error ? err.message : t("error.generic"));
  }

  async function draft() {
    setAsking(null);
    setBusy("draft");
    setError(null);
    setNotice(null);
    try {
      keep(await draftNote(client, c.id));
      setTyped(null);
      setUnsaved(null);
      setWriting(false);
    } catch (err) {
      await failed(err, null);
    } finally {
      setBusy(null);
    }
  }

  /** save stores the typed note, returning the consultation as stored (or null when refused). */
  async function save(): Promise<Consultation | null> {
    setError(null);
    setNotice(null);
    const text = note;
    try {
      const updated = await saveNote(client, c.id, text, c.note_version);
      keep(updated);
      setTyped(null);
      setUnsaved(null);
      return updated;
    } catch (err) {
      await failed(err, text);
      return null;
    }
  }

  async function submit(ev: FormEvent) {
    ev.preventDefault();
    setBusy("save");
    try {
      if (await save()) setNotice(t("consult.saved"));
    } finally {
      setBusy(null);
    }
  }

  async function sign() {
    setAsking(null);
    setBusy("sign");
    try {
      let current: Consultation | null = c;
      if (dirty || c.note_status === "none") current = await save();
      if (!current) return;
      keep(await signNote(client, c.id, current.note_version));
      setNotice(t("consult.signed"));
    } catch (err) {
      await failed(err, null);
    } finally {
      setBusy(null);
    }
  }

  const set = (p: keyof VisitNote, v: string) => setTyped({ ...note, [p]: v });
  const signed = isSigned(c);
  const editing = editable && !signed && (c.note_status === "draft" || writing);

  return (
    <section className="card consult-note" aria-labelledby="consult-note-title">
      <h2 id="consult-note-title" className="h2">
        {t("consult.note")}
      </h2>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {error && (
        <p className="error-banner" role="alert">
          {error}
        </p>
      )}
      {signed && (
        <>
          <p className="signed-line">{signedLine(c)}</p>
          <NoteParts note={c.note} />
        </>
      )}
      {!signed && !editing && (
        <>
          {c.note_status === "none" && <p className="muted">{t("consult.noNote")}</p>}
          {c.note_status === "draft" && <NoteParts note={c.note} />}
          {editable && (
            <div className="form-actions">
              <button type="button" className="primary" disabled={busy !== null} onClick={() => void draft()}>
                {busy === "draft" ? t("consult.drafting") : t("consult.draft")}
              </button>
              <button type="button" disabled={busy !== null} onClick={() => setWriting(true)}>
                {t("consult.write")}
              </button>
            </div>
          )}
        </>
      )}
      {editing && (
        <form className="note-form" onSubmit={submit} noValidate aria-labelledby="consult-note-title">
          {c.drafted_by && <p className="help">{t("consult.draftedBy", { by: c.drafted_by })}</p>}
          {noteParts.map((p) => (
            <div className="field" key={p}>
              <label htmlFor={`note-${p}`}>{partLabel(p)}</label>
              <textarea id={`note-${p}`} rows={p === "reason" ? 2 : 4} value={note[p]} onChange={(e) => set(p, e.target.value)} />
            </div>
          ))}
          <div className="form-actions">
            <button type="submit" disabled={busy !== null || (!dirty && c.note_status !== "none")}>
              {busy === "save" ? t("consult.saving") : t("consult.save")}
            </button>
            <button type="button" className="primary" disabled={busy !== null} onClick={() => setAsking("sign")}>
              {t("consult.sign")}
            </button>
            <button type="button" disabled={busy !== null} onClick={() => (c.note_status === "none" && !dirty ? void draft() : setAsking("redraft"))}>
              {busy === "draft" ? t("consult.drafting") : t("consult.redraft")}
            </button>
          </div>
        </form>
      )}
      {unsaved && (
        <details className="unsaved-note" open>
          <summary>{t("consult.notSaved")}</summary>
          <NoteParts note={unsaved} />
        </details>
      )}
      {asking && (
        <Dialog title={t(asking === "sign" ? "consult.signTitle" : "consult.redraftTitle")} onClose={() => setAsking(null)}>
          <p>{t(asking === "sign" ? "consult.signBody" : "consult.redraftBody")}</p>
          <div className="form-actions">
            <button type="button" onClick={() => setAsking(null)}>
              {t(asking === "sign" ? "consult.cancel" : "consult.keep")}
            </button>
            <button type="button" className="primary" onClick={() => void (asking === "sign" ? sign() : draft())}>
              {t(asking === "sign" ? "consult.signConfirm" : "consult.redraftConfirm")}
            </button>
          </div>
        </Dialog>
      )}
    </section>
  );
}
