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

export interface Conversation {
  id: string;
  user_id: string;
  patient_id?: string;
  title: string;
  created_at: string;
  updated_at: string;
}

export interface Citation {
  n: number;
  chunk_id: number;
  document_id: string;
  title: string;
  heading: string;
  source: string;
  text: string;
}

export type MessageStatus = "complete" | "streaming" | "stopped" | "failed" | string;

export interface Message {
  id: string;
  conversation_id: string;
  role: "user" | "assistant";
  content: string;
  status: MessageStatus;
  notice?: string;
  citations: Citation[];
  error?: string;
  created_at: string;
}

export interface ConversationView extends Conversation {
  disclaimer: string;
  messages: Message[];
}

export interface ConversationList {
  conversations: Conversation[];
  next?: string;
}

export interface Doctor {
  id: string;
  user_id: string;
  name: string;
  specialization: string;
}

export interface Patient {
  id: string;
  user_id?: string;
  name: string;
  date_of_birth: string;
}

export interface Slot {
  start: string;
  end: string;
}

export interface Appointment {
  id: string;
  doctor_id: string;
  patient_id: string;
  start: string;
  end: string;
  status: string;
  reason: string;
}
