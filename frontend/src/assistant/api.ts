import { op } from "../api/operations";
import type { Client } from "../api/client";
import { readEvents } from "../api/sse";
import type { Citation, ConversationList, ConversationView } from "../api/types";

/** listConversations returns a page of the caller's conversations, newest first; before is the previous page's next. */
export function listConversations(c: Client, q: string, before = ""): Promise<ConversationList> {
  const params = new URLSearchParams({ limit: "50" });
  if (q.trim()) params.set("q", q.trim());
  if (before) params.set("before", before);
  return c.request<ConversationList>(...op("GET /api/v1/conversations", {}, params));
}

export function getConversation(c: Client, id: string): Promise<ConversationView> {
  return c.request<ConversationView>(...op("GET /api/v1/conversations/{id}", { id }));
}

export function createConversation(c: Client): Promise<ConversationView> {
  return c.request<ConversationView>(...op("POST /api/v1/conversations"), {});
}

export function stopAnswer(c: Client, id: string): Promise<void> {
  return c.request<void>(...op("POST /api/v1/conversations/{id}/stop", { id }));
}

/** What the server tells while an answer is written. */
export type AnswerEvent =
  | { type: "start"; message_id: string; user_message_id: string }
  | { type: "notice"; text: string }
  | { type: "citations"; citations: Citation[] }
  | { type: "delta"; text: string }
  | { type: "done"; message_id: string; status: string }
  | { type: "error"; code: string; message: string };

/**
 * sendMessage posts a message and calls onEvent for each event of the
 * streamed answer, in order, until it is done or failed.
 */
export async function sendMessage(c: Client, id: string, content: string, onEvent: (e: AnswerEvent) => void, signal?: AbortSignal): Promise<void> {
  const res = await c.open(...op("POST /api/v1/conversations/{id}/messages", { id }), { content }, "text/event-stream", signal);
  if (!res.body) throw new Error("The answer could not be read.");
  for await (const ev of readEvents(res.body)) {
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(ev.data) as Record<string, unknown>;
    } catch {
      continue;
    }
    onEvent({ ...data, type: ev.event } as AnswerEvent);
  }
}

/** exportConversation downloads a conversation as Markdown or JSON. */
export async function exportConversation(c: Client, id: string, format: "markdown" | "json"): Promise<Blob> {
  const res = await c.open(...op("GET /api/v1/conversations/{id}/export", { id }, new URLSearchParams({ format })), undefined, "*/*");
  return res.blob();
}
