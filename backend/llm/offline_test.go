package llm

import (
	"context"
	"strings"
	"testing"
)

func offlineAnswer(t *testing.T, question string, passages ...Passage) string {
	t.Helper()
	var b strings.Builder
	_, err := Offline{}.Stream(context.Background(), Request{Messages: []Message{{Role: "user", Content: question}}, Passages: passages},
		func(s string) error { b.WriteString(s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestOfflineQuotesWhatAnswers(t *testing.T) {
	hours := Passage{N: 1, Title: "Opening hours", Heading: "Regular hours",
		Text: "Monday to Thursday: 08:00 – 18:00\nFriday: 08:00 – 16:00\nSunday and public holidays: closed\n\nThe front desk answers the phone from 08:00."}
	holidays := Passage{N: 2, Title: "Opening hours", Heading: "Holidays", Text: "The clinic closes between 24 and 26 December."}
	jabs := Passage{N: 3, Title: "Vaccinations", Heading: "After a vaccination", Text: "A sore arm for a day or two is common. Call the clinic if symptoms last longer than three days."}
	emergency := Passage{N: 4, Title: "Emergencies", Text: "Call 112 at once if someone has:\n- chest pain or pressure;\n- severe bleeding.\n\nDo not drive yourself to hospital."}
	tests := []struct {
		name, question string
		passages       []Passage
		want, not      []string
	}{
		{
			name:     "a heading that names the question quotes its passage from the start",
			question: "What are your opening hours?",
			passages: []Passage{holidays, hours},
			want:     []string{"**Opening hours › Regular hours** [1]", "> Monday to Thursday: 08:00 – 18:00", "> Friday: 08:00 – 16:00"},
			not:      []string{"December"},
		},
		{
			name:     "the sentence that answers, not the passage's first",
			question: "How long should a sore arm last after my jab?",
			passages: []Passage{hours, jabs},
			want:     []string{"[3]", "> A sore arm for a day or two is common."},
			not:      []string{"[1]"},
		},
		{
			name:     "a list line comes with the line that introduces it",
			question: "What should I do about chest pain?",
			passages: []Passage{jabs, emergency},
			want:     []string{"> Call 112 at once if someone has:", "> - chest pain or pressure;"},
			not:      []string{"severe bleeding", "sore arm"},
		},
		{
			name:     "nothing that answers: the plain reply, no quote",
			question: "What is the wifi password?",
			passages: []Passage{hours, jabs},
			want:     []string{OfflineNothingAnswers},
			not:      []string{"> "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := offlineAnswer(t, tt.question, tt.passages...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("answer lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("answer has %q:\n%s", n, out)
				}
			}
		})
	}
}

func TestSentences(t *testing.T) {
	got := Sentences("1. Book a slot. Then wait!\n- Phone: 555\n\nIs it 12. or 13.? Done")
	want := []string{"1. Book a slot.", "Then wait!", "- Phone: 555", "Is it 12.", "or 13.?", "Done"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestStemsMatchWordFamilies(t *testing.T) {
	for _, pair := range [][2]string{{"vaccinated", "vaccines"}, {"cancelled", "cancellation"}, {"records", "record"}, {"booking", "book"}} {
		a, b := stems(pair[0]), stems(pair[1])
		if len(a) != 1 || len(b) != 1 || !sameStem(a[0], b[0]) {
			t.Errorf("%q (%v) and %q (%v) are not of one family", pair[0], a, pair[1], b)
		}
	}
	if sameStem(stem("pain"), stem("paint")) {
		t.Error("pain and paint are one family")
	}
}
