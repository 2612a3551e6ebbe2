package consult

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// MaxNoteFieldChars bounds each part of a visit note.
const MaxNoteFieldChars = 20000

// noteFields lists the note's parts in order, with their headings.
var noteFields = []struct {
	heading string
	get     func(*domain.VisitNote) *string
}{
	{"REASON", func(n *domain.VisitNote) *string { return &n.Reason }},
	{"HISTORY", func(n *domain.VisitNote) *string { return &n.History }},
	{"FINDINGS", func(n *domain.VisitNote) *string { return &n.Findings }},
	{"PLAN", func(n *domain.VisitNote) *string { return &n.Plan }},
}

func checkNote(n domain.VisitNote) error {
	for _, f := range noteFields {
		v := *f.get(&n)
		if utf8.RuneCountInString(v) > MaxNoteFieldChars {
			return domain.Invalid(strings.ToLower(f.heading), "The %s is longer than %d characters.", strings.ToLower(f.heading), MaxNoteFieldChars)
		}
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return domain.Invalid(strings.ToLower(f.heading), "The %s holds characters that are not text.", strings.ToLower(f.heading))
		}
	}
	return nil
}

// editable loads a consultation whose note its own doctor may change.
func (s *Service) editable(ctx context.Context, id string) (*domain.Consultation, error) {
	c, err := s.load(ctx, policy.Consultation, policy.Update, id)
	if err != nil {
		return nil, err
	}
	if c.NoteStatus == domain.NoteSigned {
		return nil, domain.Errorf(domain.ECONFLICT, "The visit note was signed on %s and can no longer be changed.", c.SignedAt.Format("2006-01-02 15:04"))
	}
	return c, nil
}

// SaveNote stores the doctor's edit of the draft, made on version.
func (s *Service) SaveNote(ctx context.Context, id string, version int64, note domain.VisitNote) (*domain.Consultation, error) {
	c, err := s.editable(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := checkNote(note); err != nil {
		return nil, err
	}
	out, err := s.o.Store.SaveNote(ctx, id, version, note, domain.NoteDraft, c.DraftedBy, "", s.o.Now())
	if err != nil {
		return nil, err
	}
	return out, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: ResourceVisitNote, ResourceID: c.ID, PatientID: c.PatientID,
		Detail: "fields=" + strings.Join(changedFields(c.Note, note), ",")})
}

func changedFields(a, b domain.VisitNote) []string {
	var out []string
	for _, f := range noteFields {
		if *f.get(&a) != *f.get(&b) {
			out = append(out, strings.ToLower(f.heading))
		}
	}
	return out
}

// Sign signs the note as it stands at version: it becomes part of the
// medical record and can no longer change.
func (s *Service) Sign(ctx context.Context, id string, version int64) (*domain.Consultation, error) {
	c, err := s.editable(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Note == (domain.VisitNote{}) {
		return nil, domain.Invalid("note", "The visit note is empty; write or draft it before signing.")
	}
	p := domain.PrincipalFrom(ctx)
	out, err := s.o.Store.SaveNote(ctx, id, version, c.Note, domain.NoteSigned, c.DraftedBy, p.UserID, s.o.Now())
	if err != nil {
		return nil, err
	}
	return out, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: ResourceVisitNote, ResourceID: c.ID, PatientID: c.PatientID, Detail: "signed"})
}

const draftSystem = `You write a doctor's visit note from the transcript of a consultation.
Write only what the transcript says; never invent findings, doses or diagnoses. Leave a part
empty when the transcript says nothing for it. Answer with exactly these four headings, each on
its own line followed by its text:
REASON:
HISTORY:
FINDINGS:
PLAN:`

// Draft drafts the note from the transcript: with the clinic's language
// model (identifiers replaced first when it is an external service), or,
// offline, by picking the transcript's own sentences for each part. The
// draft replaces the note's text; the doctor edits it before signing.
func (s *Service) Draft(ctx context.Context, id string) (*domain.Consultation, error) {
	c, err := s.editable(ctx, id)
	if err != nil {
		return nil, err
	}
	segs, err := s.o.Store.Transcript(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, domain.Invalid("transcript", "There is no transcript yet: record the consultation (or upload a recording) and wait for its transcript, or write the note by hand.")
	}
	lines := make([]string, 0, len(segs))
	for _, sg := range segs {
		sp := sg.Speaker
		if sp == "" {
			sp = "Speaker"
		}
		lines = append(lines, fmt.Sprintf("[%02d:%02d] %s: %s", sg.StartMS/60000, sg.StartMS/1000%60, sp, sg.Text))
	}
	var note domain.VisitNote
	by := "offline"
	if s.o.Asker != nil {
		ans, err := s.o.Asker.AskOnce(ctx, "visit_note", draftSystem, "Transcript:\n"+strings.Join(lines, "\n"), 1500)
		if err != nil {
			return nil, err
		}
		if !ans.Offline {
			note = parseNote(ans.Text)
			by = ans.Provider + "/" + ans.Model
			if note == (domain.VisitNote{}) {
				note.History = strings.TrimSpace(ans.Text)
			}
		}
	}
	if by == "offline" {
		note = extractiveNote(segs)
	}
	for _, f := range noteFields {
		if v := f.get(&note); utf8.RuneCountInString(*v) > MaxNoteFieldChars {
			*v = string([]rune(*v)[:MaxNoteFieldChars])
		}
	}
	out, err := s.o.Store.SaveNote(ctx, id, c.NoteVersion, note, domain.NoteDraft, by, "", s.o.Now())
	if err != nil {
		return nil, err
	}
	return out, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: ResourceVisitNote, ResourceID: c.ID, PatientID: c.PatientID,
		Detail: fmt.Sprintf("drafted_by=%s segments=%d", by, len(segs))})
}

