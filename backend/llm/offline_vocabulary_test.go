package llm

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestDaysWithinRanges(t *testing.T) {
	tests := []struct {
		sentence  string
		want, not []string
	}{
		{"Monday to Thursday: 08:00 – 18:00", []string{"tuesday", "wednesday", "thursday"}, []string{"friday", "sunday"}},
		{"Open Mon–Fri, 9 to 5", []string{"tuesday", "friday"}, []string{"saturday"}},
		{"Friday until Monday: closed", []string{"saturday", "sunday", "monday"}, []string{"wednesday"}},
		{"Friday: 08:00 – 16:00", nil, []string{"friday", "saturday"}},
	}
	for _, tt := range tests {
		got := daysWithin(tt.sentence)
		for _, w := range tt.want {
			if !slices.Contains(got, stem(w)) {
				t.Errorf("%q: %v lacks %s", tt.sentence, got, w)
			}
		}
		for _, n := range tt.not {
			if slices.Contains(got, stem(n)) {
				t.Errorf("%q: %v holds %s", tt.sentence, got, n)
			}
		}
	}
}

var (
	hoursTable = Passage{N: 1, Title: "Opening hours", Heading: "Regular hours",
		Text: "Monday to Thursday: 08:00 – 18:00\nFriday: 08:00 – 16:00\nSaturday: 09:00 – 12:00 (appointments only)"}
	reachUs = Passage{N: 2, Title: "Opening hours", Heading: "Reaching us",
		Text: "- Phone: +1 555 0100 (front desk)\n- E-mail: for non-urgent questions only; we answer within two working days."}
	closures = Passage{N: 3, Title: "Opening hours", Heading: "Holidays",
		Text: "The clinic closes between 24 and 26 December. During closures a recorded message on our phone line gives the number of the out-of-hours service."}
	booking = Passage{N: 4, Title: "Appointments", Heading: "Booking",
		Text: "Book an appointment in the portal or at the front desk. Appointments can be booked up to three months ahead."}
	recordKept = Passage{N: 7, Title: "Privacy", Heading: "Reviewing your record", Text: "We review your record every year."}
	recordSeen = Passage{N: 8, Title: "Privacy", Heading: "Who reviews your record", Text: "A clinician involved in your care reviews your record."}
	recordsAsk = Passage{N: 5, Title: "Medical records", Heading: "How to ask",
		Text: "Tell us which records you want. Ask at the front desk or in the portal."}
	recordsTime = Passage{N: 6, Title: "Medical records", Heading: "How long it takes",
		Text: "We aim to send a copy of your medical records within 30 days. Copies are free for the first request."}
)

func firstQuoted(question string, passages ...Passage) int {
	chosen := OfflineAnswering(question, passages, false)
	if len(chosen) == 0 {
		return 0
	}
	return passages[chosen[0]].N
}

// The words a question is put in that documents put otherwise: a day inside
// a range, the clinic's own name, the form of the question in a heading,
// an "e-mails" answered by "we answer".
func TestOfflineAnsweringReadsPeoplesWords(t *testing.T) {
	tests := []struct {
		question string
		passages []Passage
		want     int
	}{
		{"Are you open late on Wednesdays?", []Passage{closures, reachUs, hoursTable}, hoursTable.N},
		{"Can I come in on a Saturday afternoon?", []Passage{booking, closures, hoursTable}, hoursTable.N},
		{"What's the clinic's phone number?", []Passage{closures, hoursTable, reachUs}, reachUs.N},
		{"How quickly do you reply to emails?", []Passage{closures, hoursTable, reachUs}, reachUs.N},
		{"Who reviews my record?", []Passage{recordKept, recordSeen}, recordSeen.N},
		{"How long does it take to get my records?", []Passage{recordsAsk, recordsTime}, recordsTime.N},
	}
	for _, tt := range tests {
		if got := firstQuoted(tt.question, tt.passages...); got != tt.want {
			t.Errorf("%q: first quote [%d], want [%d]", tt.question, got, tt.want)
		}
	}
}

// A question that names a service no passage mentions is declined, however
// many of its other words the passages share; one they mention is answered.
func TestOfflineAnsweringDeclinesServicesTheDocumentsDoNotName(t *testing.T) {
	if got := OfflineAnswering("Can I book a dentist appointment?", []Passage{booking, hoursTable}, false); len(got) != 0 {
		t.Errorf("a dentist appointment: quoted %v, want the plain reply", got)
	}
	dentist := Passage{N: 9, Title: "Services", Heading: "Dental care", Text: "Our dentist sees patients on Tuesdays; book an appointment at the front desk."}
	if got := firstQuoted("Can I book a dentist appointment?", booking, dentist); got != dentist.N {
		t.Errorf("with a dental passage: first quote [%d], want [%d]", got, dentist.N)
	}
	// "morning after" names a service; "Monday morning" does not.
	if got := firstQuoted("What time do you open on Monday morning?", closures, hoursTable); got != hoursTable.N {
		t.Errorf("Monday morning: first quote [%d], want [%d]", got, hoursTable.N)
	}
	if s := unknownService("Can I get the morning after pill?", []Passage{hoursTable}); s == "" {
		t.Error("the morning after pill is not taken for a service")
	}
}

// Words given to quote by besides the question's choose the sentences of
// passages chosen for them, which the question's own words do not reach.
func TestOfflineQuotesByTheWordsGiven(t *testing.T) {
	list := Passage{N: 1, Title: "When to call emergency services",
		Text: "Call your local emergency number at once if someone has:\n- chest pain or pressure;\n- lost consciousness and cannot be woken;\n- severe bleeding."}
	req := Request{Messages: []Message{{Role: "user", Content: "my flatmate fainted and we can't get her to come round"}}, Passages: []Passage{list}}
	var b strings.Builder
	if _, err := (Offline{}).Stream(context.Background(), req, func(s string) error { b.WriteString(s); return nil }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), OfflineNothingAnswers) {
		t.Fatalf("without words to quote by, the question's words reach nothing:\n%s", b.String())
	}
	b.Reset()
	req.QuoteBy = "consciousness woken unconscious collapse"
	if _, err := (Offline{}).Stream(context.Background(), req, func(s string) error { b.WriteString(s); return nil }); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"> Call your local emergency number at once if someone has:", "> - lost consciousness and cannot be woken;"} {
		if !strings.Contains(out, want) {
			t.Errorf("answer lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "chest pain") {
		t.Errorf("answer quotes another emergency:\n%s", out)
	}
}

func TestQuestionAsks(t *testing.T) {
	for q, want := range map[string]string{
		"How do I cancel?":          "#ask-how",
		"how long do results take?": "#ask-how-long",
		"What's the number?":        "#ask-what",
		"Who can see my record?":    "#ask-who",
		"Can I bring my dog?":       "",
		"":                          "",
		"How much does it cost?":    "#ask-how-much",
		"When to call an ambulance": "#ask-when",
	} {
		if got := questionAsks(q); got != want {
			t.Errorf("questionAsks(%q) = %q, want %q", q, got, want)
		}
	}
	if got := headingAsks("Medical records › How long it takes"); !slices.Equal(got, []string{"#ask-how-long"}) {
		t.Errorf("headingAsks = %v", got)
	}
}
