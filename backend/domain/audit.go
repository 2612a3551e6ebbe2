package domain

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// Audit actions.
const (
	ActionCreate = "create"
	ActionRead   = "read"
	ActionUpdate = "update"
	ActionDelete = "delete"
	ActionSearch = "search"
	ActionLogin  = "login"
	ActionLogout = "logout"
	ActionExport = "export"
	ActionVerify = "verify"
)

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// AuditEvent is one entry of the tamper-evident audit log. Seq orders the
// chain; Hash is the SHA-256 of PrevHash and the canonical form of the event.
type AuditEvent struct {
	Seq          int64     `json:"seq"`
	ID           string    `json:"id"`
	Time         time.Time `json:"time"`
	ActorID      string    `json:"actor_id"`
	ActorRole    string    `json:"actor_role"`
	Action       string    `json:"action"`
	ResourceType string    `json:"resource_type"`
	ResourceID   string    `json:"resource_id"`
	PatientID    string    `json:"patient_id"`
	Outcome      string    `json:"outcome"`
	SourceIP     string    `json:"source_ip"`
	UserAgent    string    `json:"user_agent"`
	RequestID    string    `json:"request_id"`
	Detail       string    `json:"detail"`
	PrevHash     string    `json:"prev_hash"`
	Hash         string    `json:"hash"`
	// ChainVersion is the hash format of the event (AuditChainV1 or V2; 0,
	// from a node that predates versions, is V1).
	ChainVersion int `json:"chain_version,omitempty"`
	// PatientSalt and PatientCommit (V2): the hash covers the patient
	// through PatientCommit = AuditPatientCommitment(PatientSalt,
	// PatientID), so the patient can later be replaced by a pseudonym
	// (Redacted) without breaking the chain. A redacted event has no salt.
	PatientSalt   string `json:"patient_salt,omitempty"`
	PatientCommit string `json:"patient_commit,omitempty"`
	Redacted      bool   `json:"redacted,omitempty"`
	// Names of the actor and the patient, joined in by ListAudit when the
	// log is read. They are not part of the chain: an account or record
	// renamed later shows its current name, and the hash never covers them.
	ActorName   string `json:"actor_name,omitempty"`
	PatientName string `json:"patient_name,omitempty"`
}

// Hash formats of audit events. An event keeps the format it was written
// in; Chain writes AuditChainV2.
const (
	// AuditChainV1: SHA-256 of the canonical JSON of every field, the
	// patient identifier as written.
	AuditChainV1 = 1
	// AuditChainV2: as V1, but the patient identifier enters only through
	// its salted commitment, and a resource identifier equal to the
	// patient's enters as a flag, so both can be pseudonymised.
	AuditChainV2 = 2
)

// canonicalAudit fixes the field order and time format that the V1 hash
// covers. Changing it invalidates every stored chain, so it is versioned.
type canonicalAudit struct {
	V            int    `json:"v"`
	Seq          int64  `json:"seq"`
	ID           string `json:"id"`
	Time         string `json:"time"`
	ActorID      string `json:"actor_id"`
	ActorRole    string `json:"actor_role"`
	Action       string `json:"action"`
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id"`
	PatientID    string `json:"patient_id"`
	Outcome      string `json:"outcome"`
	SourceIP     string `json:"source_ip"`
	UserAgent    string `json:"user_agent"`
	RequestID    string `json:"request_id"`
	Detail       string `json:"detail"`
	PrevHash     string `json:"prev_hash"`
}

// canonicalAuditV2 is what the V2 hash covers.
type canonicalAuditV2 struct {
	V                 int    `json:"v"`
	Seq               int64  `json:"seq"`
	ID                string `json:"id"`
	Time              string `json:"time"`
	ActorID           string `json:"actor_id"`
	ActorRole         string `json:"actor_role"`
	Action            string `json:"action"`
	ResourceType      string `json:"resource_type"`
	ResourceID        string `json:"resource_id"` // "" when ResourceIsPatient
	ResourceIsPatient bool   `json:"resource_is_patient"`
	PatientCommit     string `json:"patient_commit"`
	Outcome           string `json:"outcome"`
	SourceIP          string `json:"source_ip"`
	UserAgent         string `json:"user_agent"`
	RequestID         string `json:"request_id"`
	Detail            string `json:"detail"`
	PrevHash          string `json:"prev_hash"`
}

// AuditTimeFormat is how event times are stored and hashed: UTC, microseconds,
// which both SQLite text and PostgreSQL timestamptz keep exactly.
const AuditTimeFormat = "2006-01-02T15:04:05.000000Z"

// AuditPatientCommitment is the V2 commitment to a patient identifier:
// hex SHA-256 of a label, the salt and the identifier; "" for no patient.
// The salt (random per event) keeps the commitment from being matched
// against a list of identifiers once it is dropped at pseudonymisation.
func AuditPatientCommitment(salt, patientID string) string {
	if patientID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("healthhub-audit-patient-v2\n" + salt + "\n" + patientID))
	return hex.EncodeToString(sum[:])
}

