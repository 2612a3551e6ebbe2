package llm

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// Offline answers without a language model: it quotes the sentences of the
// retrieved passages that answer the question, each passage with its
// citation, and says plainly that no model is configured, or that nothing
// in the documents answers the question when no passage does.
type Offline struct{}

// OfflineIntro opens every offline answer.
const OfflineIntro = "No language model is configured, so this answer quotes the clinic's own documents that best match your question."

// OfflineNothingAnswers is the offline answer's plain reply when no passage
// found answers the question.
const OfflineNothingAnswers = "Nothing in the clinic's documents answers this question."

func (Offline) Stream(ctx context.Context, req Request, emit func(string) error) (Result, error) {
	question := ""
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			question = req.Messages[i].Content
			break
		}
	}
	parts := []string{OfflineIntro + "\n\n"}
	// Words to quote by besides the question's mean the passages were
	// chosen for them: each is quoted.
	quotes := selectQuotes(strings.TrimSpace(question+" "+req.QuoteBy), req.Passages, req.QuoteBy != "")
	// The passages come best first: the offline grounding chose and ordered
	// them over every passage the search found, which weighs the words
	// better than these few can.
	slices.SortFunc(quotes, func(a, b offlineQuote) int { return cmp.Compare(a.passage, b.passage) })
	for _, q := range quotes {
		p := req.Passages[q.passage]
		where := p.Title
		if p.Heading != "" && p.Heading != p.Title {
			where += " › " + p.Heading
		}
		parts = append(parts, fmt.Sprintf("**%s** [%d]\n", where, p.N))
		for _, s := range q.sentences {
			parts = append(parts, "> "+s+"\n")
		}
		parts = append(parts, "\n")
	}
	if len(quotes) == 0 {
		parts = append(parts, OfflineNothingAnswers+" Please ask the clinic's staff, or rephrase the question with other words.\n")
	} else {
		parts = append(parts, "Please read the full documents cited, and ask the clinic's staff if your question is not answered there.\n")
	}
	var res Result
	for _, s := range parts {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := emit(s); err != nil {
			return res, err
		}
		res.TokensOut += EstimateTokens(s)
	}
	res.TokensIn = EstimateTokens(question)
	res.FinishReason = "stop"
	return res, nil
}

// EstimateTokens approximates a text's tokens (about four characters each
// in English) where a provider does not count them.
func EstimateTokens(s string) int {
	if s == "" {
		return 0
	}
	return len(s)/4 + 1
}
