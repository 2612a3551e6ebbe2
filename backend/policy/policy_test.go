package policy

import (
	"testing"

	"github.com/healthhub/healthhub/backend/domain"
)

func TestAuthorize(t *testing.T) {
	patient := &domain.Principal{UserID: "p1", Role: domain.RolePatient}
	admin := &domain.Principal{UserID: "a1", Role: domain.RoleAdmin}
	pending := &domain.Principal{UserID: "a2", Role: domain.RoleAdmin, MFAPending: true}
	cases := []struct {
		p      *domain.Principal
		action string
		res    Resource
		want   string
	}{
		{nil, Read, Resource{Type: Self}, domain.EUNAUTHORIZED},
		{patient, Read, Resource{Type: Account, ID: "p1", OwnerID: "p1"}, ""},
		{patient, Read, Resource{Type: Account, ID: "p2", OwnerID: "p2"}, domain.EFORBIDDEN},
		{patient, Read, Resource{Type: Account}, domain.EFORBIDDEN}, // no owner never matches "own"
		{patient, Update, Resource{Type: Account, ID: "p1", OwnerID: "p1"}, domain.EFORBIDDEN},
		{admin, Update, Resource{Type: Account, ID: "p1", OwnerID: "p1"}, ""},
		{admin, Verify, Resource{Type: AuditLog}, ""},
		{admin, "launch", Resource{Type: AuditLog}, domain.EFORBIDDEN}, // unknown action
		{admin, Read, Resource{Type: "spaceship"}, domain.EFORBIDDEN},  // unknown resource
		{pending, Verify, Resource{Type: AuditLog}, domain.EFORBIDDEN}, // must enrol first
		{pending, Update, Resource{Type: Self, OwnerID: "a2"}, ""},     // may enrol
	}
	for _, c := range cases {
		err := Authorize(c.p, c.action, c.res)
		if got := domain.ErrorCode(err); got != c.want {
			t.Errorf("%v %s %+v: %q (%v), want %q", c.p, c.action, c.res, got, err, c.want)
		}
	}
	if err := Authorize(patient, List, Resource{Type: AuditLog}); err == nil || domain.ErrorMessage(err) != "Your role (patient) may not list this audit log." {
		t.Errorf("message: %v", err)
	}
}

func TestEmergencyAndPrivacyRules(t *testing.T) {
	doctor := &domain.Principal{UserID: "d1", Role: domain.RoleDoctor}
	staff := &domain.Principal{UserID: "s1", Role: domain.RoleStaff}
	patient := &domain.Principal{UserID: "p1", Role: domain.RolePatient}
	admin := &domain.Principal{UserID: "a1", Role: domain.RoleAdmin}
	granted := Resource{Type: Clinical, ID: "x", PatientID: "x", EmergencyGrantID: "g1"}
	cases := []struct {
		p      *domain.Principal
		action string
		res    Resource
		want   string
	}{
		{doctor, Create, Resource{Type: EmergencyAccess, PatientID: "x"}, ""},
		{staff, Create, Resource{Type: EmergencyAccess, PatientID: "x"}, domain.EFORBIDDEN},
		{patient, Create, Resource{Type: EmergencyAccess, PatientID: "x"}, domain.EFORBIDDEN},
		{admin, Create, Resource{Type: EmergencyAccess, PatientID: "x"}, domain.EFORBIDDEN},
		{doctor, Read, granted, ""},
		{doctor, Create, granted, ""},
		{doctor, Delete, granted, domain.EFORBIDDEN},
		{doctor, Update, granted, domain.EFORBIDDEN},
		{doctor, Read, Resource{Type: Clinical, ID: "x", EmergencyGrantID: "g1"}, domain.EFORBIDDEN}, // a grant names a patient
		{patient, Read, granted, domain.EFORBIDDEN},
		{staff, Read, granted, domain.EFORBIDDEN},
		{admin, List, Resource{Type: EmergencyReview}, ""},
		{staff, List, Resource{Type: EmergencyReview}, domain.EFORBIDDEN},
		{staff, Update, Resource{Type: EmergencyReview, PrivacyOfficer: true}, ""},
		{doctor, List, Resource{Type: EmergencyReview, PrivacyOfficer: true}, ""},
		{patient, List, Resource{Type: EmergencyReview, PrivacyOfficer: true}, domain.EFORBIDDEN},
		{staff, Update, Resource{Type: PrivacyOfficers, PrivacyOfficer: true}, domain.EFORBIDDEN}, // officers do not name officers
		{admin, Update, Resource{Type: PrivacyOfficers}, ""},
		{admin, Update, Resource{Type: LegalHold, PatientID: "x"}, ""},
		{staff, Update, Resource{Type: LegalHold, PatientID: "x"}, domain.EFORBIDDEN},
		{staff, Update, Resource{Type: LegalHold, PatientID: "x", PrivacyOfficer: true}, ""},
		{doctor, List, Resource{Type: LegalHold, PrivacyOfficer: true}, ""},
		{patient, Update, Resource{Type: LegalHold, PatientID: "x", PrivacyOfficer: true}, domain.EFORBIDDEN},
		{staff, Update, Resource{Type: Settings, ID: "retention", PrivacyOfficer: true}, domain.EFORBIDDEN}, // the periods are the admins'
	}
	for _, c := range cases {
		if got := domain.ErrorCode(Authorize(c.p, c.action, c.res)); got != c.want {
			t.Errorf("%s %s %+v: %q, want %q", c.p.Role, c.action, c.res, got, c.want)
		}
	}
}
