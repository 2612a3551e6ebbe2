import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { memo, useCallback, useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError } from "../api/client";
import type { Citation, Message } from "../api/types";
import { useSession } from "../auth/session";
import { t } from "../i18n";
import { createConversation, exportConversation, getConversation, listConversations, sendMessage, stopAnswer, type AnswerEvent } from "./api";
import { Markdown } from "./Markdown";

/** The answer being written: only this part of the page changes per delta. */
interface Live {
  question: string;
  messageId?: string;
  text: string;
  notice?: string;
  citations: Citation[];
  error?: string;
  status: "streaming" | "complete" | "stopped" | "failed";
}

/** AssistantPage is the chat: conversations on one side, the open one on the other. */
export function AssistantPage() {
  const { client } = useSession();
  const { id } = useParams();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const [q, setQ] = useState("");
  const list = useInfiniteQuery({
    queryKey: ["conversations", q],
    queryFn: ({ pageParam }) => listConversations(client, q, pageParam),
    initialPageParam: "",
    getNextPageParam: (last) => last.next || undefined,
  });
  const conversations = list.data?.pages.flatMap((p) => p.conversations) ?? [];
  const [creating, setCreating] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function newChat() {
    setCreating(true);
    setError(null);
    try {
      const c = await createConversation(client);
      await queries.invalidateQueries({ queryKey: ["conversations"] });
      navigate(`/assistant/${c.id}`);
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    } finally {
      setCreating(false);
    }
  }

  return (
    <div className="assistant-page">
      <aside className="card conversations" aria-labelledby="conversations-title">
        <h1 id="conversations-title" className="h2">
          {t("assistant.conversations")}
        </h1>
        <button type="button" className="primary" onClick={newChat} disabled={creating}>
          {t("assistant.new")}
        </button>
        <label className="visually-hidden" htmlFor="conversation-search">
          {t("assistant.search")}
        </label>
        <input id="conversation-search" type="search" placeholder={t("assistant.search")} value={q} onChange={(e) => setQ(e.target.value)} />
        {error && <p className="error-banner" role="alert">{error}</p>}
        {list.isError && <Retry message={list.error.message} onRetry={() => list.refetch()} />}
        <ul className="conversation-list">
          {conversations.map((c) => (
            <li key={c.id}>
              <Link to={`/assistant/${c.id}`} aria-current={c.id === id ? "page" : undefined}>
                {c.title || t("assistant.untitled")}
              </Link>
            </li>
          ))}
        </ul>
        {list.data && conversations.length === 0 && <p className="muted">{q ? t("assistant.noMatch") : t("assistant.empty")}</p>}
        {list.hasNextPage && (
          <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
            {t("assistant.older")}
          </button>
        )}
      </aside>
      <section className="card chat" aria-label={t("assistant.nav")}>
        {id ? <Chat key={id} id={id} /> : <p className="muted">{t("assistant.start")}</p>}
      </section>
    </div>
  );
}

function Retry({ message, onRetry }: { message: string; onRetry: () => void }) {
  return (
    <div className="error-banner" role="alert">
      <p>{message}</p>
      <button type="button" onClick={onRetry}>
        {t("error.retry")}
      </button>
    </div>
  );
}

