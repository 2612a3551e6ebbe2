import type { Client } from "../api/client";
import { op } from "../api/operations";
import type * as S from "../api/schema";
import type { Role } from "../api/types";

export type ProviderKind = "openai" | "bedrock" | "offline";
export type LLMModel = Omit<S.LLMModel, "roles"> & { roles: Role[] };
export type LLMProvider = Omit<S.LLMProvider, "kind" | "models"> & { kind: ProviderKind; models: LLMModel[] };
export type ProviderInput = Omit<S.ProviderInput, "kind" | "models"> & { kind: ProviderKind; models: LLMModel[] };
export type Usage = S.Usage;
export type AppointmentStats = S.AppointmentStats & { no_show_rate?: number | null };
export type AppointmentDay = S.AppointmentDay;
/** A model the signed-in user may use (GET /api/v1/ai/models). */
export type UsableModel = S.Model;

/** AssistantLimits is GET /api/v1/ai/settings: each user's rate limit and daily tokens, and how long deleted conversations are kept. */
export type AssistantLimits = S.AssistantSettings;

export const providerKinds: ProviderKind[] = ["openai", "bedrock", "offline"];

/**
 * builtIn tells a provider the server supplies itself (offline mode, or
 * the one its environment configures) from a saved one: built-ins are
 * never stored, so they cannot be changed or removed, only replaced.
 */
export const builtIn = (p: LLMProvider) => p.created_at.startsWith("0001-");

export const listProviders = (c: Client) => c.request<{ providers: LLMProvider[] }>(...op("GET /api/v1/ai/providers")).then((r) => r.providers);

export const saveProvider = (c: Client, id: string | null, body: ProviderInput) =>
  id === null
    ? c.request<LLMProvider>(...op("POST /api/v1/ai/providers"), body)
    : c.request<LLMProvider>(...op("PUT /api/v1/ai/providers/{id}", { id }), body);

export const deleteProvider = (c: Client, id: string) => c.request<void>(...op("DELETE /api/v1/ai/providers/{id}", { id }));

export const myModels = (c: Client) => c.request<{ models: UsableModel[] }>(...op("GET /api/v1/ai/models")).then((r) => r.models);

export const getLimits = (c: Client) => c.request<AssistantLimits>(...op("GET /api/v1/ai/settings"));

export const saveLimits = (c: Client, body: Partial<AssistantLimits>) => c.request<AssistantLimits>(...op("PATCH /api/v1/ai/settings"), body);

export const usageBetween = (c: Client, from: string, to: string) =>
  c.request<{ usage: Usage[] }>(...op("GET /api/v1/ai/usage", {}, new URLSearchParams({ from, to }))).then((r) => r.usage);

export const appointmentStats = (c: Client, from: string, to: string, timeZone: string) =>
  c.request<AppointmentStats>(...op("GET /api/v1/analytics/appointments", {}, new URLSearchParams({ from, to, time_zone: timeZone })));
