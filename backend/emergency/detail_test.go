package emergency

import (
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

func TestGrantDetailRoundTrip(t *testing.T) {
	g := &domain.EmergencyGrant{ID: "0190a000-0000-7000-8000-000000000001", Reason: "covering_colleague", Details: "free text that must stay home",
		ExpiresAt: time.Date(2026, 3, 1, 22, 30, 0, 0, time.FixedZone("CET", 3600)), Escalated: true}
	d := grantDetail(g)
	if strings.Contains(d, "free text") {
		t.Fatalf("detail carries the free text: %q", d)
	}
	got, err := ParseGrantDetail(d)
	if err != nil {
		t.Fatal(err)
	}
	if got.GrantID != g.ID || got.Reason != g.Reason || !got.ExpiresAt.Equal(g.ExpiresAt) || !got.Escalated {
		t.Fatalf("parsed %+v from %q", got, d)
	}
	for _, bad := range []string{
		"",
		"emergency_access grant=",
		"emergency_access grant=not-a-uuid reason=other expires=2026-03-01T21:30:00Z escalated=false",
		"emergency_access grant=0190a000-0000-7000-8000-000000000001 reason=curiosity expires=2026-03-01T21:30:00Z escalated=false",
		"emergency_access grant=0190a000-0000-7000-8000-000000000001 reason=other expires=tomorrow escalated=false",
		"emergency_access grant=0190a000-0000-7000-8000-000000000001 reason=other expires=2026-03-01T21:30:00Z escalated=perhaps",
		"emergency_access grant=0190a000-0000-7000-8000-000000000001 reason=other expires=2026-03-01T21:30:00Z colour=blue",
		"emergency_access grant=0190a000-0000-7000-8000-000000000001 reason=other reason=other escalated=true",
		"emergency_access grant=0190a000-0000-7000-8000-000000000001 reason=other",
	} {
		if _, err := ParseGrantDetail(bad); err == nil {
			t.Errorf("ParseGrantDetail(%q) accepted", bad)
		}
	}
}

// FuzzParseGrantDetail: the detail of a grant's event comes from another
// installation's audit log. Whatever it holds, reading it does not panic,
// and what is read back writes the same detail again.
func FuzzParseGrantDetail(f *testing.F) {
	f.Add("emergency_access grant=0190a000-0000-7000-8000-000000000001 reason=other expires=2026-03-01T21:30:00Z escalated=false")
	f.Add("emergency_access grant=0190a000-0000-7000-8000-000000000001 reason=life_threatening expires=2026-03-01T21:30:00+01:00 escalated=true")
	f.Add("emergency_access grant= reason= expires= escalated=")
	f.Add("hidden_as_not_found")
	f.Add("emergency_access grant=0190a000-0000-7000-8000-000000000001 reason=other expires=2026-03-01T21:30:00.123456789+05:30 escalated=false")
	f.Fuzz(func(t *testing.T, detail string) {
		ge, err := ParseGrantDetail(detail)
		if err != nil {
			return
		}
		again, err := ParseGrantDetail(grantDetail(&domain.EmergencyGrant{ID: ge.GrantID, Reason: ge.Reason, ExpiresAt: ge.ExpiresAt, Escalated: ge.Escalated}))
		if err != nil || again.GrantID != ge.GrantID || again.Reason != ge.Reason || !again.ExpiresAt.Equal(ge.ExpiresAt) || again.Escalated != ge.Escalated {
			t.Fatalf("%q read as %+v, written and read again as %+v, %v", detail, ge, again, err)
		}
	})
}