function Chat({ id }: { id: string }) {
  const { client } = useSession();
  const queries = useQueryClient();
  const conv = useQuery({ queryKey: ["conversation", id], queryFn: () => getConversation(client, id) });
  const [live, setLive] = useState<Live | null>(null);
  const [draft, setDraft] = useState("");
  const [open, setOpen] = useState<Citation | null>(null);
  const buffer = useRef<Live | null>(null);
  const frame = useRef(0);
  const end = useRef<HTMLDivElement>(null);

  // Deltas land in a buffer; the page paints it at most once a frame.
  const paint = useCallback(() => {
    frame.current = 0;
    setLive(buffer.current ? { ...buffer.current } : null);
  }, []);
  const schedule = useCallback(() => {
    if (!frame.current) frame.current = requestAnimationFrame(paint);
  }, [paint]);
  useEffect(() => () => cancelAnimationFrame(frame.current), []);

  useEffect(() => {
    end.current?.scrollIntoView?.({ block: "end" });
  }, [live?.text, conv.data?.messages.length]);

  const ask = useCallback(
    async (question: string) => {
      buffer.current = { question, text: "", citations: [], status: "streaming" };
      paint();
      const apply = (e: AnswerEvent) => {
        const b = buffer.current!;
        switch (e.type) {
          case "start":
            b.messageId = e.message_id;
            break;
          case "notice":
            b.notice = e.text;
            paint(); // the emergency notice shows at once
            return;
          case "citations":
            b.citations = e.citations;
            break;
          case "delta":
            b.text += e.text;
            break;
          case "done":
            b.status = e.status === "stopped" ? "stopped" : e.status === "failed" ? "failed" : "complete";
            break;
          case "error":
            b.status = "failed";
            b.error = e.message;
            break;
        }
        schedule();
      };
      try {
        await sendMessage(client, id, question, apply);
      } catch (err) {
        buffer.current = { ...buffer.current!, status: "failed", error: err instanceof ApiError ? err.message : t("error.generic") };
      }
      if (buffer.current?.status === "streaming") buffer.current.status = "complete";
      paint();
      await queries.invalidateQueries({ queryKey: ["conversation", id] });
      await queries.invalidateQueries({ queryKey: ["conversations"] });
      // Once the server took the message, the saved messages hold the
      // answer however it ended; otherwise the error stays in view.
      if (buffer.current?.messageId) {
        buffer.current = null;
        setLive(null);
      }
    },
    [client, id, paint, schedule, queries],
  );

  function submit(ev?: FormEvent) {
    ev?.preventDefault();
    const text = draft.trim();
    if (!text || live?.status === "streaming") return;
    setDraft("");
    void ask(text);
  }

  function onKey(ev: KeyboardEvent<HTMLTextAreaElement>) {
    if (ev.key === "Enter" && !ev.shiftKey) submit(ev);
  }

  if (conv.isPending) return <p className="muted">…</p>;
  if (conv.isError) return <Retry message={conv.error.message} onRetry={() => conv.refetch()} />;
  const view = conv.data;
  const messages = view.messages;
  const lastQuestion = [...messages].reverse().find((m) => m.role === "user")?.content;
  const streaming = live?.status === "streaming";

  return (
    <>
      <header className="chat-head">
        <h1 className="h2">{view.title || t("assistant.untitled")}</h1>
        <ExportMenu id={id} />
      </header>
      <p className="disclaimer">{view.disclaimer}</p>
      <ol className="messages" aria-live="off">
        {messages.map((m) => (
          <SavedMessage key={m.id} m={m} onCite={setOpen} />
        ))}
        {live && !(live.messageId && messages.some((m) => m.id === live.messageId)) && (
          <>
            {!live.messageId || live.status === "streaming" ? (
              <li className="message user">
                <span className="who">{t("assistant.you")}</span>
                <p>{live.question}</p>
              </li>
            ) : null}
            <li className="message assistant" aria-busy={streaming}>
              <span className="who">{t("assistant.answer")}</span>
              {live.notice && <Notice text={live.notice} />}
              <Markdown text={live.text} onCite={(n) => setOpen(live.citations.find((c) => c.n === n) ?? null)} />
              {streaming && <p className="muted" role="status">{t("assistant.writing")}</p>}
              {live.status === "failed" && <p className="error-banner" role="alert">{live.error ?? t("assistant.failed")}</p>}
              <Sources citations={live.citations} onOpen={setOpen} />
            </li>
          </>
        )}
      </ol>
      <div ref={end} />
      <form className="composer" onSubmit={submit}>
        <label className="visually-hidden" htmlFor="message">
          {t("assistant.messageLabel")}
        </label>
        <textarea id="message" rows={3} placeholder={t("assistant.placeholder")} value={draft} onChange={(e) => setDraft(e.target.value)} onKeyDown={onKey} maxLength={8000} />
        <div className="composer-actions">
          {streaming ? (
            <button type="button" onClick={() => void stopAnswer(client, id)}>
              {t("assistant.stop")}
            </button>
          ) : (
            lastQuestion && (
              <button type="button" onClick={() => void ask(lastQuestion)}>
                {t("assistant.regenerate")}
              </button>
            )
          )}
          <button type="submit" className="primary" disabled={streaming || !draft.trim()}>
            {t("assistant.send")}
          </button>
        </div>
      </form>
      {open && <SourceDialog c={open} onClose={() => setOpen(null)} />}
    </>
  );
}

