package assistant

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/llm"
	"github.com/healthhub/healthhub/backend/policy"
)

// CompletionMessage is a message of an OpenAI-style request.
type CompletionMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// CompletionInput is an OpenAI-style chat completion request.
type CompletionInput struct {
	Model     string
	Messages  []CompletionMessage
	MaxTokens int
}

// Completion is a finished OpenAI-style answer.
type Completion struct {
	ID        string
	Model     string
	Content   string
	Notice    string
	Citations []domain.Citation
	TokensIn  int
	TokensOut int
	Status    string
	Error     string
	Code      string // of a failed answer
	Created   time.Time
}

// Complete answers an OpenAI-style request for the clinic's other tools,
// with the same grounding, redaction, limits and audit as a conversation
// (nothing is kept but the audit event and usage). publish is told as the
// answer is written; it runs in ctx, so a client that goes away ends it.
func (s *Service) Complete(ctx context.Context, in CompletionInput, publish func(Event)) (*Completion, error) {
	p := domain.PrincipalFrom(ctx)
	if err := s.access.Authorize(ctx, policy.Create, policy.Resource{Type: policy.Conversation}); err != nil {
		return nil, err
	}
	if in.Model == "" {
		return nil, domain.Invalid("model", "model is required; GET /v1/models lists the models you may use.")
	}
	if len(in.Messages) == 0 || len(in.Messages) > 500 {
		return nil, domain.Invalid("messages", "messages must hold between 1 and 500 messages.")
	}
	if in.MaxTokens < 0 {
		return nil, domain.Invalid("max_tokens", "max_tokens cannot be negative.")
	}
	var t turn
	t.maxTokens = in.MaxTokens
	last := -1
	for i, m := range in.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant":
		default:
			return nil, domain.Invalid("messages", "Each message's role must be system, user or assistant.")
		}
		if m.Role == "user" {
			last = i
		}
	}
	if last < 0 {
		return nil, domain.Invalid("messages", "messages must include a user message.")
	}
	content, err := validateMessage(in.Messages[last].Content)
	if err != nil {
		return nil, err
	}
	t.content = content
	total := 0
	for i, m := range in.Messages {
		total += len(m.Content)
		if i >= last && m.Role != "system" && m.Role != "developer" {
			continue // the question, and anything after it, is not history
		}
		switch m.Role {
		case "system", "developer":
			t.system += m.Content + "\n"
		default:
			t.history = append(t.history, llm.Message{Role: m.Role, Content: m.Content})
		}
	}
	if total > 8*MaxMessageChars {
		return nil, &domain.Error{Code: domain.ETOOLARGE, Message: "The messages are too long altogether; send less history."}
	}
	ch, err := s.choose(ctx, p, "", in.Model)
	if err != nil {
		return nil, err
	}
	if err := s.checkLimits(ctx, p); err != nil {
		return nil, err
	}
	t.choice = ch
	t.conversationID = "api"
	now := s.now()
	msg := &domain.Message{ID: "chatcmpl-" + uuid.NewString(), Role: domain.RoleAssistant, Provider: ch.info.Name, Model: ch.model.Name, CreatedAt: now}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	code := ""
	s.answer(ctx, t, msg, func(ev Event) {
		if ev.Type == "error" {
			code = ev.Code
		}
		if publish != nil {
			publish(ev)
		}
	}, func(*domain.Message) {})
	return &Completion{ID: msg.ID, Model: ch.model.Name, Content: msg.Content, Notice: msg.Notice, Citations: msg.Citations,
		TokensIn: msg.TokensIn, TokensOut: msg.TokensOut, Status: msg.Status, Error: msg.Error, Code: code, Created: now}, nil
}
