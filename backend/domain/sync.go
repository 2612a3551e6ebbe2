package domain

import (
	"context"
	"time"
)

// Sync: a node (a workstation, or a clinic server) sends its appointment
// changes to its upstream as operations, pulls the upstream's changes, and
// ships its audit log. The upstream is authoritative for appointments and
// for the reference data (doctors, their hours, patients) that flows down.

// RoleNode is the role of an enrolled node calling its upstream. No user
// account has it; it is the principal of sync requests only.
const RoleNode Role = "node"

// Entities in the change feed, besides ChangeEntityAppointment.
const (
	ChangeEntityConflict     = "conflict"
	ChangeEntityDoctor       = "doctor"
	ChangeEntityAvailability = "availability"
	ChangeEntityPatient      = "patient"
	ChangeEntityLease        = "lease"
)

// SyncLease is a block of a doctor's time that the upstream lends to one
// node until ExpiresAt (or until released): inside it, only that node's
// bookings may hold time, so the node confirms them at once, even offline,
// and they can never conflict. NodeID "" is this installation itself (a
// node stores its own leases so). The databases enforce it: an appointment
// that would hold time inside another holder's active lease is refused, and
// two active leases of a doctor never overlap.
type SyncLease struct {
	ID         string    `json:"id"`
	NodeID     string    `json:"node_id"`
	DoctorID   string    `json:"doctor_id"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	ExpiresAt  time.Time `json:"expires_at"`
	CreatedAt  time.Time `json:"created_at"`
	ReleasedAt time.Time `json:"released_at"`
}

// Active reports whether the lease still holds at now.
func (l *SyncLease) Active(now time.Time) bool {
	return l.ReleasedAt.IsZero() && now.Before(l.ExpiresAt)
}

// ErrResync answers a pull from a cursor older than the change log keeps:
// the node must pull everything again from the start (a snapshot).
var ErrResync = &Error{Code: EGONE, Field: "after", Message: "This cursor is older than the change log keeps; pull again from the start (a node does so by itself)."}

// ErrLeased is the refusal of time inside another holder's lease.
var ErrLeased = &Error{Code: ECONFLICT, Message: "This time is lent to another site that syncs with this server (a slot lease); choose another time or ask that site."}

// SyncNode is an installation enrolled with this server as its upstream.
// DoctorIDs limits which doctors' appointments it may change (empty: all).
// PublicKey is its checkpoint verifier key (a signed-note verifier key).
type SyncNode struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	PublicKey      string    `json:"public_key"`
	CredentialHash string    `json:"-"`
	DoctorIDs      []string  `json:"doctor_ids"`
	EnrolledBy     string    `json:"enrolled_by"`
	EnrolledAt     time.Time `json:"enrolled_at"`
	RevokedBy      string    `json:"revoked_by,omitempty"`
	RevokedAt      time.Time `json:"revoked_at"`
	LastSeenAt     time.Time `json:"last_seen_at"`
	// AuditSize is how many of its audit events the upstream holds.
	AuditSize int64 `json:"audit_size"`
}

// Revoked reports whether the node may no longer sync.
func (n *SyncNode) Revoked() bool { return !n.RevokedAt.IsZero() }

// SyncEnrollment is a one-time code an admin makes for a node to enroll
// with. Only the code's hash is stored.
type SyncEnrollment struct {
	ID        string    `json:"id"`
	CodeHash  string    `json:"-"`
	Name      string    `json:"name"`
	DoctorIDs []string  `json:"doctor_ids"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at"`
	NodeID    string    `json:"node_id,omitempty"`
}

// Op kinds and outcomes.
const (
	OpBook   = "book"   // create the appointment as given
	OpUpdate = "update" // change times, status or reasons from BaseVersion

	OutcomeApplied  = "applied"
	OutcomeConflict = "conflict"
	OutcomeRejected = "rejected"
)

// SyncOp is one change a node made, queued in its outbox in the transaction
// that made it and applied upstream exactly once. BaseVersion is the
// upstream version the change was made from: the appointment's UpdatedAt at
// the upstream (AuditTimeFormat), "op:<id>" for the version an earlier op of
// this node makes, or "" for a booking.
type SyncOp struct {
	ID          string       `json:"op_id"`
	Seq         int64        `json:"seq"`
	Entity      string       `json:"entity"`
	EntityID    string       `json:"entity_id"`
	Kind        string       `json:"kind"`
	BaseVersion string       `json:"base_version"`
	Appointment *Appointment `json:"appointment"`
	ActorID     string       `json:"actor_id"`
	ActorRole   string       `json:"actor_role"`
	CreatedAt   time.Time    `json:"created_at"`
}

