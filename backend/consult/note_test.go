package consult

import (
	"strings"
	"testing"

	"github.com/healthhub/healthhub/backend/domain"
)

func TestParseNote(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       domain.VisitNote
	}{
		{"plain", "REASON:\nCough.\nHISTORY:\nTwo days.\nFINDINGS:\nClear chest.\nPLAN:\nRest.", domain.VisitNote{Reason: "Cough.", History: "Two days.", Findings: "Clear chest.", Plan: "Rest."}},
		{"markdown", "## Reason for visit\nCough\n\n**History:** Two days\n**Findings:**\nClear\n### Plan\n- Rest\n- Fluids", domain.VisitNote{Reason: "Cough", History: "Two days", Findings: "Clear", Plan: "- Rest\n- Fluids"}},
		{"missing parts", "Reason: headache\nPlan: paracetamol", domain.VisitNote{Reason: "headache", Plan: "paracetamol"}},
		{"no headings", "The patient is well.", domain.VisitNote{}},
		{"first of a repeated heading", "PLAN: a\nPLAN: b", domain.VisitNote{Plan: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseNote(tc.text); got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestExtractiveNote(t *testing.T) {
	segs := []*domain.TranscriptSegment{
		{Text: "I have had a bad cough.", Speaker: "spk_1", StartMS: 0, EndMS: 900},
		{Text: "it started", Speaker: "spk_1", StartMS: 1000, EndMS: 1500},
		{Text: "three weeks ago", Speaker: "spk_1", StartMS: 1600, EndMS: 2500},
		{Text: "your temperature is normal and the lungs sound clear", Speaker: "spk_0", StartMS: 2600, EndMS: 4000},
		{Text: "I will prescribe an inhaler, take it twice daily", Speaker: "spk_0", StartMS: 6000, EndMS: 8000},
		{Text: "thank you", Speaker: "spk_1", StartMS: 8100, EndMS: 8500},
	}
	n := extractiveNote(segs)
	if n.Reason != "I have had a bad cough." || !strings.Contains(n.History, "Three weeks") && !strings.Contains(n.History, "It started three weeks ago.") ||
		n.Findings != "Your temperature is normal and the lungs sound clear." || n.Plan != "I will prescribe an inhaler, take it twice daily." ||
		!strings.Contains(n.History, "Thank you.") {
		t.Fatalf("%+v", n)
	}
}

// FuzzParseNote: whatever a model answers, the note is parsed without a
// panic and each part comes from the answer.
func FuzzParseNote(f *testing.F) {
	f.Add("REASON:\nx\nHISTORY:\ny\nFINDINGS:\nz\nPLAN:\nw")
	f.Add("**Plan**: rest\n## Findings\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		n := parseNote(text)
		for _, part := range []string{n.Reason, n.History, n.Findings, n.Plan} {
			if !strings.Contains(text, part) {
				t.Fatalf("part %q is not in the answer %q", part, text)
			}
		}
	})
}
