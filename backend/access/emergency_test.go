package access

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// grantsAt holds grants as (user, patient) → grant, each in force when the
// clock is within it.
type grantsAt struct {
	now    time.Time
	grants map[[2]string]*domain.EmergencyGrant
	err    error
}

func (g *grantsAt) ActiveGrant(_ context.Context, userID, patientID string) (*domain.EmergencyGrant, error) {
	if g.err != nil {
		return nil, g.err
	}
	if gr, ok := g.grants[[2]string{userID, patientID}]; ok && gr.ActiveAt(g.now) {
		return gr, nil
	}
	return nil, domain.Errorf(domain.ENOTFOUND, "none")
}

func TestGuardHonoursEmergencyGrants(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	grant := &domain.EmergencyGrant{ID: "g1", UserID: "u-doc", PatientID: "p-a", CreatedAt: t0, ExpiresAt: t0.Add(4 * time.Hour)}
	store := &grantsAt{now: t0.Add(time.Hour), grants: map[[2]string]*domain.EmergencyGrant{{"u-doc", "p-a"}: grant}}
	var got events
	g := New(&got)
	doctor := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: "u-doc", Role: domain.RoleDoctor})
	staff := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: "u-doc", Role: domain.RoleStaff})
	record := func(typ, patient string) policy.Resource {
		return policy.Resource{Type: typ, ID: patient, OwnerID: "u-" + patient, PatientID: patient}
	}

	// Without grants in use, a doctor who does not treat the patient is refused.
	if err := g.Authorize(doctor, policy.Read, record(policy.Clinical, "p-a")); !domain.IsCode(err, domain.EFORBIDDEN) {
		t.Fatalf("before grants are used: %v", err)
	}
	g.UseEmergencyGrants(store)
	got = nil
	cases := []struct {
		name    string
		ctx     context.Context
		action  string
		res     policy.Resource
		allowed bool
	}{
		{"read the record", doctor, policy.Read, record(policy.Clinical, "p-a"), true},
		{"add to the record", doctor, policy.Create, record(policy.Clinical, "p-a"), true},
		{"read demographics", doctor, policy.Read, record(policy.Patient, "p-a"), true},
		{"read an appointment", doctor, policy.Read, policy.Resource{Type: policy.Appointment, ID: "a1", DoctorUserID: "u-other", PatientID: "p-a"}, true},
		{"book with oneself", doctor, policy.Create, policy.Resource{Type: policy.Appointment, DoctorUserID: "u-doc", PatientID: "p-a"}, true},
		{"book for another doctor", doctor, policy.Create, policy.Resource{Type: policy.Appointment, DoctorUserID: "u-other", PatientID: "p-a"}, false},
		{"change an entry", doctor, policy.Update, record(policy.Clinical, "p-a"), false},
		{"delete an entry", doctor, policy.Delete, record(policy.Clinical, "p-a"), false},
		{"change demographics", doctor, policy.Update, record(policy.Patient, "p-a"), false},
		{"another patient", doctor, policy.Read, record(policy.Clinical, "p-b"), false},
		{"the audit log", doctor, policy.List, policy.Resource{Type: policy.AuditLog, PatientID: "p-a"}, false},
		{"a role that is not clinical", staff, policy.Read, record(policy.Clinical, "p-a"), false},
	}
	for _, c := range cases {
		got = nil
		err := g.Authorize(c.ctx, c.action, c.res)
		if c.allowed {
			if err != nil || len(got) != 1 || got[0].Detail != DetailEmergency+"g1" || got[0].PatientID != c.res.PatientID ||
				got[0].Outcome != "" || got[0].Action != c.action || got[0].ResourceType != c.res.Type {
				t.Errorf("%s: %v, recorded %+v; want allowed and marked as emergency access", c.name, err, got)
			}
			continue
		}
		if !domain.IsCode(err, domain.EFORBIDDEN) || len(got) != 1 || got[0].Outcome != domain.OutcomeDenied {
			t.Errorf("%s: %v, recorded %+v; want refused and recorded", c.name, err, got)
		}
	}

	// Expired: nothing.
	store.now = t0.Add(4 * time.Hour)
	got = nil
	if err := g.Authorize(doctor, policy.Read, record(policy.Clinical, "p-a")); !domain.IsCode(err, domain.EFORBIDDEN) || got[0].Outcome != domain.OutcomeDenied {
		t.Fatalf("expired grant: %v, %+v", err, got)
	}
	// Covered probes without recording a refusal.
	got = nil
	if ok, err := g.Covered(doctor, policy.Read, record(policy.Appointment, "p-a")); ok || err != nil || len(got) != 0 {
		t.Fatalf("Covered without a grant in force: %v, %v, %+v", ok, err, got)
	}
	store.now = t0
	if ok, err := g.Covered(doctor, policy.Read, record(policy.Appointment, "p-a")); !ok || err != nil || len(got) != 1 {
		t.Fatalf("Covered with a grant in force: %v, %v, %+v", ok, err, got)
	}
	// A store that fails fails the request rather than deciding either way.
	store.err = errors.New("database down")
	if err := g.Authorize(doctor, policy.Read, record(policy.Clinical, "p-a")); err == nil || domain.IsCode(err, domain.EFORBIDDEN) {
		t.Fatalf("grant lookup failing: %v", err)
	}
}
