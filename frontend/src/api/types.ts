// The API's JSON shapes the UI uses (see /api/openapi.json).

export type Role = "patient" | "doctor" | "staff" | "admin";

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  mfa_enabled: boolean;
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  user: User;
  mfa_enrollment_required?: boolean;
}

/** Me is GET /api/v1/me: the user's own fields and the session's settings. */
export interface Me extends User {
  mfa_enrollment_required?: boolean;
  idle_timeout_minutes: number;
}

export interface Credentials {
  email: string;
  password: string;
  totp_code?: string;
}

export interface ErrorBody {
  error: { code: string; message: string; field?: string; request_id?: string };
}
