package llm

import (
	"slices"
	"testing"
)

func TestAnswerKinds(t *testing.T) {
	for _, tt := range []struct {
		question, sentence string
		kind               string
	}{
		{"What time do you close on a Friday?", "Friday: 08:00 – 16:00", "#time"},
		{"What's the clinic's phone number?", "Phone: +1 555 0100 (front desk)", "#phone"},
		{"Is it free to get a copy of my records?", "Copies are free for the first request.", "#amount"},
		{"How long does it take to get my records?", "We aim to send records within 30 days.", "#duration"},
		{"Can I e-mail you?", "Write to privacy@clinic.example.", "#email"},
		{"Can my 15 year old book his own appointment?", "Young people from 16 can book for themselves.", "#age"},
	} {
		if !slices.ContainsFunc(askedKinds(tt.question), func(k askedKind) bool { return k.token == tt.kind }) {
			t.Errorf("%q does not ask for %s: %v", tt.question, tt.kind, askedKinds(tt.question))
		}
		if !slices.Contains(answerKinds(tt.sentence), tt.kind) {
			t.Errorf("%q does not give %s: %v", tt.sentence, tt.kind, answerKinds(tt.sentence))
		}
	}
	if k := answerKinds("Bring your insurance card to every visit."); len(k) != 0 {
		t.Errorf("a sentence of no kind gives %v", k)
	}
}

// A question whose specific words no passage holds is not answered by a
// passage that shares only a common one, unless every passage is known to
// bear on it.
func TestOfflineAnsweringNeedsCoverage(t *testing.T) {
	passages := []Passage{
		{N: 1, Title: "Repeat prescriptions", Heading: "Collecting your prescription", Text: "Electronic prescriptions go straight to the pharmacy you nominated."},
		{N: 2, Title: "Accessibility", Text: "A lift to the first floor.\nAn accessible toilet on the ground floor."},
	}
	if got := OfflineAnswering("Is there a pharmacy in the building with a cash machine?", passages, false); len(got) != 0 {
		t.Errorf("answered with passages %v", got)
	}
	if got := OfflineAnswering("Is there a pharmacy in the building with a cash machine?", passages, true); len(got) == 0 {
		t.Error("passages that bear on the question were not quoted")
	}
	if got := OfflineAnswering("Where do I collect my electronic prescription?", passages, false); len(got) == 0 || got[0] != 0 {
		t.Errorf("answered with %v, want the prescription passage first", got)
	}
}

func TestStemsHoldTheWordsOfCompoundsButNotOfAddresses(t *testing.T) {
	got := stems("Self-paying patients write to billing@clinic.example")
	for _, want := range []string{stem("paying"), stem("self-paying")} {
		if !slices.Contains(got, want) {
			t.Errorf("stems %v lack %q", got, want)
		}
	}
	if slices.Contains(got, stem("clinic")) {
		t.Errorf("stems %v hold a word of an address", got)
	}
}
