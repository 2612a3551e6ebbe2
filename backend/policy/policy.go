// Package policy decides who may do what. Every handler asks it, with the
// caller, the action and the resource (including whose it is); the rules are
// in one table so they can be read, reviewed and tested as a whole.
package policy

import (
	"fmt"

	"github.com/healthhub/healthhub/backend/domain"
)

// Actions.
const (
	Read   = "read"
	List   = "list"
	Create = "create"
	Update = "update"
	Delete = "delete"
	Verify = "verify"
	Export = "export"
	// SetStatus moves an appointment along its workflow (arrived, fulfilled, …).
	SetStatus = "set_status"
)

// Resource types.
const (
	Account  = "account"  // a user account
	Self     = "self"     // the caller's own account, MFA and API keys
	AuditLog = "audit"    // the audit log
	Settings = "settings" // clinic-wide settings

	Patient      = "patient"      // demographics and contact details
	Clinical     = "clinical"     // medical history, allergies, medications, change history
	Doctor       = "doctor"       // doctor profiles
	Schedule     = "schedule"     // a doctor's availability and free slots
	Appointment  = "appointment"  // one appointment
	Notification = "notification" // the caller's own notifications

	KnowledgeSource = "knowledge_source" // folders and buckets the knowledge base reads, their documents and errors
	Knowledge       = "knowledge"        // searching the knowledge base; what is found depends on the role

	Conversation = "conversation" // an assistant conversation: its owner's alone
	AIProvider   = "ai_provider"  // language model providers, their models and keys
	AISettings   = "ai_settings"  // the assistant's limits and retention
	AIUsage      = "ai_usage"     // assistant use per user and day
	Analytics    = "analytics"    // the clinic's figures: counts, never a patient's data
	Installation = "installation" // the installation's health: providers, e-mail, sources, audit checks, accounts

	SyncNode     = "sync_node"     // nodes enrolled with this server as their upstream, and their enrolment codes
	SyncFeed     = "sync"          // a node's own sync: pushing ops and audit, pulling changes
	SyncConflict = "sync_conflict" // ops that lost a race, for the front desk to rebook
	SyncStatus   = "sync_status"   // this installation's sync with its upstream: state, queue, running it

	APIKey = "api_key" // one of the caller's API keys (within Self: refusals are someone else's key)
	Setup  = "setup"   // the one-time creation of the first administrator
)

// Resource types of emergency access ("break-glass").
const (
	EmergencyAccess = "emergency_access" // a clinician's own emergency access grants: asking for one, listing them
	EmergencyReview = "emergency_review" // every emergency access grant, for privacy officers to decide on
	PrivacyOfficers = "privacy_officers" // who holds the privacy officer's capability
	LegalHold       = "legal_hold"       // legal holds on patients, which stop every purge of their data
)

// Resource types of consultations.
const (
	// Consultation is a recorded visit: its recordings, transcript and the
	// note while it is drafted. DoctorUserID is the consultation's doctor.
	Consultation = "consultation"
	// VisitNote is a signed visit note, part of the medical record.
	VisitNote = "visit_note"
	// Transcription is the clinic's choice of transcription engine.
	Transcription = "transcription"
)

// Resource is the thing acted on. OwnerID is the account it belongs to (a
// patient's own account), DoctorUserID the account of the doctor it concerns,
// and CareTeam whether the calling doctor treats the patient concerned; the
// rules compare them with the caller. PatientID is the patient whose record
// it is part of, for the audit event of the decision.
type Resource struct {
	Type         string
	ID           string
	OwnerID      string
	DoctorUserID string
	CareTeam     bool
	PatientID    string
	// EmergencyGrantID names the caller's active emergency access grant on
	// PatientID, when they hold one; access.Guard looks it up only after
	// the ordinary rules refused.
	EmergencyGrantID string
	// PrivacyOfficer: the caller holds the privacy officer's capability.
	PrivacyOfficer bool
}

// rule decides one (resource type, action) pair for one caller.
type rule func(p *domain.Principal, r Resource) bool

func roles(rs ...domain.Role) rule {
	return func(p *domain.Principal, _ Resource) bool {
		for _, r := range rs {
			if p.Role == r {
				return true
			}
		}
		return false
	}
}

func anyone(*domain.Principal, Resource) bool { return true }

func own(p *domain.Principal, r Resource) bool { return r.OwnerID != "" && r.OwnerID == p.UserID }

