// Package trail is the audit log as the clinic reads it: searching,
// verifying and exporting it. Reading the log is itself recorded, and
// decided, like any other access.
package trail

import (
	"context"
	"io"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// Service reads the audit log.
type Service struct {
	store  audit.Reader
	log    audit.Recorder
	access *access.Guard
}

// New returns the service over the log's store.
func New(store audit.Reader, log audit.Recorder) *Service {
	return &Service{store: store, log: log, access: access.New(log)}
}

// Events returns the events matching f, newest first. The read is recorded
// before it is made, naming the patient the caller asked about.
func (s *Service) Events(ctx context.Context, f domain.AuditFilter) ([]*domain.AuditEvent, error) {
	if err := s.access.Authorize(ctx, policy.List, policy.Resource{Type: policy.AuditLog, PatientID: f.PatientID}); err != nil {
		return nil, err
	}
	if err := s.log.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: "audit_event", PatientID: f.PatientID}); err != nil {
		return nil, err
	}
	evs, err := s.store.ListAudit(ctx, f)
	if evs == nil {
		evs = []*domain.AuditEvent{}
	}
	return evs, err
}

// Verify checks the whole chain and records that it was checked, and how it
// stood.
func (s *Service) Verify(ctx context.Context) (audit.Report, error) {
	if err := s.access.Authorize(ctx, policy.Verify, policy.Resource{Type: policy.AuditLog}); err != nil {
		return audit.Report{}, err
	}
	rep, err := audit.Verify(ctx, s.store)
	if err != nil {
		return rep, err
	}
	return rep, s.log.Record(ctx, audit.VerifyEvent(rep))
}

// Export writes the events matching f to w as FHIR AuditEvent NDJSON, once
// the export is recorded. start is called before the first byte, so the
// caller can send its headers.
func (s *Service) Export(ctx context.Context, f domain.AuditFilter, start func(), w io.Writer) (int, error) {
	if err := s.access.Authorize(ctx, policy.Export, policy.Resource{Type: policy.AuditLog, PatientID: f.PatientID}); err != nil {
		return 0, err
	}
	if err := s.log.Record(ctx, audit.Event{Action: domain.ActionExport, ResourceType: "audit_event", PatientID: f.PatientID, Detail: "format=fhir-ndjson"}); err != nil {
		return 0, err
	}
	start()
	return audit.ExportNDJSON(ctx, s.store, f, w)
}