// SyncOpResult is what the upstream did with an op. It is kept, so that an
// op delivered again gets the same answer and changes nothing.
type SyncOpResult struct {
	OpID     string `json:"op_id"`
	NodeID   string `json:"-"`
	EntityID string `json:"entity_id"`
	Outcome  string `json:"outcome"`
	Reason   string `json:"reason,omitempty"`
	// Version is the appointment's version after the op (applied).
	Version string `json:"version,omitempty"`
	// Appointment is the upstream's state of it after the op, when it has one.
	Appointment *Appointment `json:"appointment,omitempty"`
	// Conflict is the conflict recorded for a lost race.
	Conflict *SyncConflict `json:"conflict,omitempty"`
	At       time.Time     `json:"at"`
}

// SyncConflict is an op that lost: its booking or move was not made, and a
// front desk has to rebook. ID is the op's id; WinnerID the appointment that
// holds the time, when there is one.
type SyncConflict struct {
	ID            string    `json:"id"`
	NodeID        string    `json:"node_id"`
	AppointmentID string    `json:"appointment_id"`
	DoctorID      string    `json:"doctor_id"`
	PatientID     string    `json:"patient_id"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Kind          string    `json:"kind"` // the op's kind
	Outcome       string    `json:"outcome"`
	Reason        string    `json:"reason"`
	WinnerID      string    `json:"winner_id,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	ResolvedBy    string    `json:"resolved_by,omitempty"`
	ResolvedAt    time.Time `json:"resolved_at"`
}

// SyncWrite is the upstream's write for one op, made in the transaction
// that records its result: create or update Appointment (Expect guards an
// update), and record Conflict. Either may be nil.
type SyncWrite struct {
	Appointment *Appointment
	Create      bool
	Expect      time.Time
	Notes       []*Notification
	Conflict    *SyncConflict
	// Forward, when set, queues the appointment's change in this
	// installation's own outbox too (as BookAppointmentQueued does): a
	// clinic server passes its nodes' changes on to the hosted service.
	Forward *SyncOp
}

// StoredHash is one hash of a node's audit tree at the upstream.
type StoredHash struct {
	Index int64
	Hash  [32]byte
}

// SyncAudit is what the upstream holds of a node's audit log.
type SyncAudit struct {
	Size       int64
	HeadHash   string // the chain hash of the last event
	Checkpoint []byte // the last accepted signed checkpoint
}

// Synced reference data, as it flows down from the upstream. Sealed patient
// fields travel open (over TLS) and are sealed with the node's own keys.
type SyncedDoctor struct {
	Doctor  *Doctor `json:"doctor"`
	Account *User   `json:"account"`
}

// ErrOpReplay: the op was answered before; the stored answer is returned.
var ErrOpReplay = &Error{Code: ECONFLICT, Message: "This operation was already answered."}

