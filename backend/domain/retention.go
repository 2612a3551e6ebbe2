package domain

import (
	"context"
	"time"
)

// LegalHold stops every purge of one patient's data until it is lifted.
type LegalHold struct {
	PatientID string    `json:"patient_id"`
	Reason    string    `json:"reason"`
	PlacedBy  string    `json:"placed_by"`
	PlacedAt  time.Time `json:"placed_at"`
	// PatientName is joined in when holds are listed; empty once the
	// record is gone.
	PatientName string `json:"patient_name,omitempty"`
}

// PatientPurge counts what purging one patient's clinical data removed.
type PatientPurge struct {
	Patients        int `json:"patients"`
	Appointments    int `json:"appointments"`
	ClinicalEntries int `json:"clinical_entries"`
	Conversations   int `json:"conversations"`
	// Consultations with their recordings, transcripts and notes; the
	// recordings' audio is queued as blob garbage.
	Consultations int `json:"consultations"`
	// AuditPseudonymised counts audit events (the installation's own and
	// the copies of nodes' logs it holds) whose patient became a pseudonym.
	AuditPseudonymised int `json:"audit_pseudonymised"`
}

// Add adds o's counts to p.
func (p *PatientPurge) Add(o PatientPurge) {
	p.Patients += o.Patients
	p.Appointments += o.Appointments
	p.ClinicalEntries += o.ClinicalEntries
	p.Conversations += o.Conversations
	p.Consultations += o.Consultations
	p.AuditPseudonymised += o.AuditPseudonymised
}

// RetentionStore keeps legal holds and removes data past its retention.
// Every purge re-checks, in its own transaction, that the data is still
// past its time and the patient not on hold, so a hold placed while a run
// is under way is honoured and a second run removes nothing.
type RetentionStore interface {
	// PutLegalHold places a hold (ECONFLICT when the patient has one).
	PutLegalHold(ctx context.Context, h *LegalHold) error
	// DeleteLegalHold lifts a hold (ENOTFOUND when there is none).
	DeleteLegalHold(ctx context.Context, patientID string) error
	ListLegalHolds(ctx context.Context) ([]*LegalHold, error)
	// PatientsLastContactBefore returns up to limit patients not on hold
	// whose last contact (their record, appointments, clinical entries and
	// changes) is before t, oldest first.
	PatientsLastContactBefore(ctx context.Context, t time.Time, limit int) ([]string, error)
	// PurgePatient removes the patient's clinical data if, inside the
	// transaction, the last contact is still before t and there is no
	// hold; the patient's audit events stay with the patient replaced by
	// pseudonym; the deletions enter the change feed at time at. A patient
	// that no longer qualifies (or exists) is left alone, with zero counts.
	PurgePatient(ctx context.Context, patientID string, t time.Time, pseudonym string, at time.Time) (PatientPurge, error)
	// PseudonymiseAudit replaces patientID by pseudonym in the audit events
	// that still name it (format 2; earlier events cannot be redacted
	// without breaking the chain and are left as written), returning how
	// many changed.
	PseudonymiseAudit(ctx context.Context, patientID, pseudonym string) (int, error)
	// AuditAnchor is the last event removed from the start of the log.
	AuditAnchor(ctx context.Context) (seq int64, hash string, err error)
	// PurgeAuditBefore removes the longest prefix of the audit log whose
	// events are all before t and whose sequence is at most maxSeq, moving
	// the anchor to its last event; the database refuses any event younger
	// than six years. It returns how many events went.
	PurgeAuditBefore(ctx context.Context, t time.Time, maxSeq int64, at time.Time) (int64, error)
}
