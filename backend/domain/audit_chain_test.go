package domain_test

import (
	"encoding/json"
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

// FuzzAuditEventFromNode: an event as a node ships it (JSON) verifies after
// the round trip, still verifies once pseudonymised, and stops verifying
// when any other field changes; arbitrary JSON never panics the check.
func FuzzAuditEventFromNode(f *testing.F) {
	f.Add("pat-1", "pat-1", "detail", "pn-1", []byte(`{"seq":1,"chain_version":2,"patient_id":"x","patient_commit":"00","redacted":true}`))
	f.Add("", "res", "", "pn-2", []byte(`{"chain_version":7}`))
	f.Add("p\u00e9", "other", "d\x00", "pn-\u2603", []byte(`[]`))
	f.Fuzz(func(t *testing.T, patient, resource, detail, pseudonym string, raw []byte) {
		var any domain.AuditEvent
		if json.Unmarshal(raw, &any) == nil {
			_ = any.Intact()
		}
		e := oldEvent()
		e.PatientID, e.ResourceID, e.Detail = patient, resource, detail
		domain.Chain(0, "", []*domain.AuditEvent{e})
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var shipped domain.AuditEvent
		if err := json.Unmarshal(b, &shipped); err != nil {
			t.Fatal(err)
		}
		if !shipped.Intact() {
			t.Fatalf("a chained event does not verify after the round trip: %+v", shipped)
		}
		red := shipped
		ok := red.Pseudonymise(pseudonym)
		p, r := shipped.PatientID, shipped.ResourceID // as chained: valid UTF-8
		if want := p != "" && pseudonym != "" && (r == p || r != pseudonym); ok != want {
			t.Fatalf("pseudonymised = %t for patient %q, resource %q, pseudonym %q", ok, patient, resource, pseudonym)
		}
		if !red.Intact() {
			t.Fatalf("a pseudonymised event does not verify: %+v", red)
		}
		red.Detail += "x"
		if red.Intact() {
			t.Fatal("an edited event verifies")
		}
	})
}
