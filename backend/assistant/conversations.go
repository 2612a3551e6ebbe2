package assistant

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

func newProviderID() string { return uuid.Must(uuid.NewV7()).String() }

// NewConversation starts a conversation. PatientID links it to a patient
// (clinic staff only); Provider and Model choose who answers.
type NewConversation struct {
	Title     string `json:"title,omitempty"`
	PatientID string `json:"patient_id,omitempty"`
	Provider  string `json:"provider,omitempty"`
	Model     string `json:"model,omitempty"`
}

// ConversationPatch renames a conversation or changes who answers.
type ConversationPatch struct {
	Title *string `json:"title,omitempty"`
}

// ConversationView is a conversation with its messages and the disclaimer.
type ConversationView struct {
	*domain.Conversation
	Disclaimer string            `json:"disclaimer"`
	Messages   []*domain.Message `json:"messages"`
}

// own loads a conversation the caller owns; someone else's is not found,
// so that its existence is not revealed. A conversation about a patient
// also needs the caller to still be allowed that patient's record; the
// access is audited.
func (s *Service) own(ctx context.Context, id, action string) (*domain.Conversation, error) {
	p := domain.PrincipalFrom(ctx)
	if err := s.access.Authorize(ctx, policy.Create, policy.Resource{Type: policy.Conversation}); err != nil {
		return nil, err
	}
	c, err := s.store.Conversation(ctx, id)
	if domain.IsCode(err, domain.ENOTFOUND) {
		return nil, &domain.Error{Code: domain.ENOTFOUND, Message: "No such conversation."}
	}
	if err != nil {
		return nil, err
	}
	if c.UserID != p.UserID {
		// Someone else's: refused, recorded, and answered as not found.
		return nil, s.access.Hidden(ctx, action, policy.Resource{Type: policy.Conversation, ID: id, OwnerID: c.UserID, PatientID: c.PatientID},
			"No such conversation.")
	}
	if err := s.access.Authorize(ctx, action, policy.Resource{Type: policy.Conversation, ID: id, OwnerID: c.UserID, PatientID: c.PatientID}); err != nil {
		return nil, err
	}
	if c.PatientID != "" {
		if err := s.patientAllowed(ctx, c.PatientID); err != nil {
			return nil, err
		}
		auditAction := domain.ActionRead
		switch action {
		case policy.Update:
			auditAction = domain.ActionUpdate
		case policy.Delete:
			auditAction = domain.ActionDelete
		case policy.Export:
			auditAction = domain.ActionExport
		}
		if err := s.record(ctx, audit.Event{Action: auditAction, ResourceType: policy.Conversation, ResourceID: c.ID, PatientID: c.PatientID}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// patientAllowed: the caller may read the patient's record.
func (s *Service) patientAllowed(ctx context.Context, patientID string) error {
	if s.patients == nil {
		return &domain.Error{Code: domain.EFORBIDDEN, Message: "Conversations about a patient are not available here."}
	}
	res, err := s.patients.PatientResource(ctx, policy.Patient, patientID)
	if domain.IsCode(err, domain.ENOTFOUND) {
		return domain.Invalid("patient_id", "There is no patient with this id.")
	}
	if err != nil {
		return err
	}
	return s.patients.Authorize(ctx, policy.Read, res)
}

// CreateConversation starts a conversation for the caller.
func (s *Service) CreateConversation(ctx context.Context, in NewConversation) (*ConversationView, error) {
	p := domain.PrincipalFrom(ctx)
	if err := s.access.Authorize(ctx, policy.Create, policy.Resource{Type: policy.Conversation}); err != nil {
		return nil, err
	}
	title, err := cleanTitle(in.Title)
	if err != nil {
		return nil, err
	}
	if in.PatientID != "" {
		if p.Role == domain.RolePatient {
			return nil, s.access.Refused(ctx, policy.Create, policy.Resource{Type: policy.Conversation, PatientID: in.PatientID},
				&domain.Error{Code: domain.EFORBIDDEN, Message: "Only clinic staff can link a conversation to a patient."})
		}
		if err := s.patientAllowed(ctx, in.PatientID); err != nil {
			return nil, err
		}
	}
	if in.Provider != "" || in.Model != "" {
		if _, err := s.choose(ctx, p, in.Provider, in.Model); err != nil {
			return nil, err
		}
	}
	now := s.now()
	c := &domain.Conversation{UserID: p.UserID, PatientID: in.PatientID, Title: title, Provider: in.Provider, Model: in.Model, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateConversation(ctx, c); err != nil {
		return nil, err
	}
	if c.PatientID != "" {
		if err := s.record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: policy.Conversation, ResourceID: c.ID, PatientID: c.PatientID}); err != nil {
			return nil, err
		}
	}
	return &ConversationView{Conversation: c, Disclaimer: Disclaimer, Messages: []*domain.Message{}}, nil
}

func cleanTitle(t string) (string, error) {
	if !utf8.ValidString(t) {
		return "", domain.Invalid("title", "The title is not valid UTF-8 text.")
	}
	t = strings.Join(strings.Fields(t), " ")
	if utf8.RuneCountInString(t) > maxTitleChars {
		return "", domain.Invalid("title", "The title is longer than %d characters.", maxTitleChars)
	}
	return t, nil
}

// autoTitle makes a title from a conversation's first message: its first
// line, cut at a word near 60 characters.
func autoTitle(content string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(content), "\n")
	line = strings.Join(strings.Fields(line), " ")
	r := []rune(line)
	if len(r) <= autoTitleChars {
		return line
	}
	cut := autoTitleChars
	for i := autoTitleChars; i > autoTitleChars/2; i-- {
		if unicode.IsSpace(r[i]) {
			cut = i
			break
		}
	}
	return strings.TrimRightFunc(string(r[:cut]), func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) }) + "…"
}

