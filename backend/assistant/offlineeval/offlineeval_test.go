package offlineeval

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// shared is one evaluator for the package's tests: ingesting the starter
// documents is the slow part.
var shared struct {
	once sync.Once
	e    *Evaluator
	err  error
}

func evaluator(t *testing.T) *Evaluator {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "offlineeval")
		if err != nil {
			shared.err = err
			return
		}
		shared.e, shared.err = New(context.Background(), dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.e
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.e != nil {
		shared.e.Close()
	}
	os.Exit(code)
}

func ask(t *testing.T, question string) Outcome {
	t.Helper()
	o, err := evaluator(t).Ask(context.Background(), Question{Text: question})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func quotedText(o Outcome) string {
	var b strings.Builder
	for _, q := range o.Quoted {
		b.WriteString(strings.Join(q.Sentences, "\n") + "\n")
	}
	return b.String()
}

// The hours are a table: the answer quotes its rows as sentences, and
// neither the sample-content line nor the emergency or holiday lines.
func TestOpeningHoursAnswerQuotesTheHours(t *testing.T) {
	o := ask(t, "What are your opening hours?")
	if len(o.Quoted) == 0 {
		t.Fatalf("nothing quoted:\n%s", o.Answer)
	}
	first := strings.Join(o.Quoted[0].Sentences, "\n")
	for _, want := range []string{"Monday to Thursday: 08:00 – 18:00", "Friday: 08:00 – 16:00"} {
		if !strings.Contains(first, want) {
			t.Errorf("the first quote lacks %q:\n%s", want, o.Answer)
		}
	}
	all := quotedText(o)
	for _, unwanted := range []string{"Sample content", "emergency number", "24 and 26 December", "|"} {
		if strings.Contains(all, unwanted) {
			t.Errorf("the answer quotes %q:\n%s", unwanted, o.Answer)
		}
	}
}

// After the emergency notice, the answer quotes only what bears on the
// emergency.
func TestEmergencyAnswerQuotesOnlyTheEmergency(t *testing.T) {
	for _, question := range []string{"I have chest pain", "My chest pain is getting worse after my vaccination yesterday"} {
		o := ask(t, question)
		if o.Notice == "" {
			t.Fatalf("%q: no emergency notice", question)
		}
		for _, q := range o.Quoted {
			text := strings.Join(q.Sentences, " ")
			if !strings.Contains(strings.ToLower(text), "chest pain") {
				t.Errorf("%q: quoted %q (%s › %s), which says nothing of chest pain:\n%s", question, text, q.Citation.Title, q.Citation.Heading, o.Answer)
			}
		}
	}
}

// An emergency put in a person's own words, none of which the documents
// use, is answered with what the documents say of it.
func TestEmergencyInOwnWordsQuotesWhatTheDocumentsSay(t *testing.T) {
	for question, want := range map[string]string{
		"my flatmate fainted and we can't get her to come round":     "lost consciousness",
		"My grandmother's arm went weak and her face looks lopsided": "signs of a stroke",
	} {
		o := ask(t, question)
		if o.Notice == "" {
			t.Errorf("%q: no emergency notice", question)
		}
		if len(o.Quoted) == 0 || !strings.Contains(strings.Join(o.Quoted[0].Sentences, " "), want) {
			t.Errorf("%q: the first quote lacks %q:\n%s", question, want, o.Answer)
		}
	}
}

// A passage's place is its document's title, then its headings, each once.
func TestCitationHeadingsDoNotRepeatTheTitle(t *testing.T) {
	o := ask(t, "Who do I call if the clinic is closed for the holidays?")
	if len(o.Quoted) == 0 {
		t.Fatalf("nothing quoted:\n%s", o.Answer)
	}
	for _, q := range o.Quoted {
		if strings.Contains(q.Citation.Heading, q.Citation.Title) {
			t.Errorf("heading path %q repeats the title %q", q.Citation.Heading, q.Citation.Title)
		}
	}
	if strings.Contains(o.Answer, "Opening hours and how to reach us › Opening hours and how to reach us") {
		t.Errorf("the answer repeats the title:\n%s", o.Answer)
	}
}

// floors are the figures the offline answers reach on each set: a change
// that answers worse fails here. The independent batches, written in
// patients' own words by someone who had not seen how answers are chosen,
// are answered worse than the rest: their paraphrases share few words with
// the documents. The goal is higher: hit@1 0.85 on every set, no answerable
// question without a relevant quote, and nine in ten unanswerable questions
// declined.
var floors = map[string]struct {
	hit1       float64
	missed     int // answerable questions with no relevant quote, at most
	notDecline int // unanswerable questions not declined plainly, at most
}{
	"development":   {hit1: 0.89, missed: 3, notDecline: 2},
	"held-out":      {hit1: 0.88, missed: 2, notDecline: 2},
	"independent-1": {hit1: 0.75, missed: 7, notDecline: 2},
	"independent-2": {hit1: 0.60, missed: 8, notDecline: 4},
}

// The whole labelled set through the real path: figures printed, floors
// asserted.
func TestOfflineAnswers(t *testing.T) {
	qs, err := Questions()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 80 {
		t.Errorf("%d questions; the set should hold at least 80", len(qs))
	}
	outcomes, err := evaluator(t).AskAll(context.Background(), qs)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outcomes {
		switch {
		case o.Question.Answerable() && o.Rank == 0:
			t.Logf("line %d %q: no relevant passage quoted although one answers it:\n%s", o.Question.Line, o.Question.Text, o.Answer)
		case !o.Question.Answerable() && !o.Declined:
			t.Logf("line %d %q: nothing answers it, yet the answer is not the plain reply:\n%s", o.Question.Line, o.Question.Text, o.Answer)
		case testing.Verbose() && (o.Rank > 1 || !o.SaysQuoted):
			t.Logf("line %d %q: first relevant quote at %d, answer sentence quoted %t:\n%s", o.Question.Line, o.Question.Text, o.Rank, o.SaysQuoted, o.Answer)
		}
	}
	for _, set := range Sets {
		f := Summarize(outcomes, set)
		t.Log(f)
		floor, ok := floors[set]
		if !ok {
			t.Errorf("set %s has no floor", set)
		}
		if f.Hit1 < floor.hit1 || f.Missed > floor.missed || f.Unanswerable-f.Declined > floor.notDecline {
			t.Errorf("%s: below the floor %+v", set, floor)
		}
	}
	t.Log(Summarize(outcomes, ""))
}
