// Rendering an admin page against a fake server, for the unit tests.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter } from "react-router-dom";
import { Client, type TokenStore } from "../api/client";
import { SessionProvider } from "../auth/session";

export const admin = { id: "admin-1", name: "Ada Admin", email: "ada@clinic.example", role: "admin", idle_timeout_minutes: 15, disabled: false, mfa_enabled: false };

/** Call is one request the page made. */
export interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

/** Answer is what the fake server replies: a JSON body, or a status with an error. */
export type Answer = { status?: number; body?: unknown } | undefined;

/**
 * renderAsAdmin renders ui signed in as an administrator; answer handles
 * every API call besides the session's own, and calls records them.
 */
export function renderAsAdmin(ui: ReactNode, answer: (c: Call) => Answer) {
  return renderAs(admin, ui, answer);
}

/** renderAs renders ui signed in as user, at path, against the fake server answer. */
export async function renderAs(user: typeof admin, ui: ReactNode, answer: (c: Call) => Answer, path = "/") {
  const calls: Call[] = [];
  const fetchFn = async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    const json = (status: number, body?: unknown) => new Response(body === undefined ? null : JSON.stringify(body), { status });
    if (url.pathname === "/api/v1/auth/refresh") {
      return json(200, { access_token: "a", refresh_token: "r", token_type: "Bearer", expires_in: 900, user });
    }
    if (url.pathname === "/api/v1/me") return json(200, user);
    const call = { method, path: url.pathname, query: url.searchParams, body: init?.body ? JSON.parse(String(init.body)) : undefined };
    calls.push(call);
    const a = answer(call);
    if (!a) return json(404, { error: { code: "not_found", message: `no fake for ${method} ${url.pathname}` } });
    return json(a.status ?? 200, a.body);
  };
  let refresh: string | null = "r";
  const tokens: TokenStore = { get: () => refresh, set: (v) => (refresh = v) };
  const client = new Client("http://clinic.test", tokens, fetchFn as typeof fetch);
  const queries = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={queries}>
      <MemoryRouter initialEntries={[path]}>
        <SessionProvider client={client}>{ui}</SessionProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  await screen.findByRole("heading", { level: 1 });
  return calls;
}

/** invalid is the server's answer to a value it refuses. */
export const invalid = (field: string, message: string): Answer => ({ status: 400, body: { error: { code: "invalid", message, field } } });
