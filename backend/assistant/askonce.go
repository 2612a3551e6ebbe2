package assistant

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/llm"
)

// OneOff is a one-off answer of the caller's default model, for other
// services (a visit note drafted from a transcript).
type OneOff struct {
	Text     string
	Provider string
	Model    string
	External bool
	// Redacted counts the identifiers replaced before the request left for
	// an external provider (and put back into Text).
	Redacted int
	// Offline: the default provider is the offline mode, which answers
	// from the knowledge base alone; nothing was asked and Text is empty,
	// so the caller falls back to its own offline way.
	Offline bool
}

// AskOnce asks the caller's default provider and model for an answer to
// prompt under system. For an external provider every identifier in both
// is replaced first, with the same rules as chat, and put back into the
// answer. The use counts towards the caller's daily limits and usage, and
// is audited (never with the text).
func (s *Service) AskOnce(ctx context.Context, purpose, system, prompt string, maxTokens int) (*OneOff, error) {
	p := domain.PrincipalFrom(ctx)
	if p == nil {
		return nil, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "Sign in first."}
	}
	ch, err := s.choose(ctx, p, "", "")
	if err != nil {
		return nil, err
	}
	out := &OneOff{Provider: ch.info.Name, Model: ch.model.Name, External: ch.info.External}
	if ch.info.Kind == domain.ProviderOffline {
		out.Offline = true
		return out, nil
	}
	if err := s.checkLimits(ctx, p); err != nil {
		return nil, err
	}
	var restorer interface {
		Write(string) string
		Flush() string
	}
	if ch.info.External {
		d, err := s.detector(ctx)
		if err != nil {
			return nil, err
		}
		session := d.NewSession()
		var n1, n2 int
		system, n1 = session.Redact(system)
		prompt, n2 = session.Redact(prompt)
		out.Redacted = n1 + n2
		restorer = session.Restorer()
	}
	req := llm.Request{Model: ch.model.Name, System: system, Messages: []llm.Message{{Role: "user", Content: prompt}}, MaxTokens: maxTokens}
	var b strings.Builder
	res, err := ch.stream.Stream(ctx, req, func(text string) error {
		if restorer != nil {
			text = restorer.Write(text)
		}
		b.WriteString(text)
		return nil
	})
	if restorer != nil {
		b.WriteString(restorer.Flush())
	}
	if err != nil {
		s.logger.Warn("assistant: completion failed", "purpose", purpose, "provider", ch.info.Name, "err", err)
		return nil, domain.Unavailable(err, "The language model %q did not answer: %v", ch.info.Name, err)
	}
	out.Text = b.String()
	if res.TokensIn == 0 {
		res.TokensIn = llm.EstimateTokens(system) + llm.EstimateTokens(prompt)
	}
	if res.TokensOut == 0 {
		res.TokensOut = llm.EstimateTokens(out.Text)
	}
	if err := s.addUsage(ctx, domain.Usage{UserID: p.UserID, Day: s.now().UTC().Format(time.DateOnly), Provider: ch.info.Name, Messages: 1, TokensIn: res.TokensIn, TokensOut: res.TokensOut}); err != nil {
		s.logger.Warn("assistant: usage not recorded", "err", err)
	}
	return out, s.record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: "completion",
		Detail: fmt.Sprintf("purpose=%s provider=%s model=%s external=%t redacted=%d tokens_in=%d tokens_out=%d", purpose, ch.info.Name, ch.model.Name, ch.info.External, out.Redacted, res.TokensIn, res.TokensOut)})
}
