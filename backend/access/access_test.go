package access

import (
	"context"
	"testing"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

type events []audit.Event

func (e *events) Record(_ context.Context, ev audit.Event) error {
	*e = append(*e, ev)
	return nil
}

func TestGuardRecordsRefusalsWithThePatient(t *testing.T) {
	var got events
	g := New(&got)
	patient := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: "u-pat", Role: domain.RolePatient})
	staff := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: "u-staff", Role: domain.RoleStaff})
	someoneElses := policy.Resource{Type: policy.Patient, ID: "p-b", OwnerID: "u-b", PatientID: "p-b"}

	if err := g.Authorize(staff, policy.Read, someoneElses); err != nil || len(got) != 0 {
		t.Fatalf("allowed: %v, recorded %+v (the operation records what it did)", err, got)
	}
	if err := g.Authorize(patient, policy.Read, someoneElses); !domain.IsCode(err, domain.EFORBIDDEN) {
		t.Fatalf("refused: %v", err)
	}
	if len(got) != 1 || got[0].Outcome != domain.OutcomeDenied || got[0].PatientID != "p-b" || got[0].Action != policy.Read || got[0].ResourceType != policy.Patient {
		t.Fatalf("refusal recorded as %+v", got)
	}
	// No one signed in: refused without a record; one's own account is not
	// patient data.
	if err := g.Authorize(context.Background(), policy.Read, someoneElses); !domain.IsCode(err, domain.EUNAUTHORIZED) || len(got) != 1 {
		t.Fatalf("anonymous: %v, %d events", err, len(got))
	}
	pending := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: "u-pat", Role: domain.RolePatient, MFAPending: true})
	if err := g.Authorize(pending, policy.Read, policy.Resource{Type: policy.Self, OwnerID: "u-pat"}); err != nil || len(got) != 1 {
		t.Fatalf("own account: %v, %d events", err, len(got))
	}
	// Hidden: answered not found, recorded as a refusal.
	err := g.Hidden(patient, policy.Update, policy.Resource{Type: policy.Conversation, ID: "c1", PatientID: "p-b"}, "No such conversation.")
	if !domain.IsCode(err, domain.ENOTFOUND) || len(got) != 2 || got[1].Detail != DetailHidden || got[1].PatientID != "p-b" {
		t.Fatalf("hidden: %v, %+v", err, got)
	}
}
