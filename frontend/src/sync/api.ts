// Sync with an upstream server, as the UI reads it: this installation's
// state (GET /api/v1/sync/status), the bookings that lost a race
// (conflicts), and, on an upstream, the installations enrolled with it.
import { useQuery } from "@tanstack/react-query";
import type { Client } from "../api/client";
import { op } from "../api/operations";
import type * as S from "../api/schema";
import { useSession } from "../auth/session";
import { formatDateTime, formatTime } from "../time";

export type SyncState = "not_enrolled" | "ok" | "offline" | "revoked" | "error";
export type SyncStatus = Omit<S.Status, "state"> & { state: SyncState };
export type SyncConflict = S.SyncConflict;
export type SyncNode = S.SyncNode;
export type Enrollment = S.Enrollment;
export type EnrollOptions = S.EnrollOptions;

/** The query keys: a live event or an action refreshes them by the "sync" prefix. */
export const statusKey = ["sync", "status"];
export const conflictsKey = ["sync", "conflicts"];
export const nodesKey = ["sync", "nodes"];

export const syncStatus = (c: Client) => c.request<SyncStatus>(...op("GET /api/v1/sync/status"));
export const runSync = (c: Client) => c.request<SyncStatus>(...op("POST /api/v1/sync/run"));
export const enrol = (c: Client, body: EnrollOptions) => c.request<SyncStatus>(...op("POST /api/v1/sync/upstream"), body);
export const listConflicts = (c: Client) => c.request<{ conflicts: SyncConflict[] }>(...op("GET /api/v1/sync/conflicts")).then((r) => r.conflicts);
export const resolveConflict = (c: Client, id: string) => c.request<SyncConflict>(...op("POST /api/v1/sync/conflicts/{id}/resolve", { id }));
export const listNodes = (c: Client) => c.request<{ nodes: SyncNode[] }>(...op("GET /api/v1/sync/nodes")).then((r) => r.nodes);
export const makeEnrollment = (c: Client, name: string) => c.request<Enrollment>(...op("POST /api/v1/sync/enrollments"), { name, doctor_ids: [] });
export const revokeNode = (c: Client, id: string) => c.request<SyncNode>(...op("POST /api/v1/sync/nodes/{id}/revoke", { id }));

/** Shown is the state as the front desk reads it: "sending" is ok with changes still on their way. */
export type ShownState = "ok" | "sending" | "offline" | "revoked" | "error";

export function shownState(st: Pick<SyncStatus, "state" | "queued">): ShownState {
  switch (st.state) {
    case "offline":
    case "revoked":
    case "error":
      return st.state;
    default:
      return st.queued > 0 ? "sending" : "ok";
  }
}

/** isSet tells a time the server sent from Go's zero time (0001-01-01), which means "never". */
export const isSet = (iso: string | undefined | null): iso is string => !!iso && !iso.startsWith("0001-") && !Number.isNaN(new Date(iso).getTime());

/** briefly is a recent time as the top bar shows it: the clock today, the day and clock before. */
export function briefly(iso: string, now = new Date()): string {
  const at = new Date(iso);
  return at.toDateString() === now.toDateString() ? formatTime(at) : formatDateTime(at);
}

/** The roles that see this installation's sync; patients never do (the API refuses them). */
const watchers = new Set(["staff", "doctor", "admin"]);

/** hurried: changes wait to be confirmed, or the main server is unreachable; the front desk wants to know soon when that ends. */
const hurried = (st: SyncStatus | undefined) => !!st?.enrolled && (st.queued > 0 || st.state === "offline" || st.state === "error");

/**
 * useSyncStatus is this installation's sync state for the signed-in user,
 * refreshed every 30 s, and every 5 s while changes wait or the main
 * server cannot be reached (live events refresh it too). It does not ask
 * for patients.
 */
export function useSyncStatus() {
  const { client, user } = useSession();
  return useQuery({
    queryKey: statusKey,
    enabled: !!user && watchers.has(user.role),
    queryFn: () => syncStatus(client),
    refetchInterval: (q) => (hurried(q.state.data) ? 5_000 : 30_000),
    retry: false,
  });
}
