package domain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	// Names of the actor and the patient, joined in by ListAudit when the
	// log is read. They are not part of the chain: an account or record
	// renamed later shows its current name, and the hash never covers them.
	ActorName   string `json:"actor_name,omitempty"`
	PatientName string `json:"patient_name,omitempty"`
}

// canonicalAudit fixes the field order and time format that the hash covers.
// Changing it invalidates every stored chain, so it is versioned.
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

// AuditTimeFormat is how event times are stored and hashed: UTC, microseconds,
// which both SQLite text and PostgreSQL timestamptz keep exactly.
const AuditTimeFormat = "2006-01-02T15:04:05.000000Z"

// ComputeHash returns the hash e must carry given its PrevHash and content.
func (e *AuditEvent) ComputeHash() string {
	c := canonicalAudit{
		V: 1, Seq: e.Seq, ID: e.ID, Time: e.Time.UTC().Format(AuditTimeFormat),
		ActorID: e.ActorID, ActorRole: e.ActorRole, Action: e.Action,
		ResourceType: e.ResourceType, ResourceID: e.ResourceID, PatientID: e.PatientID,
		Outcome: e.Outcome, SourceIP: e.SourceIP, UserAgent: e.UserAgent,
		RequestID: e.RequestID, Detail: e.Detail, PrevHash: e.PrevHash,
	}
	b, err := json.Marshal(c)
	if err != nil { // cannot happen: only strings and integers
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Chain assigns sequence numbers and hashes to events, continuing from the
// given head. Stores call it inside the transaction that holds the head.
func Chain(headSeq int64, headHash string, events []*AuditEvent) (int64, string) {
	for _, e := range events {
		headSeq++
		e.Seq = headSeq
		e.Time = e.Time.UTC().Truncate(time.Microsecond)
		e.PrevHash = headHash
		e.Hash = e.ComputeHash()
		headHash = e.Hash
	}
	return headSeq, headHash
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