// ComputeHash returns the hash e must carry given its PrevHash, its
// content and its ChainVersion.
func (e *AuditEvent) ComputeHash() string {
	var v any
	if e.ChainVersion == AuditChainV2 {
		c := canonicalAuditV2{
			V: AuditChainV2, Seq: e.Seq, ID: e.ID, Time: e.Time.UTC().Format(AuditTimeFormat),
			ActorID: e.ActorID, ActorRole: e.ActorRole, Action: e.Action,
			ResourceType: e.ResourceType, ResourceID: e.ResourceID, PatientCommit: e.PatientCommit,
			Outcome: e.Outcome, SourceIP: e.SourceIP, UserAgent: e.UserAgent,
			RequestID: e.RequestID, Detail: e.Detail, PrevHash: e.PrevHash,
		}
		if e.PatientID != "" && e.ResourceID == e.PatientID {
			c.ResourceID, c.ResourceIsPatient = "", true
		}
		v = c
	} else {
		v = canonicalAudit{
			V: AuditChainV1, Seq: e.Seq, ID: e.ID, Time: e.Time.UTC().Format(AuditTimeFormat),
			ActorID: e.ActorID, ActorRole: e.ActorRole, Action: e.Action,
			ResourceType: e.ResourceType, ResourceID: e.ResourceID, PatientID: e.PatientID,
			Outcome: e.Outcome, SourceIP: e.SourceIP, UserAgent: e.UserAgent,
			RequestID: e.RequestID, Detail: e.Detail, PrevHash: e.PrevHash,
		}
	}
	b, err := json.Marshal(v)
	if err != nil { // cannot happen: only strings, booleans and integers
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// HashVersion is the event's hash format, AuditChainV1 when unset.
func (e *AuditEvent) HashVersion() int {
	if e.ChainVersion == 0 {
		return AuditChainV1
	}
	return e.ChainVersion
}

// Intact reports whether e's stored hash matches its content: for V2, the
// hash and the patient's commitment, which a pseudonymised (Redacted)
// event keeps without its salt. Any other change to a field shows.
func (e *AuditEvent) Intact() bool {
	if e.Hash != e.ComputeHash() {
		return false
	}
	switch e.ChainVersion {
	case 0, AuditChainV1:
		return !e.Redacted && e.PatientSalt == "" && e.PatientCommit == ""
	case AuditChainV2:
		if e.Redacted {
			return e.PatientSalt == "" && e.PatientID != "" && e.PatientCommit != ""
		}
		return e.PatientCommit == AuditPatientCommitment(e.PatientSalt, e.PatientID)
	}
	return false
}

// Pseudonymise replaces the patient identifier of a V2 event (and the
// resource identifier, where it is the patient's) with pseudonym and drops
// the salt; the hash still matches. Stores do the same in SQL. It refuses
// (false) an event already redacted, without a patient, or whose other
// resource identifier is the pseudonym itself.
func (e *AuditEvent) Pseudonymise(pseudonym string) bool {
	if e.ChainVersion != AuditChainV2 || e.Redacted || e.PatientID == "" || pseudonym == "" ||
		(e.ResourceID != e.PatientID && e.ResourceID == pseudonym) { // would read as the patient's
		return false
	}
	if e.ResourceID == e.PatientID {
		e.ResourceID = pseudonym
	}
	e.PatientID, e.PatientSalt, e.Redacted = pseudonym, "", true
	return true
}

// Chain assigns sequence numbers and hashes to events, continuing from the
// given head, in the current format (V2, a fresh salt per event naming a
// patient). Stores call it inside the transaction that holds the head.
func Chain(headSeq int64, headHash string, events []*AuditEvent) (int64, string) {
	for _, e := range events {
		headSeq++
		e.Seq = headSeq
		e.Time = e.Time.UTC().Truncate(time.Microsecond)
		e.PrevHash = headHash
		validUTF8(e)
		e.ChainVersion, e.Redacted, e.PatientSalt = AuditChainV2, false, ""
		if e.PatientID != "" {
			e.PatientSalt = newAuditSalt()
		}
		e.PatientCommit = AuditPatientCommitment(e.PatientSalt, e.PatientID)
		e.Hash = e.ComputeHash()
		headHash = e.Hash
	}
	return headSeq, headHash
}

// validUTF8 replaces invalid UTF-8 in e's fields (a user agent is bytes
// from a request) with U+FFFD before it is hashed: JSON carries only valid
// UTF-8, so an event shipped to an upstream must hash the same after the
// trip, and PostgreSQL refuses invalid text.
func validUTF8(e *AuditEvent) {
	for _, f := range []*string{&e.ID, &e.ActorID, &e.ActorRole, &e.Action, &e.ResourceType, &e.ResourceID, &e.PatientID,
		&e.Outcome, &e.SourceIP, &e.UserAgent, &e.RequestID, &e.Detail} {
		*f = strings.ToValidUTF8(*f, "\uFFFD")
	}
}

func newAuditSalt() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil { // never fails on supported systems
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// AuditFilter narrows ListAudit. Zero values match everything.
type AuditFilter struct {
	PatientID    string
	ActorID      string
	Action       string
	ResourceType string
	From, To     time.Time
	BeforeSeq    int64 // paging: only events with Seq < BeforeSeq
	Limit        int
}

// AuditStore appends to and reads the audit chain. The database itself refuses
// to update or delete audit rows.
type AuditStore interface {
	// AppendAudit chains and stores events in one transaction, in order.
	AppendAudit(ctx context.Context, events []*AuditEvent) error
	// ListAudit returns matching events, newest first, with the actor's and
	// the patient's current names.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
	// ScanAudit returns up to limit events with Seq > afterSeq, oldest first.
	ScanAudit(ctx context.Context, afterSeq int64, limit int) ([]*AuditEvent, error)
	// AuditHead returns the sequence number and hash of the last event.
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
}
