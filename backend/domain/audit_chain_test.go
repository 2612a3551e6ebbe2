package domain_test

import (
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

func oldEvent() *domain.AuditEvent {
	return &domain.AuditEvent{Seq: 7, ID: "ev-7", Time: time.Date(2019, 4, 5, 6, 7, 8, 123456000, time.UTC), ActorID: "doc-1", ActorRole: "doctor",
		Action: "read", ResourceType: "patient", ResourceID: "pat-1", PatientID: "pat-1", Outcome: "success", SourceIP: "198.51.100.7",
		UserAgent: "ua", RequestID: "r-1", PrevHash: "abc"}
}

// Events written before format 2 keep the hash they were written with: the
// value below is what the format-1 code computed for this event.
func TestFormat1HashUnchanged(t *testing.T) {
	const want = "4b54dee29ca26a7ed2af317879fe3eccab0c8e943eeb45adad71cc4e041018bd"
	for _, v := range []int{0, domain.AuditChainV1} {
		e := oldEvent()
		e.ChainVersion = v
		if got := e.ComputeHash(); got != want {
			t.Fatalf("version %d: hash %s, want %s", v, got, want)
		}
		e.Hash = want
		if !e.Intact() {
			t.Fatalf("version %d: a format-1 event does not verify", v)
		}
		if e.Pseudonymise("pn-x") {
			t.Fatal("a format-1 event was pseudonymised: its hash covers the identifier")
		}
	}
}

func TestFormat2Pseudonymisation(t *testing.T) {
	e := oldEvent()
	domain.Chain(6, "abc", []*domain.AuditEvent{e})
	if e.ChainVersion != domain.AuditChainV2 || e.PatientSalt == "" || !e.Intact() {
		t.Fatalf("chained event %+v", e)
	}
	hash := e.Hash
	red := *e
	if !red.Pseudonymise("pn-0123") || red.Hash != hash || !red.Intact() {
		t.Fatalf("pseudonymised event %+v does not verify", red)
	}
	if red.PatientID != "pn-0123" || red.ResourceID != "pn-0123" || red.PatientSalt != "" || !red.Redacted {
		t.Fatalf("pseudonymised event %+v", red)
	}
	if red.Pseudonymise("pn-other") {
		t.Fatal("pseudonymised twice")
	}
	tampers := map[string]func(e *domain.AuditEvent){
		"patient replaced, unredacted":  func(e *domain.AuditEvent) { e.PatientID, e.ResourceID = "pat-2", "pat-2" },
		"resource apart from patient":   func(e *domain.AuditEvent) { e.ResourceID = "pat-2" },
		"salt changed":                  func(e *domain.AuditEvent) { e.PatientSalt = "00" },
		"marked redacted, salt kept":    func(e *domain.AuditEvent) { e.Redacted, e.PatientID = true, "pn-1" },
		"detail":                        func(e *domain.AuditEvent) { e.Detail = "x" },
		"commitment replaced":           func(e *domain.AuditEvent) { e.PatientCommit = domain.AuditPatientCommitment("s", "pat-2") },
		"downgraded to format 1":        func(e *domain.AuditEvent) { e.ChainVersion = domain.AuditChainV1 },
		"patient removed":               func(e *domain.AuditEvent) { e.PatientID = "" },
		"redacted: resource apart":      func(e *domain.AuditEvent) { e.Pseudonymise("pn-1"); e.ResourceID = "other" },
		"redacted: actor":               func(e *domain.AuditEvent) { e.Pseudonymise("pn-1"); e.ActorID = "other" },
		"redacted: salt put back":       func(e *domain.AuditEvent) { e.Pseudonymise("pn-1"); e.PatientSalt = "00" },
		"redacted: patient emptied":     func(e *domain.AuditEvent) { e.Pseudonymise("pn-1"); e.PatientID, e.ResourceID = "", "" },
		"redacted: commitment replaced": func(e *domain.AuditEvent) { e.Pseudonymise("pn-1"); e.PatientCommit = "00" },
	}
	for name, tamper := range tampers {
		c := *e
		tamper(&c)
		if c.Intact() {
			t.Errorf("%s: still verifies", name)
		}
	}
}