/** SavedMessage is memoized: a streaming answer does not re-render the history. */
const SavedMessage = memo(function SavedMessage({ m, onCite }: { m: Message; onCite: (c: Citation | null) => void }) {
  const [copied, setCopied] = useState(false);
  if (m.role === "user") {
    return (
      <li className="message user">
        <span className="who">{t("assistant.you")}</span>
        <p>{m.content}</p>
      </li>
    );
  }
  return (
    <li className="message assistant">
      <span className="who">{t("assistant.answer")}</span>
      {m.notice && <Notice text={m.notice} />}
      <Markdown text={m.content} onCite={(n) => onCite(m.citations.find((c) => c.n === n) ?? null)} />
      {m.status === "stopped" && <p className="muted">{t("assistant.stopped")}</p>}
      {m.status === "failed" && <p className="error-banner">{m.error ?? t("assistant.failed")}</p>}
      <Sources citations={m.citations} onOpen={onCite} />
      <button
        type="button"
        className="link"
        onClick={() => void navigator.clipboard?.writeText(m.content).then(() => setCopied(true))}
      >
        {copied ? t("assistant.copied") : t("assistant.copy")}
      </button>
    </li>
  );
});

function Notice({ text }: { text: string }) {
  return (
    <div className="emergency" role="alert">
      <strong>{t("assistant.emergency")}</strong>
      <p>{text}</p>
    </div>
  );
}

function Sources({ citations, onOpen }: { citations: Citation[]; onOpen: (c: Citation) => void }) {
  if (!citations?.length) return null;
  return (
    <div className="sources">
      <h2 className="h3">{t("assistant.sources")}</h2>
      <ol>
        {citations.map((c) => (
          <li key={c.n} value={c.n}>
            <button type="button" className="link" onClick={() => onOpen(c)}>
              {c.title}
              {c.heading ? ` — ${c.heading}` : ""}
            </button>
            <span className="muted"> {c.source}</span>
          </li>
        ))}
      </ol>
    </div>
  );
}

function SourceDialog({ c, onClose }: { c: Citation; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal?.();
  }, []);
  return (
    <dialog ref={ref} className="card source-dialog" aria-labelledby="source-title" onClose={onClose} onCancel={onClose}>
      <h2 id="source-title">
        {t("assistant.source", { n: c.n })}: {c.title}
      </h2>
      {c.heading && <p className="muted">{c.heading}</p>}
      <blockquote>
        <Markdown text={c.text} />
      </blockquote>
      <p className="muted">{c.source}</p>
      <button type="button" className="primary" onClick={onClose} autoFocus>
        {t("assistant.close")}
      </button>
    </dialog>
  );
}

function ExportMenu({ id }: { id: string }) {
  const { client } = useSession();
  const [error, setError] = useState<string | null>(null);
  async function save(format: "markdown" | "json") {
    setError(null);
    try {
      const blob = await exportConversation(client, id, format);
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `conversation-${id}.${format === "json" ? "json" : "md"}`;
      a.click();
      URL.revokeObjectURL(url);
    } catch (err) {
      setError(err instanceof Error ? err.message : t("error.generic"));
    }
  }
  return (
    <div className="export" role="group" aria-label={t("assistant.export")}>
      <span className="muted">{t("assistant.export")}:</span>
      <button type="button" onClick={() => void save("markdown")}>
        {t("assistant.exportMarkdown")}
      </button>
      <button type="button" onClick={() => void save("json")}>
        {t("assistant.exportJSON")}
      </button>
      {error && <span className="field-error" role="alert">{error}</span>}
    </div>
  );
}
