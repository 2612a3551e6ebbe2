package domain

import (
	"context"
	"time"
)

// EmergencyGrant is a clinician's time-boxed access to one patient's record
// that the rules would otherwise refuse ("break-glass"): asked for with a
// reason after signing in again, reviewed afterwards by a privacy officer.
type EmergencyGrant struct {
	ID        string `json:"id"`
	UserID    string `json:"user_id"`
	UserRole  string `json:"user_role"`
	PatientID string `json:"patient_id"`
	// Reason is one of the fixed reason codes; Details the clinician's own
	// words. Details stay where they were written: they may name clinical
	// facts, so they never enter the audit log or travel by sync.
	Reason    string    `json:"reason"`
	Details   string    `json:"details"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// NodeID is the node the grant was made on, for a grant that reached
	// this installation by sync; empty for one made here.
	NodeID string `json:"node_id,omitempty"`
	// Escalated marks a grant by someone who has used emergency access
	// repeatedly in a short time.
	Escalated bool `json:"escalated"`
	// Review: pending until a privacy officer decides.
	ReviewStatus string    `json:"review_status"`
	ReviewNote   string    `json:"review_note,omitempty"`
	ReviewedBy   string    `json:"reviewed_by,omitempty"`
	ReviewedAt   time.Time `json:"reviewed_at,omitzero"`
	// Names joined in when grants are listed; not stored with the grant.
	UserName    string `json:"user_name,omitempty"`
	PatientName string `json:"patient_name,omitempty"`
}

// Review states of an emergency grant.
const (
	ReviewPending      = "pending"
	ReviewJustified    = "justified"
	ReviewNotJustified = "not_justified"
)

// ActiveAt reports whether g allows access at t.
func (g *EmergencyGrant) ActiveAt(t time.Time) bool {
	return !t.Before(g.CreatedAt) && t.Before(g.ExpiresAt)
}

// EmergencyFilter narrows ListEmergencyGrants. Zero values match everything.
type EmergencyFilter struct {
	UserID       string
	PatientID    string
	ReviewStatus string
	Since        time.Time // created at or after
	Limit        int
}

// EmergencyStore keeps emergency grants, their reviews and the accounts
// given the privacy officer's capability.
type EmergencyStore interface {
	// CreateEmergencyGrant stores g and reports whether it was new: a grant
	// whose id is already stored (delivered again by sync) is left as it is.
	CreateEmergencyGrant(ctx context.Context, g *EmergencyGrant) (bool, error)
	EmergencyGrant(ctx context.Context, id string) (*EmergencyGrant, error)
	// ActiveEmergencyGrant is the user's grant on the patient that allows
	// access at t and ends last; not found when there is none.
	ActiveEmergencyGrant(ctx context.Context, userID, patientID string, t time.Time) (*EmergencyGrant, error)
	// ListEmergencyGrants returns matching grants, newest first, with the
	// names of the clinician and the patient.
	ListEmergencyGrants(ctx context.Context, f EmergencyFilter) ([]*EmergencyGrant, error)
	// ReviewEmergencyGrant records a decision on a pending grant; a grant
	// already decided is a conflict.
	ReviewEmergencyGrant(ctx context.Context, id, status, note, reviewerID string, at time.Time) (*EmergencyGrant, error)
	// SetPrivacyOfficer gives or takes away the capability.
	SetPrivacyOfficer(ctx context.Context, userID string, on bool, at time.Time) error
	// PrivacyOfficers lists the accounts holding the capability.
	PrivacyOfficers(ctx context.Context) ([]string, error)
}