func either(rules ...rule) rule {
	return func(p *domain.Principal, r Resource) bool {
		for _, f := range rules {
			if f(p, r) {
				return true
			}
		}
		return false
	}
}

var admin = roles(domain.RoleAdmin)

func both(a, b rule) rule {
	return func(p *domain.Principal, r Resource) bool { return a(p, r) && b(p, r) }
}

// theirDoctor: the caller is the doctor the resource concerns.
func theirDoctor(p *domain.Principal, r Resource) bool {
	return p.Role == domain.RoleDoctor && r.DoctorUserID != "" && r.DoctorUserID == p.UserID
}

// treating: the caller is a doctor who treats the patient concerned.
func treating(p *domain.Principal, r Resource) bool { return p.Role == domain.RoleDoctor && r.CareTeam }

// ownPatient: the caller is the patient the resource belongs to.
func ownPatient(p *domain.Principal, r Resource) bool {
	return p.Role == domain.RolePatient && own(p, r)
}

var scheduling = roles(domain.RoleStaff, domain.RoleAdmin)

// clinician: the roles that treat patients and so may ask for emergency
// access. The front desk keeps demographics and never medical content.
var clinician = roles(domain.RoleDoctor)

// privacyOfficer: admins, and accounts given the capability (never a
// patient's).
func privacyOfficer(p *domain.Principal, r Resource) bool {
	return p.Role == domain.RoleAdmin || (r.PrivacyOfficer && p.Role != domain.RolePatient && p.Role != domain.RoleNode)
}

// emergencyRules: what an emergency access grant opens of the one patient
// it names, to the clinician who holds it: reading and adding to the
// medical record and appointments. Changing or deleting what others wrote,
// and anything of another patient, stays refused.
var emergencyRules = map[string]map[string]rule{
	Patient:     {Read: clinician},
	Clinical:    {Read: clinician, Create: clinician},
	Appointment: {Read: clinician, Create: both(clinician, theirDoctor)},
	// A clinician under emergency access reads the consultations and
	// notes, and records and writes their own; another doctor's stays
	// theirs.
	Consultation: {Read: clinician, List: clinician, Create: clinician, Update: both(clinician, theirDoctor)},
	VisitNote:    {Read: clinician},
}

