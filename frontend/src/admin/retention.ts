import type { Client } from "../api/client";
import { op } from "../api/operations";
import type * as S from "../api/schema";

/** RetentionPolicy is GET /api/v1/retention: how long each class of data is kept, and the legal floors. */
export type RetentionPolicy = S.Policy;
export type LegalHold = S.LegalHold;
export type RetentionReport = S.RetentionReport;

export const getRetention = (c: Client) => c.request<RetentionPolicy>(...op("GET /api/v1/retention"));

export const saveRetention = (c: Client, body: S.PolicyPatch) => c.request<RetentionPolicy>(...op("PATCH /api/v1/retention"), body);

export const runRetention = (c: Client, dryRun: boolean) => c.request<RetentionReport>(...op("POST /api/v1/retention/run"), { dry_run: dryRun });

export const listHolds = (c: Client) => c.request<{ holds: LegalHold[] }>(...op("GET /api/v1/legal-holds")).then((r) => r.holds);

export const placeHold = (c: Client, patientID: string, reason: string) =>
  c.request<LegalHold>(...op("POST /api/v1/legal-holds"), { patient_id: patientID, reason });

export const liftHold = (c: Client, patientID: string) => c.request<void>(...op("DELETE /api/v1/legal-holds/{patient_id}", { patient_id: patientID }));
