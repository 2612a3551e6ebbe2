// Package offlineeval measures the offline answers on a labelled question
// set: each question goes through the real path (a SQLite store holding the
// starter documents, the knowledge search, the assistant and its offline
// provider), and the passages the answer quotes are compared with the
// passages labelled as answering it.
package offlineeval

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/assistant"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/llm"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/healthhub/healthhub/backend/store"
	starter "github.com/healthhub/healthhub/knowledge"
)

//go:embed testdata/questions.txt
var questionsText string

// Sets of the question file, in its order: questions written while the
// answers were being worked on; questions written afterwards to check
// them; and two batches written from the documents alone by someone who
// had not seen how answers are chosen, the first measured before the
// changes it then guided, the second kept unseen until they were done.
var Sets = []string{"development", "held-out", "independent-1", "independent-2"}

// Label names a passage that answers a question: the starter document's
// file, the last heading of the passage's heading path (empty: any passage
// of the document), and optionally words the quoted sentences must hold.
type Label struct {
	File, Heading, Says string
}

// Question is one labelled question; no labels means nothing in the
// documents answers it.
type Question struct {
	Text   string
	Set    string
	Labels []Label
	Line   int
}

// Answerable reports whether a passage of the documents answers q.
func (q Question) Answerable() bool { return len(q.Labels) > 0 }

// Questions reads the question set.
func Questions() ([]Question, error) { return parseQuestions(questionsText) }

var labelLine = regexp.MustCompile(`^=>\s*(.+?)(?:\s*~\s*"([^"]+)")?\s*$`)

// parseQuestions reads the set's format: "## set" lines start a set, a
// line is a question, and the "=>" lines under it label it: "=> file ›
// heading", optionally followed by ~ "words the quote holds", or "=>
// none". Lines starting with # are comments.
func parseQuestions(text string) ([]Question, error) {
	var out []Question
	set := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case strings.HasPrefix(line, "## "):
			set = strings.TrimSpace(line[3:])
			if !slices.Contains(Sets, set) {
				return nil, fmt.Errorf("line %d: unknown set %q", n, set)
			}
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "=>"):
			if len(out) == 0 {
				return nil, fmt.Errorf("line %d: a label before any question", n)
			}
			q := &out[len(out)-1]
			m := labelLine.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("line %d: cannot read the label %q", n, line)
			}
			if m[1] == "none" {
				continue
			}
			file, heading, _ := strings.Cut(m[1], "›")
			q.Labels = append(q.Labels, Label{File: strings.TrimSpace(file), Heading: strings.TrimSpace(heading), Says: m[2]})
		default:
			if set == "" {
				return nil, fmt.Errorf("line %d: a question before any set", n)
			}
			if len(out) > 0 && !labelled(out[len(out)-1], text) {
				return nil, fmt.Errorf("line %d: question %q has no label", out[len(out)-1].Line, out[len(out)-1].Text)
			}
			out = append(out, Question{Text: line, Set: set, Line: n})
		}
	}
	if len(out) > 0 && !labelled(out[len(out)-1], text) {
		return nil, fmt.Errorf("line %d: question %q has no label", out[len(out)-1].Line, out[len(out)-1].Text)
	}
	return out, sc.Err()
}

// labelled reports whether q is followed by at least one "=>" line (a
// "=> none" leaves Labels empty, so the text is consulted).
func labelled(q Question, text string) bool {
	if len(q.Labels) > 0 {
		return true
	}
	lines := strings.Split(text, "\n")
	return q.Line < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[q.Line]), "=>")
}

// Outcome is what the offline mode answered to one question.
type Outcome struct {
	Question Question
	Answer   string
	Notice   string
	// Quoted are the passages the answer quotes, in order.
	Quoted []Quote
	// Rank is the position (from 1) of the first quoted passage that a
	// label names; 0 when none is.
	Rank int
	// Declined: the answer says plainly that nothing in the documents
	// answers the question, and quotes nothing.
	Declined bool
	// SaysQuoted: a labelled passage was quoted with the words its label
	// says the answer holds (true when the label names none).
	SaysQuoted bool
}