// rules: resource type → action → who may. Anything not listed is denied.
var rules = map[string]map[string]rule{
	Self: {
		Read: anyone, Update: anyone, Create: anyone, Delete: anyone, List: anyone,
	},
	Account: {
		List:   admin,
		Create: admin,
		Read:   either(admin, own),
		Update: admin,
	},
	AuditLog: {
		List: admin, Read: admin, Verify: admin, Export: admin,
	},
	Settings: {
		Read: admin, Update: admin,
	},
	// Front desk and admins keep demographics; doctors see their own
	// patients; patients their own record.
	Patient: {
		Create: scheduling,
		List:   either(scheduling, roles(domain.RoleDoctor)), // doctors' lists are narrowed to their patients
		Read:   either(scheduling, ownPatient, treating),
		Update: either(scheduling, ownPatient),
	},
	// Medical content: the treating doctors, and the patient (read only).
	Clinical: {
		Read:   either(ownPatient, treating),
		Create: treating,
		Update: treating,
		Delete: treating,
	},
	Doctor: {
		List: anyone, Read: anyone, Create: admin,
	},
	Schedule: {
		Read:   anyone,
		Update: either(scheduling, theirDoctor),
	},
	Appointment: {
		// A doctor books follow-ups for patients they already treat; new
		// patients come through the front desk or book themselves, so a
		// doctor cannot make themselves someone's treating doctor.
		Create: either(scheduling, ownPatient, both(theirDoctor, treating)),
		List:   anyone, // narrowed to what the caller may see
		Read:   either(scheduling, ownPatient, theirDoctor),
		Update: either(scheduling, ownPatient, theirDoctor),
		// Status changes (arrived, fulfilled, no-show) are the clinic's.
		SetStatus: either(scheduling, theirDoctor),
	},
	Notification: {
		List: anyone, Update: own,
	},
	KnowledgeSource: {
		List: admin, Read: admin, Create: admin, Update: admin, Delete: admin,
	},
	// Search results are narrowed to the sources the caller's role may see.
	Knowledge: {
		Read: anyone,
	},
	// Anyone signed in chats; a conversation is its owner's alone (one
	// about a patient also needs that patient's record to be readable).
	Conversation: {
		Create: anyone, List: anyone,
		Read: own, Update: own, Delete: own, Export: own,
	},
	AIProvider: {
		List: admin, Read: admin, Create: admin, Update: admin, Delete: admin,
	},
	AISettings: {
		Read: admin, Update: admin,
	},
	AIUsage: {
		List: admin,
	},
	Analytics: {
		Read: admin,
	},
	Installation: {
		Read: admin,
	},
	SyncNode: {
		List: admin, Create: admin, Update: admin,
	},
	// Only a node calls its own feed; its scope of doctors is checked per op.
	SyncFeed: {
		Read: roles(domain.RoleNode), Create: roles(domain.RoleNode), Update: roles(domain.RoleNode),
	},
	SyncConflict: {
		List: scheduling, Update: scheduling,
	},
	// Clinicians ask for emergency access and see their own grants; privacy
	// officers decide on every grant; admins name the privacy officers.
	EmergencyAccess: {
		Create: clinician, List: clinician,
	},
	EmergencyReview: {
		List: privacyOfficer, Read: privacyOfficer, Update: privacyOfficer,
	},
	PrivacyOfficers: {
		List: admin, Update: admin,
	},
	// Admins and privacy officers place, list and lift legal holds.
	LegalHold: {
		List: privacyOfficer, Update: privacyOfficer,
	},
	// Recordings, transcripts and draft notes: the treating doctors read
	// them, and only the consultation's own doctor records, edits and
	// signs. The front desk and patients never reach them.
	Consultation: {
		List:   treating,
		Read:   treating,
		Create: treating,
		Update: both(treating, theirDoctor),
	},
	// A signed note is part of the record: the treating doctors and the
	// patient (where the clinic allows, which the service checks).
	VisitNote: {
		List: either(treating, ownPatient),
		Read: either(treating, ownPatient),
	},
	Transcription: {
		Read: admin, Update: admin,
	},
	// The front desk sees whether sync is healthy; admins enrol and run it.
	SyncStatus: {
		Read: either(scheduling, roles(domain.RoleDoctor)), Update: admin,
	},
}

// Authorize returns nil when p may do action on r, and a forbidden error a
// person can understand otherwise. A nil principal is unauthorized.
func Authorize(p *domain.Principal, action string, r Resource) error {
	if p == nil {
		return &domain.Error{Code: domain.EUNAUTHORIZED, Message: "Sign in first."}
	}
	if p.MFAPending && r.Type != Self {
		return &domain.Error{Code: domain.EFORBIDDEN, Message: "Your role requires two-factor authentication. Set it up first (POST /api/v1/me/mfa/enroll, then confirm)."}
	}
	if f, ok := rules[r.Type][action]; ok && f(p, r) {
		return nil
	}
	if r.EmergencyGrantID != "" && r.PatientID != "" && EmergencyCovers(p, action, r) {
		return nil
	}
	return &domain.Error{Code: domain.EFORBIDDEN, Message: fmt.Sprintf("Your role (%s) may not %s this %s.", p.Role, action, describe(r.Type))}
}

// EmergencyCovers reports whether an emergency access grant on r's patient
// would let p do action on r, which the ordinary rules refuse: the one
// question access.Guard asks before it looks for a grant.
func EmergencyCovers(p *domain.Principal, action string, r Resource) bool {
	if p == nil || p.MFAPending || r.PatientID == "" {
		return false
	}
	f, ok := emergencyRules[r.Type][action]
	return ok && f(p, r)
}

func describe(t string) string {
	switch t {
	case Account:
		return "account"
	case AuditLog:
		return "audit log"
	case Settings:
		return "setting"
	case Clinical:
		return "medical record"
	case Schedule:
		return "schedule"
	case KnowledgeSource:
		return "knowledge source"
	case AIProvider:
		return "language model provider"
	case AISettings:
		return "assistant setting"
	case AIUsage:
		return "assistant usage"
	case Analytics:
		return "clinic figures"
	case Installation:
		return "installation's health"
	case EmergencyAccess:
		return "emergency access"
	case EmergencyReview:
		return "emergency access review"
	case PrivacyOfficers:
		return "list of privacy officers"
	case Consultation:
		return "consultation's recordings, transcript or draft"
	case VisitNote:
		return "visit note"
	case Transcription:
		return "transcription setting"
	}
	return t
}
