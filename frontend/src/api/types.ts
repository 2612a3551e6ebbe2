// The API's JSON shapes, from the generated schema.ts (itself generated
// from the server's /api/openapi.json), narrowed where the UI relies on a
// closed set of values.
import type * as S from "./schema";

export type Role = "patient" | "doctor" | "staff" | "admin";
export type User = Omit<S.User, "role"> & { role: Role };
export type TokenPair = Omit<S.TokenPair, "user"> & { user: User };
/** Me is GET /api/v1/me: the user's own fields and the session's settings. */
export type Me = Omit<S.meResponse, "role"> & { role: Role };
export type Credentials = S.Credentials;
export type ErrorBody = S.errorBody;

export type Conversation = S.Conversation;
export type Citation = S.Citation;
export type Message = Omit<S.Message, "role"> & { role: "user" | "assistant" };
export type ConversationView = Omit<S.ConversationView, "messages"> & { messages: Message[] };
export type ConversationList = S.conversationList;

export type Doctor = S.Doctor;
export type Patient = S.Patient;
export type Slot = S.Slot;
export type Appointment = S.Appointment;
export type SourceStatus = S.SourceStatus;
export type KnowledgeFile = S.KnowledgeFile;
export type AuditEvent = S.AuditEvent;
export type AuditReport = S.Report;
export type ClinicalEntry = S.ClinicalEntry;
export type Notification = S.Notification;
export type Availability = S.Availability;
export type WeeklyHours = S.WeeklyHours;
export type DayException = S.DayException;
export type PatientInput = S.PatientInput;
export type EmergencyContact = S.EmergencyContact;
export type EntryInput = S.EntryInput;