// Quote is one passage of an answer and the sentences quoted from it.
type Quote struct {
	Citation  domain.Citation
	Sentences []string
}

// Matches reports whether the quoted passage is the one l names.
func (l Label) Matches(c domain.Citation) bool {
	if filepath.Base(c.Source) != l.File {
		return false
	}
	if l.Heading == "" {
		return true
	}
	// A passage before the document's first subheading is under its title.
	last := c.Title
	if c.Heading != "" {
		path := strings.Split(c.Heading, " › ")
		last = path[len(path)-1]
	}
	return strings.EqualFold(strings.TrimSpace(last), l.Heading)
}

// Figures summarise the outcomes of a set.
type Figures struct {
	Set          string
	Questions    int
	Answerable   int
	Unanswerable int
	// Over the answerable questions, of the quoted passages.
	Hit1, Hit3, MRR float64
	// Answerable questions whose answer quotes no labelled passage
	// (including those declined).
	Missed int
	// Answerable questions whose answer quoted the labelled words.
	SaysQuoted int
	// Unanswerable questions declined plainly.
	Declined int
}

func (f Figures) String() string {
	return fmt.Sprintf("%-11s %3d questions: answerable %d: hit@1 %.3f, hit@3 %.3f, MRR %.3f, answer sentence quoted %d/%d, no relevant quote %d; unanswerable %d: declined plainly %d/%d",
		f.Set, f.Questions, f.Answerable, f.Hit1, f.Hit3, f.MRR, f.SaysQuoted, f.Answerable, f.Missed, f.Unanswerable, f.Declined, f.Unanswerable)
}

// Summarize computes the figures of the outcomes of one set ("" for all).
func Summarize(outcomes []Outcome, set string) Figures {
	f := Figures{Set: set}
	if set == "" {
		f.Set = "all"
	}
	for _, o := range outcomes {
		if set != "" && o.Question.Set != set {
			continue
		}
		f.Questions++
		if !o.Question.Answerable() {
			f.Unanswerable++
			if o.Declined {
				f.Declined++
			}
			continue
		}
		f.Answerable++
		switch {
		case o.Rank == 0:
			f.Missed++
		case o.Rank == 1:
			f.Hit1++
			fallthrough
		case o.Rank <= 3:
			f.Hit3++
		}
		if o.Rank > 0 {
			f.MRR += 1 / float64(o.Rank)
		}
		if o.SaysQuoted {
			f.SaysQuoted++
		}
	}
	if f.Answerable > 0 {
		n := float64(f.Answerable)
		f.Hit1, f.Hit3, f.MRR = f.Hit1/n, f.Hit3/n, f.MRR/n
	}
	return f
}

// Evaluator asks questions of a fresh HealthHub holding the starter
// documents.
type Evaluator struct {
	db   store.DB
	log  *audit.Log
	kb   *knowledge.Service
	asst *assistant.Service
	// asker is the patient the questions come from: an account that
	// cannot sign in.
	asker *domain.Principal
}

// New makes a SQLite store in dir, ingests the starter documents into it as
// a new standalone server does, and starts the assistant on it.
func New(ctx context.Context, dir string, logger *slog.Logger) (*Evaluator, error) {
	db, err := store.Open(ctx, "", dir)
	if err != nil {
		return nil, err
	}
	e := &Evaluator{db: db}
	if err := e.start(ctx, dir, logger); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Evaluator) start(ctx context.Context, dir string, logger *slog.Logger) error {
	if _, err := e.db.Migrate(ctx); err != nil {
		return err
	}
	now := time.Now()
	patient := &domain.User{Email: "offline-evaluation@example.org", Name: "Offline evaluation", Role: domain.RolePatient, CreatedAt: now, UpdatedAt: now}
	if err := e.db.CreateUser(ctx, patient); err != nil {
		return err
	}
	e.asker = &domain.Principal{UserID: patient.ID, Email: patient.Email, Name: patient.Name, Role: patient.Role}
	e.log = audit.NewLog(e.db, time.Now, logger)
	e.kb = knowledge.New(e.db, e.log, nil, knowledge.Options{}, time.Now, logger)
	folder := filepath.Join(dir, "knowledge")
	if err := copyStarter(folder); err != nil {
		return err
	}
	sys := domain.WithPrincipal(ctx, domain.System)
	src, err := e.kb.EnsureFolder(sys, folder, domain.VisibilityEveryone)
	if err != nil {
		return err
	}
	p, err := e.kb.IngestFolder(sys, src, nil)
	if err != nil {
		return err
	}
	if p.Failed > 0 || p.Indexed == 0 {
		return fmt.Errorf("starter documents: %d indexed, %d failed", p.Indexed, p.Failed)
	}
	e.asst = assistant.New(e.db, e.kb, nil, secret.NewEphemeral(), e.log, assistant.Options{}, time.Now, logger)
	// One patient asks every question, faster than any person would.
	many, none := 10000, 0
	_, err = e.asst.UpdateSettings(sys, assistant.SettingsPatch{MessagesPerMinute: &many, DailyTokens: &none})
	return err
}

