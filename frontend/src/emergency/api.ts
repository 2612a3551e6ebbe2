import { op } from "../api/operations";
import type { Client } from "../api/client";
import type * as S from "../api/schema";

export type EmergencyGrant = S.EmergencyGrant;
export type ReviewedGrant = S.ReviewedGrant;
export type EmergencyOptions = S.emergencyOptions;
export type GrantRequest = S.GrantRequest;
export type ReviewDecision = { decision: "justified" | "not_justified"; note: string };

/** emergencyKey is where the caller's grants on a patient are cached. */
export const emergencyKey = (patientID: string) => ["emergency", patientID] as const;
/** reviewKey is where the privacy officers' list is cached. */
export const reviewKey = ["emergency", "review"] as const;

export function emergencyOptions(client: Client): Promise<EmergencyOptions> {
  return client.request<EmergencyOptions>(...op("GET /api/v1/emergency-access/options"));
}

/** activeGrant is the caller's grant on the patient in force now, or null. */
export async function activeGrant(client: Client, patientID: string): Promise<EmergencyGrant | null> {
  const q = new URLSearchParams({ patient_id: patientID, active: "true" });
  const r = await client.request<S.emergencyGrantList>(...op("GET /api/v1/emergency-access", {}, q));
  return r.grants[0] ?? null;
}

export function requestEmergencyAccess(client: Client, body: GrantRequest): Promise<EmergencyGrant> {
  return client.request<EmergencyGrant>(...op("POST /api/v1/emergency-access"), body);
}

export async function reviewList(client: Client, status: "pending" | "all"): Promise<ReviewedGrant[]> {
  const r = await client.request<S.emergencyReviewList>(...op("GET /api/v1/emergency-access/review", {}, new URLSearchParams({ status })));
  return r.grants;
}

export function decide(client: Client, id: string, d: ReviewDecision): Promise<ReviewedGrant> {
  return client.request<ReviewedGrant>(...op("POST /api/v1/emergency-access/review/{id}", { id }), d);
}
