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
