package httpapi

import (
	"net/http"

	"github.com/healthhub/healthhub/backend/assistant"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/health"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/retention"
	"github.com/healthhub/healthhub/backend/sync/auditship"
	"github.com/healthhub/healthhub/backend/sync/node"
	"github.com/healthhub/healthhub/backend/sync/upstream"
)

// access says who may reach a route at all; the policy decides the rest.
type access int

const (
	accessPublic access = iota
	accessUser          // a signed-in user (access token)
	accessAPIKey        // a signed-in user or an API key (/v1/*)
	// accessWebSocket: a signed-in user whose access token may also come as
	// ?access_token=, since browsers cannot set headers on a WebSocket.
	accessWebSocket
	// accessNode: an enrolled node, by its own credential (never a user's).
	accessNode
)

// route is one endpoint: what the mux needs and what the OpenAPI document
// says about it, kept together so they cannot drift apart.
type route struct {
	Method  string
	Path    string
	Summary string
	Tag     string
	Access  access
	In      any // request body type, nil for none
	Out     any // success response body type, nil for none
	Status  int // success status
	Query   []param
	handler http.Handler
}

type param struct {
	Name, Description, Type string // Type: string, integer, date-time
}

// routeTable lists every route of the API.
func (s *Server) routeTable() []route {
	auditFilters := []param{
		{"patient_id", "events about this patient", "string"},
		{"user_id", "events by this user", "string"},
		{"action", "create, read, update, delete, search, login, logout, export, verify", "string"},
		{"resource_type", "user, patient, appointment, …", "string"},
		{"from", "events at or after this time (RFC 3339)", "date-time"},
		{"to", "events before this time (RFC 3339)", "date-time"},
	}
	return []route{
		{Method: "GET", Path: "/healthz", Summary: "Liveness: the process answers", Tag: "operations", Out: statusResponse{}, handler: s.handleHealthz()},
		{Method: "GET", Path: "/readyz", Summary: "Readiness: the database answers", Tag: "operations", Out: statusResponse{}, handler: s.handleReadyz()},
		{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics", Tag: "operations", handler: s.handleMetrics()},
		{Method: "GET", Path: "/api/openapi.json", Summary: "This API description", Tag: "operations", handler: s.handleOpenAPI()},

		{Method: "GET", Path: "/api/v1/setup", Summary: "Whether the first admin still has to be created", Tag: "setup", Out: setupStatus{}, handler: s.handleSetupStatus()},
		{Method: "POST", Path: "/api/v1/setup", Summary: "Create the first admin with the one-time setup token", Tag: "setup", In: setupRequest{}, Out: domain.User{}, Status: 201, handler: s.handleSetup()},

		{Method: "POST", Path: "/api/v1/auth/register", Summary: "Patient self-registration: account and patient record (when the clinic allows it)", Tag: "auth", In: selfRegistration{}, Out: registered{}, Status: 201, handler: s.handleRegisterPatient()},
		{Method: "POST", Path: "/api/v1/auth/login", Summary: "Sign in; returns an access and a refresh token", Tag: "auth", In: auth.Credentials{}, Out: auth.TokenPair{}, handler: s.handleLogin()},
		{Method: "POST", Path: "/api/v1/auth/refresh", Summary: "Exchange a refresh token for a new pair (the old one is revoked)", Tag: "auth", In: refreshRequest{}, Out: auth.TokenPair{}, handler: s.handleRefresh()},
		{Method: "POST", Path: "/api/v1/auth/logout", Summary: "End the current session", Tag: "auth", Access: accessUser, Status: 204, handler: s.handleLogout()},

		{Method: "GET", Path: "/api/v1/me", Summary: "The signed-in user", Tag: "me", Access: accessUser, Out: meResponse{}, handler: s.handleMe()},
		{Method: "POST", Path: "/api/v1/me/mfa/enroll", Summary: "Start two-factor enrolment", Tag: "me", Access: accessUser, Out: auth.MFAEnrollment{}, handler: s.handleMFAEnroll()},
		{Method: "POST", Path: "/api/v1/me/mfa/confirm", Summary: "Confirm two-factor enrolment with a code", Tag: "me", Access: accessUser, In: mfaConfirmRequest{}, Status: 204, handler: s.handleMFAConfirm()},
		{Method: "GET", Path: "/api/v1/me/api-keys", Summary: "List my API keys", Tag: "me", Access: accessUser, Out: apiKeyList{}, handler: s.handleListAPIKeys()},
		{Method: "POST", Path: "/api/v1/me/api-keys", Summary: "Create an API key (shown once)", Tag: "me", Access: accessUser, In: apiKeyRequest{}, Out: apiKeyCreated{}, Status: 201, handler: s.handleCreateAPIKey()},
		{Method: "DELETE", Path: "/api/v1/me/api-keys/{id}", Summary: "Revoke one of my API keys", Tag: "me", Access: accessUser, Status: 204, handler: s.handleRevokeAPIKey()},

		{Method: "GET", Path: "/api/v1/users", Summary: "List accounts", Tag: "users", Access: accessUser, Out: userList{}, handler: s.handleListUsers(),
			Query: []param{{"role", "patient, doctor, staff or admin", "string"}, {"q", "part of the e-mail or name", "string"}, {"limit", "at most this many (1–500)", "integer"}, {"offset", "skip this many", "integer"}}},
		{Method: "POST", Path: "/api/v1/users", Summary: "Create an account of any role", Tag: "users", Access: accessUser, In: auth.NewAccount{}, Out: domain.User{}, Status: 201, handler: s.handleCreateUser()},
		{Method: "GET", Path: "/api/v1/users/{id}", Summary: "One account", Tag: "users", Access: accessUser, Out: domain.User{}, handler: s.handleGetUser()},
		{Method: "PATCH", Path: "/api/v1/users/{id}", Summary: "Change an account (name, role, disabled, password, reset MFA, unlock)", Tag: "users", Access: accessUser, In: auth.UserPatch{}, Out: domain.User{}, handler: s.handleUpdateUser()},

		{Method: "GET", Path: "/api/v1/settings", Summary: "Clinic account settings", Tag: "settings", Access: accessUser, Out: auth.Settings{}, handler: s.handleGetSettings()},
		{Method: "PATCH", Path: "/api/v1/settings", Summary: "Change clinic account settings", Tag: "settings", Access: accessUser, In: auth.SettingsPatch{}, Out: auth.Settings{}, handler: s.handleUpdateSettings()},

		{Method: "GET", Path: "/api/v1/audit/events", Summary: "Audit events, newest first", Tag: "audit", Access: accessUser, Out: auditList{}, handler: s.handleAuditEvents(),
			Query: append(auditFilters, param{"before", "page: events with a sequence number below this", "integer"}, param{"limit", "at most this many (1–1000)", "integer"})},
		{Method: "GET", Path: "/api/v1/audit/verify", Summary: "Walk the audit chain and report the first broken link", Tag: "audit", Access: accessUser, Out: audit.Report{}, handler: s.handleAuditVerify()},

		{Method: "GET", Path: "/api/v1/knowledge/sources", Summary: "Knowledge sources with what they hold and ingestion under way (admin)", Tag: "knowledge", Access: accessUser, Out: sourceList{}, handler: s.handleListSources()},
		{Method: "POST", Path: "/api/v1/knowledge/sources", Summary: "Add a folder or S3 source; it is indexed and kept in sync (admin)", Tag: "knowledge", Access: accessUser, In: knowledge.NewSource{}, Out: knowledge.SourceStatus{}, Status: 201, handler: s.handleAddSource()},
		{Method: "DELETE", Path: "/api/v1/knowledge/sources/{id}", Summary: "Remove a source and everything indexed from it (admin)", Tag: "knowledge", Access: accessUser, Status: 204, handler: s.handleDeleteSource()},
		{Method: "POST", Path: "/api/v1/knowledge/sources/{id}/sync", Summary: "Scan a source now (admin)", Tag: "knowledge", Access: accessUser, Out: knowledge.SourceStatus{}, Status: 202, handler: s.handleSyncSource()},
		{Method: "GET", Path: "/api/v1/knowledge/sources/{id}/failures", Summary: "A source's files that could not be indexed, with why (admin)", Tag: "knowledge", Access: accessUser, Out: failureList{}, handler: s.handleSourceFailures()},
		{Method: "GET", Path: "/api/v1/knowledge/documents", Summary: "Indexed document versions (admin)", Tag: "knowledge", Access: accessUser, Out: documentList{}, handler: s.handleListDocuments(),
			Query: []param{{"source_id", "only this source's documents", "string"}, {"limit", "at most this many (default 100, at most 500)", "integer"}, {"offset", "skip this many", "integer"}}},
		{Method: "GET", Path: "/api/v1/knowledge/search", Summary: "Passages that answer a question, from the sources the caller may see; snippets mark matched words with [[ ]]", Tag: "knowledge", Access: accessUser, Out: searchResults{}, handler: s.handleSearchKnowledge(),
			Query: []param{{"q", "the question or words to look for", "string"}, {"limit", "at most this many (default 10, at most 50)", "integer"}}},
		{Method: "GET", Path: "/api/v1/me/patient", Summary: "My patient record", Tag: "patients", Access: accessUser, Out: domain.Patient{}, handler: s.handleMyPatient()},
		{Method: "GET", Path: "/api/v1/patients", Summary: "List patients (a doctor sees their own)", Tag: "patients", Access: accessUser, Out: patientList{}, handler: s.handleListPatients(),
			Query: []param{{"q", "part of the name or e-mail", "string"}, {"limit", "at most this many (1–200)", "integer"}, {"offset", "skip this many", "integer"}}},
		{Method: "POST", Path: "/api/v1/patients", Summary: "Register a patient (with a portal account when a password is given)", Tag: "patients", Access: accessUser, In: portal.NewPatient{}, Out: domain.Patient{}, Status: 201, handler: s.handleCreatePatient()},
		{Method: "GET", Path: "/api/v1/patients/{id}", Summary: "A patient record", Tag: "patients", Access: accessUser, Out: domain.Patient{}, handler: s.handleGetPatient()},
		{Method: "PATCH", Path: "/api/v1/patients/{id}", Summary: "Change a patient record", Tag: "patients", Access: accessUser, In: portal.PatientInput{}, Out: domain.Patient{}, handler: s.handleUpdatePatient()},
		{Method: "GET", Path: "/api/v1/patients/{id}/entries", Summary: "Medical history, allergies and medications", Tag: "patients", Access: accessUser, Out: entryList{}, handler: s.handleListEntries(),
			Query: []param{{"kind", "condition, allergy or medication", "string"}}},
		{Method: "POST", Path: "/api/v1/patients/{id}/entries", Summary: "Record a condition, allergy or medication", Tag: "patients", Access: accessUser, In: portal.EntryInput{}, Out: domain.ClinicalEntry{}, Status: 201, handler: s.handleAddEntry()},
		{Method: "PATCH", Path: "/api/v1/patients/{id}/entries/{entry_id}", Summary: "Change an entry", Tag: "patients", Access: accessUser, In: portal.EntryInput{}, Out: domain.ClinicalEntry{}, handler: s.handleUpdateEntry()},
		{Method: "DELETE", Path: "/api/v1/patients/{id}/entries/{entry_id}", Summary: "Remove an entry made in error", Tag: "patients", Access: accessUser, Status: 204, handler: s.handleDeleteEntry()},
		{Method: "GET", Path: "/api/v1/patients/{id}/changes", Summary: "Who changed what in the record", Tag: "patients", Access: accessUser, Out: changeList{}, handler: s.handlePatientChanges()},

		{Method: "GET", Path: "/api/v1/doctors", Summary: "List doctors", Tag: "doctors", Access: accessUser, Out: doctorList{}, handler: s.handleListDoctors(),
			Query: []param{{"specialization", "only this specialization", "string"}}},
		{Method: "POST", Path: "/api/v1/doctors", Summary: "Create a doctor's account and profile", Tag: "doctors", Access: accessUser, In: portal.NewDoctor{}, Out: domain.Doctor{}, Status: 201, handler: s.handleCreateDoctor()},
		{Method: "GET", Path: "/api/v1/doctors/{id}", Summary: "A doctor", Tag: "doctors", Access: accessUser, Out: domain.Doctor{}, handler: s.handleGetDoctor()},
		{Method: "GET", Path: "/api/v1/doctors/{id}/availability", Summary: "A doctor's bookable hours", Tag: "doctors", Access: accessUser, Out: domain.Availability{}, handler: s.handleGetAvailability()},
		{Method: "PUT", Path: "/api/v1/doctors/{id}/availability", Summary: "Set a doctor's bookable hours", Tag: "doctors", Access: accessUser, In: domain.Availability{}, Out: domain.Availability{}, handler: s.handlePutAvailability()},
		{Method: "GET", Path: "/api/v1/doctors/{id}/slots", Summary: "Free bookable slots", Tag: "doctors", Access: accessUser, Out: slotList{}, handler: s.handleSlots(),
			Query: []param{{"from", "from this time (RFC 3339; default now)", "date-time"}, {"to", "until this time (RFC 3339; default a week later; at most 62 days)", "date-time"}}},

		{Method: "GET", Path: "/api/v1/appointments", Summary: "List appointments (narrowed to what the caller may see)", Tag: "appointments", Access: accessUser, Out: appointmentList{}, handler: s.handleListAppointments(),
			Query: []param{{"doctor_id", "", "string"}, {"patient_id", "", "string"}, {"from", "overlapping from (RFC 3339)", "date-time"}, {"to", "overlapping until (RFC 3339)", "date-time"}, {"status", "FHIR appointment status", "string"}, {"limit", "at most this many (1–1000)", "integer"}}},
		{Method: "POST", Path: "/api/v1/appointments", Summary: "Book an appointment (Idempotency-Key header makes retries safe); 409 conflict names the clash", Tag: "appointments", Access: accessUser, In: portal.BookRequest{}, Out: domain.Appointment{}, Status: 201, handler: s.handleBook()},
		{Method: "GET", Path: "/api/v1/appointments/{id}", Summary: "An appointment", Tag: "appointments", Access: accessUser, Out: domain.Appointment{}, handler: s.handleGetAppointment()},
		{Method: "POST", Path: "/api/v1/appointments/{id}/cancel", Summary: "Cancel an appointment", Tag: "appointments", Access: accessUser, In: cancelRequest{}, Out: domain.Appointment{}, handler: s.handleCancel()},
		{Method: "POST", Path: "/api/v1/appointments/{id}/reschedule", Summary: "Move an appointment to another free slot", Tag: "appointments", Access: accessUser, In: rescheduleRequest{}, Out: domain.Appointment{}, handler: s.handleReschedule()},
		{Method: "POST", Path: "/api/v1/appointments/{id}/status", Summary: "Change the status (arrived, checked-in, fulfilled, noshow, …)", Tag: "appointments", Access: accessUser, In: statusRequest{}, Out: domain.Appointment{}, handler: s.handleSetStatus()},

		{Method: "GET", Path: "/api/v1/ws", Summary: "WebSocket of live updates (appointments, notifications); token as Bearer header or ?access_token=", Tag: "live", Access: accessWebSocket, handler: s.handleWS()},
		{Method: "GET", Path: "/api/v1/notifications", Summary: "My notifications, newest first", Tag: "notifications", Access: accessUser, Out: notificationList{}, handler: s.handleListNotifications()},
		{Method: "POST", Path: "/api/v1/notifications/{id}/read", Summary: "Mark a notification read", Tag: "notifications", Access: accessUser, Status: 204, handler: s.handleReadNotification()},

		{Method: "GET", Path: "/api/v1/conversations", Summary: "My conversations with the assistant, most recent first", Tag: "assistant", Access: accessUser, Out: conversationList{}, handler: s.handleListConversations(),
			Query: []param{{"q", "words in the title or a message", "string"}, {"before", "page: conversations updated before this (the previous page's next)", "date-time"}, {"limit", "at most this many (1–200, default 50)", "integer"}}},
		{Method: "POST", Path: "/api/v1/conversations", Summary: "Start a conversation (staff may link it to a patient)", Tag: "assistant", Access: accessUser, In: assistant.NewConversation{}, Out: assistant.ConversationView{}, Status: 201, handler: s.handleCreateConversation()},
		{Method: "GET", Path: "/api/v1/conversations/{id}", Summary: "A conversation with its messages", Tag: "assistant", Access: accessUser, Out: assistant.ConversationView{}, handler: s.handleGetConversation()},
		{Method: "PATCH", Path: "/api/v1/conversations/{id}", Summary: "Rename a conversation", Tag: "assistant", Access: accessUser, In: assistant.ConversationPatch{}, Out: assistant.ConversationView{}, handler: s.handleUpdateConversation()},
		{Method: "DELETE", Path: "/api/v1/conversations/{id}", Summary: "Delete a conversation (removed for good after the retention period)", Tag: "assistant", Access: accessUser, Status: 204, handler: s.handleDeleteConversation()},
		{Method: "GET", Path: "/api/v1/conversations/{id}/export", Summary: "Download a conversation as Markdown or JSON", Tag: "assistant", Access: accessUser, handler: s.handleExportConversation(),
			Query: []param{{"format", "markdown (default) or json", "string"}}},
		{Method: "POST", Path: "/api/v1/conversations/{id}/messages", Summary: "Send a message; with Accept: text/event-stream the answer streams as events delta, citations, notice, done, error", Tag: "assistant", Access: accessUser, In: assistant.SendInput{}, Out: messageSent{}, Status: 201, handler: s.handleSendMessage()},
		{Method: "POST", Path: "/api/v1/conversations/{id}/stop", Summary: "Stop the answer being written; the part written is kept", Tag: "assistant", Access: accessUser, Status: 204, handler: s.handleStopConversation()},
		{Method: "GET", Path: "/api/v1/ai/models", Summary: "The models I may use", Tag: "assistant", Access: accessUser, Out: modelList{}, handler: s.handleModels(false)},
		{Method: "GET", Path: "/api/v1/ai/providers", Summary: "Language model providers (admin; keys are never shown)", Tag: "assistant", Access: accessUser, Out: providerList{}, handler: s.handleListProviders()},
		{Method: "POST", Path: "/api/v1/ai/providers", Summary: "Add a provider and which roles may use its models (admin)", Tag: "assistant", Access: accessUser, In: assistant.ProviderInput{}, Out: domain.LLMProvider{}, Status: 201, handler: s.handleSaveProvider(true)},
		{Method: "PUT", Path: "/api/v1/ai/providers/{id}", Summary: "Change a provider (admin); an empty api_key keeps the stored one", Tag: "assistant", Access: accessUser, In: assistant.ProviderInput{}, Out: domain.LLMProvider{}, handler: s.handleSaveProvider(false)},
		{Method: "DELETE", Path: "/api/v1/ai/providers/{id}", Summary: "Remove a provider (admin)", Tag: "assistant", Access: accessUser, Status: 204, handler: s.handleDeleteProvider()},
		{Method: "GET", Path: "/api/v1/ai/settings", Summary: "Assistant limits and retention (admin)", Tag: "assistant", Access: accessUser, Out: assistant.Settings{}, handler: s.handleAISettings()},
		{Method: "PATCH", Path: "/api/v1/ai/settings", Summary: "Change assistant limits and retention (admin)", Tag: "assistant", Access: accessUser, In: assistant.SettingsPatch{}, Out: assistant.Settings{}, handler: s.handleAISettings()},
		{Method: "GET", Path: "/api/v1/retention", Summary: "How long each class of data is kept, and the legal floors (admin)", Tag: "retention", Access: accessUser, Out: retention.Policy{}, handler: s.handleRetentionPolicy()},
		{Method: "PATCH", Path: "/api/v1/retention", Summary: "Change how long data is kept, within the legal floors (admin)", Tag: "retention", Access: accessUser, In: retention.PolicyPatch{}, Out: retention.Policy{}, handler: s.handleRetentionPolicy()},
		{Method: "POST", Path: "/api/v1/retention/run", Summary: "Apply the retention policy now, or count what it would purge (dry_run); audited (admin)", Tag: "retention", Access: accessUser, In: retentionRunInput{}, Out: retention.Report{}, handler: s.handleRetentionRun()},
		{Method: "GET", Path: "/api/v1/legal-holds", Summary: "Patients on legal hold: no purge touches their data (admins and privacy officers)", Tag: "retention", Access: accessUser, Out: legalHoldList{}, handler: s.handleListLegalHolds()},
		{Method: "POST", Path: "/api/v1/legal-holds", Summary: "Place a patient on legal hold, with the reason (admins and privacy officers)", Tag: "retention", Access: accessUser, In: legalHoldInput{}, Out: domain.LegalHold{}, Status: 201, handler: s.handlePlaceLegalHold()},
		{Method: "DELETE", Path: "/api/v1/legal-holds/{patient_id}", Summary: "Lift a patient's legal hold (admins and privacy officers)", Tag: "retention", Access: accessUser, Status: 204, handler: s.handleLiftLegalHold()},
		{Method: "GET", Path: "/api/v1/ai/usage", Summary: "Assistant use per user and day (admin)", Tag: "assistant", Access: accessUser, Out: usageList{}, handler: s.handleAIUsage(),
			Query: []param{{"from", "first day (YYYY-MM-DD, default 30 days ago)", "string"}, {"to", "last day (default today)", "string"}, {"user_id", "one user only", "string"}}},
		{Method: "GET", Path: "/api/v1/analytics/appointments", Summary: "Appointments per day by outcome, and the no-show rate (admin)", Tag: "appointments", Access: accessUser, Out: portal.AppointmentStats{}, handler: s.handleAppointmentStats(),
			Query: []param{{"from", "first day (YYYY-MM-DD, default 29 days before to)", "string"}, {"to", "last day (default today)", "string"}, {"time_zone", "IANA time zone the days are in (default UTC)", "string"}}},
		{Method: "GET", Path: "/v1/models", Summary: "OpenAI-compatible: the models the key's user may use", Tag: "openai", Access: accessAPIKey, Out: openAIModels{}, handler: s.handleModels(true)},
		{Method: "POST", Path: "/v1/chat/completions", Summary: "OpenAI-compatible chat completions (stream or not), grounded, redacted and audited like a conversation", Tag: "openai", Access: accessAPIKey, In: chatCompletionRequest{}, handler: s.handleChatCompletions()},

		{Method: "POST", Path: "/api/v1/sync/enrollments", Summary: "Make a one-time code for a node to enrol with this server as its upstream (admin)", Tag: "sync", Access: accessUser, In: upstream.NewEnrollment{}, Out: upstream.Enrollment{}, Status: 201, handler: s.handleCreateEnrollment()},
		{Method: "GET", Path: "/api/v1/sync/nodes", Summary: "Nodes enrolled with this server (admin)", Tag: "sync", Access: accessUser, Out: syncNodeList{}, handler: s.handleListNodes()},
		{Method: "POST", Path: "/api/v1/sync/nodes/{id}/revoke", Summary: "Revoke a node: its credential is refused from now on (admin)", Tag: "sync", Access: accessUser, Out: domain.SyncNode{}, handler: s.handleRevokeNode()},
		{Method: "POST", Path: "/api/v1/sync/enroll", Summary: "A node enrols with a one-time code and its checkpoint key; returns its credential once", Tag: "sync", In: upstream.EnrollRequest{}, Out: upstream.Enrolled{}, Status: 201, handler: s.handleEnroll()},
		{Method: "POST", Path: "/api/v1/sync/ops", Summary: "A node's appointment ops, applied exactly once each: applied, conflict or rejected (node)", Tag: "sync", Access: accessNode, In: upstream.Push{}, Out: upstream.Pushed{}, handler: s.handlePushOps()},
		{Method: "GET", Path: "/api/v1/sync/changes", Summary: "The change feed a node pulls, after its cursor (node)", Tag: "sync", Access: accessNode, Out: upstream.Page{},
			Query: []param{{"after", "the cursor of the last change applied; empty for the start", "string"}, {"limit", "at most this many (1–500)", "integer"}}, handler: s.handlePullChanges()},
		{Method: "GET", Path: "/api/v1/sync/audit", Summary: "How much of its audit log the node has shipped (node)", Tag: "sync", Access: accessNode, Out: upstream.AuditState{}, handler: s.handleAuditState()},
		{Method: "POST", Path: "/api/v1/sync/audit", Summary: "A batch of the node's audit log with a signed checkpoint and a consistency proof (node)", Tag: "sync", Access: accessNode, In: auditship.Batch{}, Out: upstream.AuditAck{}, handler: s.handleShipAudit()},
		{Method: "POST", Path: "/api/v1/sync/leases", Summary: "A node asks for a block of a doctor's time (a slot lease): only its bookings may hold time there until it expires (node)", Tag: "sync", Access: accessNode, In: upstream.LeaseRequest{}, Out: upstream.Leased{}, Status: 201, handler: s.handleGrantLease()},
		{Method: "POST", Path: "/api/v1/sync/leases/{id}/release", Summary: "A node gives one of its leases back (node)", Tag: "sync", Access: accessNode, Out: domain.SyncLease{}, handler: s.handleReleaseLease()},
		{Method: "GET", Path: "/api/v1/sync/node/leases", Summary: "Slot leases this installation knows of: its own (node_id empty) and other sites'", Tag: "sync", Access: accessUser, Out: leaseList{}, handler: s.handleNodeLeases()},
		{Method: "POST", Path: "/api/v1/sync/node/leases", Summary: "Ask the upstream to lend this installation a block of a doctor's time; bookings there are confirmed at once, even offline (admin)", Tag: "sync", Access: accessUser, In: node.LeaseRequest{}, Out: domain.SyncLease{}, Status: 201, handler: s.handleRequestLease()},
		{Method: "POST", Path: "/api/v1/sync/node/leases/{id}/release", Summary: "Give a lease of this installation back to the upstream (admin)", Tag: "sync", Access: accessUser, Out: domain.SyncLease{}, handler: s.handleGiveBackLease()},
		{Method: "GET", Path: "/api/v1/sync/status", Summary: "This installation's sync with its upstream: state, last success, queue, conflicts", Tag: "sync", Access: accessUser, Out: node.Status{}, handler: s.handleSyncStatus()},
		{Method: "POST", Path: "/api/v1/sync/run", Summary: "Sync with the upstream now (admin)", Tag: "sync", Access: accessUser, Out: node.Status{}, handler: s.handleSyncRun()},
		{Method: "POST", Path: "/api/v1/sync/upstream", Summary: "Enrol this installation with an upstream server using its one-time code (admin)", Tag: "sync", Access: accessUser, In: node.EnrollOptions{}, Out: node.Status{}, handler: s.handleSyncEnroll()},
		{Method: "GET", Path: "/api/v1/sync/conflicts", Summary: "Bookings and moves that lost a race, to rebook (front desk)", Tag: "sync", Access: accessUser, Out: conflictList{},
			Query: []param{{"all", "true to include resolved ones", "string"}}, handler: s.handleListConflicts()},
		{Method: "POST", Path: "/api/v1/sync/conflicts/{id}/resolve", Summary: "Mark a conflict as dealt with (front desk)", Tag: "sync", Access: accessUser, Out: domain.SyncConflict{}, handler: s.handleResolveConflict()},

		{Method: "GET", Path: "/api/v1/admin/health", Summary: "The installation's health: assistant provider, e-mail, knowledge sources that fail, the last audit chain check, accounts by role (admin)", Tag: "admin", Access: accessUser, Out: health.InstallationHealth{}, handler: s.handleAdminHealth()},

		{Method: "GET", Path: "/api/v1/audit/export", Summary: "Export audit events as FHIR R4 AuditEvent NDJSON", Tag: "audit", Access: accessUser, handler: s.handleAuditExport(), Query: auditFilters},
	}
}