// SyncStore keeps both sides of sync. Every installation has both: a clinic
// server is the upstream of its workstations and a node of the hosted
// service.
type SyncStore interface {
	// Upstream: nodes and enrolment.
	CreateSyncEnrollment(ctx context.Context, e *SyncEnrollment) error
	// EnrollSyncNode uses the code whose hash is codeHash (unused, not
	// expired at n.EnrolledAt) and stores n, in one transaction; n takes
	// the enrolment's name when it has none, and its DoctorIDs. An unknown,
	// used or expired code is not found.
	EnrollSyncNode(ctx context.Context, codeHash string, n *SyncNode) error
	SyncNodeByID(ctx context.Context, id string) (*SyncNode, error)
	SyncNodeByCredential(ctx context.Context, credentialHash string) (*SyncNode, error)
	ListSyncNodes(ctx context.Context) ([]*SyncNode, error)
	RevokeSyncNode(ctx context.Context, id, by string, at time.Time) error
	TouchSyncNode(ctx context.Context, id string, at time.Time) error

	// Upstream: ops. SyncOpResult is the stored result of an op (not found
	// when it has none). ApplySyncOp stores res and makes w in one
	// transaction; when the op already has a result, it changes nothing,
	// fills res with the stored one and returns ErrOpReplay. An
	// overlap of w's appointment is a conflict (nothing stored).
	SyncOpResult(ctx context.Context, opID string) (*SyncOpResult, error)
	ApplySyncOp(ctx context.Context, res *SyncOpResult, w SyncWrite) error

	// Upstream: the audit logs of nodes. AppendSyncAudit adds events and
	// the new stored hashes, and sets the checkpoint, only while the upstream
	// still holds prevSize events of the node (else a conflict).
	SyncAuditState(ctx context.Context, nodeID string) (SyncAudit, error)
	SyncAuditEvent(ctx context.Context, nodeID string, seq int64) (*AuditEvent, error)
	SyncAuditEvents(ctx context.Context, nodeID string, after int64, limit int) ([]*AuditEvent, error)
	SyncTreeHashes(ctx context.Context, nodeID string, indexes []int64) ([][32]byte, error)
	AppendSyncAudit(ctx context.Context, nodeID string, prevSize int64, events []*AuditEvent, hashes []StoredHash, next SyncAudit) error

	// Conflicts, on both sides: PutSyncConflict stores or replaces one
	// (keeping a resolution already made); the upstream writes a change.
	PutSyncConflict(ctx context.Context, c *SyncConflict) error
	SyncConflictByID(ctx context.Context, id string) (*SyncConflict, error)
	ListSyncConflicts(ctx context.Context, openOnly bool, limit int) ([]*SyncConflict, error)
	ResolveSyncConflict(ctx context.Context, id, by string, at time.Time) error

	// Node: the outbox. BookAppointmentQueued and UpdateAppointmentQueued
	// are BookAppointment and UpdateAppointment that also append op to the
	// outbox in their transaction; op.BaseVersion is filled in there ("op:"
	// and the entity's last queued op when one is unanswered, else the
	// upstream version last seen).
	BookAppointmentQueued(ctx context.Context, a *Appointment, notes []*Notification, op *SyncOp) error
	UpdateAppointmentQueued(ctx context.Context, a *Appointment, expectUpdated time.Time, notes []*Notification, op *SyncOp) error
	// QueuedOps returns up to limit unanswered ops, oldest first.
	QueuedOps(ctx context.Context, limit int) ([]*SyncOp, error)
	// AnswerSyncOp records the upstream's answer to a queued op and, in the
	// same transaction, writes its outcome locally: the upstream's state of
	// the appointment (unless a later op of the node is still unanswered),
	// its version, and the conflict. Answering an answered op changes
	// nothing.
	AnswerSyncOp(ctx context.Context, res *SyncOpResult) error
	// OutboxStats counts unanswered ops and gives the oldest's time.
	OutboxStats(ctx context.Context) (queued int, oldest time.Time, err error)

	// Node: pulled state. Each Put writes the upstream's state locally
	// without queueing an op; PutSyncedAppointment skips (returns false) an
	// appointment with unanswered ops. An overlap is a conflict.
	PutSyncedAppointment(ctx context.Context, a *Appointment) (bool, error)
	PutSyncedDoctor(ctx context.Context, d *SyncedDoctor, hours *Availability) error
	PutSyncedPatient(ctx context.Context, p *Patient) error

	// Leases, on both sides. GrantSyncLease stores an active lease (an
	// overlap with another active lease of the doctor is a conflict) and
	// writes a change; PutSyncLease stores or replaces one as the upstream
	// sent it (a node's copy); ReleaseSyncLease ends one now (ENOTFOUND
	// when no active lease has that id and holder) and writes a change;
	// ExpireSyncLeases releases every lease whose ExpiresAt is not after
	// now, returning how many. LeaseCovering returns the active lease of
	// holder nodeID that covers [start, end) of the doctor, or ENOTFOUND.
	GrantSyncLease(ctx context.Context, l *SyncLease) error
	PutSyncLease(ctx context.Context, l *SyncLease) error
	ReleaseSyncLease(ctx context.Context, id, nodeID string, at time.Time) error
	ExpireSyncLeases(ctx context.Context, now time.Time) (int, error)
	SyncLeaseByID(ctx context.Context, id string) (*SyncLease, error)
	ListSyncLeases(ctx context.Context, activeOnly bool, limit int) ([]*SyncLease, error)
	LeaseCovering(ctx context.Context, nodeID, doctorID string, start, end time.Time) (*SyncLease, error)

	// Upstream: the change log's upkeep. CompactChanges removes change rows
	// that a later row of the same entity supersedes, and the last rows of
	// tombstones (cancelled or voided appointments, resolved conflicts,
	// released leases) changed before keepSince; it moves the horizon to the
	// newest tombstone row removed, and returns how many rows went. From
	// then on Changes after a cursor that may have missed a removed
	// tombstone returns ErrResync; "" (the start) is always served and
	// yields every entity that is not a tombstone (a pull begun at "" says
	// so in its cursors, and is not sent back to the start).
	CompactChanges(ctx context.Context, keepSince time.Time) (int, error)

	// Node: small state (cursor, node id, credential, checkpoints sent).
	SyncValue(ctx context.Context, key string) (string, error)
	SetSyncValue(ctx context.Context, key, value string) error
}