var headingRE = regexp.MustCompile(`(?im)^\s*(?:#+\s*|\*\*)?(REASON|HISTORY|FINDINGS|PLAN)(?:\s+FOR\s+VISIT)?\s*(?:\*\*)?\s*:?\s*(?:\*\*)?`)

// parseNote reads a model's answer under the four headings.
func parseNote(text string) domain.VisitNote {
	var n domain.VisitNote
	idx := headingRE.FindAllStringSubmatchIndex(text, -1)
	for i, m := range idx {
		end := len(text)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		body := strings.TrimSpace(text[m[1]:end])
		for _, f := range noteFields {
			if strings.EqualFold(text[m[2]:m[3]], f.heading) {
				if p := f.get(&n); *p == "" {
					*p = body
				}
			}
		}
	}
	return n
}

// Words that place a sentence in a part of the note, for the offline
// draft.
var (
	planWords     = []string{"prescribe", "prescription", "take ", "start you", "start taking", "will start", "stop taking", "increase", "decrease", "refer", "follow up", "follow-up", "come back", "return", "schedule", "order", "test", "x-ray", "scan", "plan", "advise", "recommend", "mg", "twice", "daily"}
	findingsWords = []string{"blood pressure", "pulse", "temperature", "heart rate", "exam", "looks", "listen", "lungs", "clear", "normal", "tender", "swollen", "rash", "saturation", "weight", "found", "see "}
	historyWords  = []string{"since", "ago", "yesterday", "last week", "weeks", "months", "years", "history", "allerg", "medication", "taking", "smok", "family", "before", "started"}
	reasonWords   = []string{"reports", "complain", "came in", "here for", "because", "pain", "problem", "worried", "cough", "fever", "headache", "nausea", "dizzy", "breath"}
)

func hasAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// utterances joins segments of one speaker with pauses under a second
// into one, unless a segment ends a sentence: engines that answer a word at
// a time then give sentences to sort, not words.
func utterances(segs []*domain.TranscriptSegment) []*domain.TranscriptSegment {
	var out []*domain.TranscriptSegment
	for _, sg := range segs {
		if n := len(out); n > 0 {
			last := out[n-1]
			t := strings.TrimSpace(last.Text)
			if last.Speaker == sg.Speaker && last.RecordingID == sg.RecordingID && sg.StartMS-last.EndMS < 1000 &&
				!strings.HasSuffix(t, ".") && !strings.HasSuffix(t, "?") && !strings.HasSuffix(t, "!") {
				joined := *last
				joined.Text, joined.EndMS = t+" "+strings.TrimSpace(sg.Text), sg.EndMS
				out[n-1] = &joined
				continue
			}
		}
		out = append(out, sg)
	}
	return out
}

// extractiveNote sorts the transcript's own sentences into the note's
// parts: a plan sentence by its words of treatment and follow-up,
// findings by examination, history by time and background, the reason by
// complaint (the first such sentences); the rest go to history.
func extractiveNote(segs []*domain.TranscriptSegment) domain.VisitNote {
	var reason, history, findings, plan []string
	for _, sg := range utterances(segs) {
		text := strings.TrimSpace(sg.Text)
		if text == "" {
			continue
		}
		l := strings.ToLower(text)
		switch {
		case hasAny(l, planWords):
			plan = append(plan, text)
		case hasAny(l, findingsWords):
			findings = append(findings, text)
		case len(reason) < 2 && hasAny(l, reasonWords):
			reason = append(reason, text)
		case hasAny(l, historyWords):
			history = append(history, text)
		default:
			history = append(history, text)
		}
	}
	join := func(xs []string) string {
		for i, x := range xs {
			if !strings.HasSuffix(x, ".") && !strings.HasSuffix(x, "?") && !strings.HasSuffix(x, "!") {
				xs[i] = x + "."
			}
			xs[i] = capitalize(xs[i])
		}
		return strings.Join(xs, " ")
	}
	return domain.VisitNote{Reason: join(reason), History: join(history), Findings: join(findings), Plan: join(plan)}
}