// Conversations lists the caller's conversations, newest first; q searches
// titles and messages; before pages.
func (s *Service) Conversations(ctx context.Context, q string, before time.Time, limit int) ([]*domain.Conversation, error) {
	p := domain.PrincipalFrom(ctx)
	if err := s.access.Authorize(ctx, policy.Create, policy.Resource{Type: policy.Conversation}); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 50
	}
	if limit > 200 {
		return nil, domain.Invalid("limit", "limit must be between 1 and 200.")
	}
	if len(q) > 200 || !utf8.ValidString(q) {
		return nil, domain.Invalid("q", "q must be valid text of up to 200 characters.")
	}
	return s.store.Conversations(ctx, domain.ConversationFilter{UserID: p.UserID, Query: strings.TrimSpace(q), Before: before, Limit: limit})
}

// Conversation returns one of the caller's conversations with its messages.
func (s *Service) Conversation(ctx context.Context, id string) (*ConversationView, error) {
	c, err := s.own(ctx, id, policy.Read)
	if err != nil {
		return nil, err
	}
	msgs, err := s.store.Messages(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return &ConversationView{Conversation: c, Disclaimer: Disclaimer, Messages: msgs}, nil
}

// UpdateConversation renames a conversation.
func (s *Service) UpdateConversation(ctx context.Context, id string, in ConversationPatch) (*ConversationView, error) {
	c, err := s.own(ctx, id, policy.Update)
	if err != nil {
		return nil, err
	}
	if in.Title != nil {
		t, err := cleanTitle(*in.Title)
		if err != nil {
			return nil, err
		}
		if t == "" {
			return nil, domain.Invalid("title", "The title cannot be empty.")
		}
		if err := s.store.RenameConversation(ctx, c.ID, t, s.now()); err != nil {
			return nil, err
		}
	}
	return s.Conversation(ctx, id)
}

// DeleteConversation deletes a conversation; it is removed for good after
// the retention period.
func (s *Service) DeleteConversation(ctx context.Context, id string) error {
	c, err := s.own(ctx, id, policy.Delete)
	if err != nil {
		return err
	}
	s.stopConversation(c.ID)
	return s.store.DeleteConversation(ctx, c.ID, s.now())
}

// Export writes a conversation as Markdown or JSON.
func (s *Service) Export(ctx context.Context, id, format string) (contentType string, body []byte, err error) {
	if format != "markdown" && format != "json" {
		return "", nil, domain.Invalid("format", "format must be markdown or json.")
	}
	c, err := s.own(ctx, id, policy.Export)
	if err != nil {
		return "", nil, err
	}
	msgs, err := s.store.Messages(ctx, c.ID)
	if err != nil {
		return "", nil, err
	}
	if format == "json" {
		b, err := json.MarshalIndent(ConversationView{Conversation: c, Disclaimer: Disclaimer, Messages: msgs}, "", "  ")
		return "application/json", b, err
	}
	var b strings.Builder
	title := c.Title
	if title == "" {
		title = "Conversation"
	}
	fmt.Fprintf(&b, "# %s\n\n_%s_\n\nStarted %s.\n", title, Disclaimer, c.CreatedAt.Format(time.RFC1123))
	for _, m := range msgs {
		who := "You"
		if m.Role == domain.RoleAssistant {
			who = "Assistant"
		}
		fmt.Fprintf(&b, "\n## %s — %s\n\n", who, m.CreatedAt.Format("2006-01-02 15:04 MST"))
		if m.Notice != "" {
			fmt.Fprintf(&b, "> **%s**\n\n", m.Notice)
		}
		b.WriteString(m.Content + "\n")
		if m.Status == domain.MessageStopped {
			b.WriteString("\n_(stopped)_\n")
		}
		if len(m.Citations) > 0 {
			b.WriteString("\nSources:\n")
			for _, ci := range m.Citations {
				fmt.Fprintf(&b, "%d. %s", ci.N, ci.Title)
				if ci.Heading != "" && ci.Heading != ci.Title {
					fmt.Fprintf(&b, " › %s", ci.Heading)
				}
				fmt.Fprintf(&b, " (%s)\n", ci.Source)
			}
		}
	}
	return "text/markdown; charset=utf-8", []byte(b.String()), nil
}

// Usage lists assistant use per user and day (admin).
func (s *Service) Usage(ctx context.Context, from, to, userID string) ([]domain.Usage, error) {
	if err := s.access.Authorize(ctx, policy.List, policy.Resource{Type: policy.AIUsage}); err != nil {
		return nil, err
	}
	today := s.now().UTC()
	if to == "" {
		to = today.Format(time.DateOnly)
	}
	if from == "" {
		from = today.AddDate(0, 0, -30).Format(time.DateOnly)
	}
	f, err1 := time.Parse(time.DateOnly, from)
	t, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil || t.Before(f) || t.Sub(f) > 400*24*time.Hour {
		return nil, domain.Invalid("from", "from and to must be dates (YYYY-MM-DD), from not after to, at most 400 days apart.")
	}
	return s.store.UsageBetween(ctx, from, to, userID)
}
