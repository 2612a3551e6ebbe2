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

/** officersKey is where the accounts given the privacy officer's capability are cached. */
export const officersKey = ["emergency", "officers"] as const;

export async function privacyOfficers(client: Client): Promise<string[]> {
  const r = await client.request<S.privacyOfficerList>(...op("GET /api/v1/emergency-access/privacy-officers"));
  return r.user_ids;
}

export function setPrivacyOfficer(client: Client, userID: string, on: boolean): Promise<void> {
  const operation = on ? "PUT /api/v1/emergency-access/privacy-officers/{user_id}" : "DELETE /api/v1/emergency-access/privacy-officers/{user_id}";
  return client.request<void>(...op(operation, { user_id: userID }));
}