// copyStarter writes the starter documents a standalone server installs
// (all but the README, which speaks to the clinic's editors) to folder.
func copyStarter(folder string) error {
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return err
	}
	return fs.WalkDir(starter.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == "README.md" {
			return err
		}
		data, err := fs.ReadFile(starter.Files(), path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(folder, path), data, 0o644)
	})
}

// Close releases the store and the services.
func (e *Evaluator) Close() {
	if e.asst != nil {
		e.asst.Close()
	}
	if e.kb != nil {
		e.kb.Close()
	}
	if e.log != nil {
		e.log.Close()
	}
	e.db.Close()
}

// Ask puts one question to the offline assistant and grades the answer.
func (e *Evaluator) Ask(ctx context.Context, q Question) (Outcome, error) {
	ctx = domain.WithPrincipal(ctx, e.asker)
	c, err := e.asst.Complete(ctx, assistant.CompletionInput{Model: "extractive",
		Messages: []assistant.CompletionMessage{{Role: "user", Content: q.Text}}}, nil)
	if err != nil {
		return Outcome{}, err
	}
	if c.Status != domain.MessageComplete {
		return Outcome{}, fmt.Errorf("question %q: answer %s: %s", q.Text, c.Status, c.Error)
	}
	o := Outcome{Question: q, Answer: c.Content, Notice: c.Notice, Quoted: quotes(c.Content, c.Citations)}
	o.Declined = len(o.Quoted) == 0 && strings.Contains(c.Content, llm.OfflineNothingAnswers)
	o.SaysQuoted = !q.Answerable()
	for i, quote := range o.Quoted {
		for _, l := range q.Labels {
			if !l.Matches(quote.Citation) {
				continue
			}
			if o.Rank == 0 {
				o.Rank = i + 1
			}
			if l.Says == "" || strings.Contains(strings.ToLower(strings.Join(quote.Sentences, " ")), strings.ToLower(l.Says)) {
				o.SaysQuoted = true
			}
		}
	}
	return o, nil
}

// AskAll asks every question in order.
func (e *Evaluator) AskAll(ctx context.Context, qs []Question) ([]Outcome, error) {
	out := make([]Outcome, 0, len(qs))
	for _, q := range qs {
		o, err := e.Ask(ctx, q)
		if err != nil {
			return out, err
		}
		out = append(out, o)
	}
	return out, nil
}

// quoteHeading is the line that opens each passage of an offline answer:
// "**where** [n]".
var quoteHeading = regexp.MustCompile(`^\*\*.*\*\* \[(\d+)\]$`)

// quotes reads the passages an offline answer quotes, in order, with the
// sentences quoted from each.
func quotes(answer string, cites []domain.Citation) []Quote {
	var out []Quote
	for line := range strings.SplitSeq(answer, "\n") {
		if m := quoteHeading.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			for _, c := range cites {
				if c.N == n {
					out = append(out, Quote{Citation: c})
				}
			}
			continue
		}
		if s, ok := strings.CutPrefix(line, "> "); ok && len(out) > 0 {
			out[len(out)-1].Sentences = append(out[len(out)-1].Sentences, s)
		}
	}
	return out
}
