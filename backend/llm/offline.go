package llm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Offline answers without a language model: it quotes the sentences of the
// retrieved passages that share the most words with the question, each with
// its citation, and says plainly that no model is configured.
type Offline struct{}

// OfflineIntro opens every offline answer.
const OfflineIntro = "No language model is configured, so this answer quotes the clinic's own documents that best match your question."

// maxOfflinePassages and maxOfflineSentences bound an offline answer.
const (
	maxOfflinePassages  = 3
	maxOfflineSentences = 3
)

func (Offline) Stream(ctx context.Context, req Request, emit func(string) error) (Result, error) {
	question := ""
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			question = req.Messages[i].Content
			break
		}
	}
	words := contentWords(question)
	var parts []string
	parts = append(parts, OfflineIntro+"\n\n")
	quoted := 0
	for _, p := range req.Passages {
		if quoted == maxOfflinePassages {
			break
		}
		best := bestSentences(p.Text, words, maxOfflineSentences)
		if len(best) == 0 {
			continue
		}
		where := p.Title
		if p.Heading != "" && p.Heading != p.Title {
			where += " › " + p.Heading
		}
		parts = append(parts, fmt.Sprintf("**%s** [%d]\n", where, p.N))
		for _, s := range best {
			parts = append(parts, "> "+s+"\n")
		}
		parts = append(parts, "\n")
		quoted++
	}
	if quoted == 0 {
		parts = append(parts, "Nothing in the clinic's documents matches your question. Please ask the clinic's staff, or rephrase the question with other words.\n")
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

// bestSentences returns up to n sentences of text sharing the most words
// with the question, in their order in the text; the first sentences when
// none shares a word.
func bestSentences(text string, words map[string]bool, n int) []string {
	sentences := splitSentences(text)
	type scored struct {
		i, score int
	}
	var ss []scored
	for i, s := range sentences {
		score := 0
		for w := range contentWords(s) {
			if words[w] {
				score++
			}
		}
		ss = append(ss, scored{i, score})
	}
	slices.SortStableFunc(ss, func(a, b scored) int { return b.score - a.score })
	var keep []int
	for _, s := range ss {
		if len(keep) == n || (s.score == 0 && len(keep) > 0) {
			break
		}
		keep = append(keep, s.i)
	}
	slices.Sort(keep)
	out := make([]string, 0, len(keep))
	for _, i := range keep {
		out = append(out, sentences[i])
	}
	return out
}

// splitSentences cuts text at sentence ends and line breaks.
func splitSentences(text string) []string {
	var out []string
	var b strings.Builder
	flush := func() {
		if s := strings.TrimSpace(b.String()); s != "" {
			out = append(out, strings.Join(strings.Fields(s), " "))
		}
		b.Reset()
	}
	rs := []rune(text)
	for i, r := range rs {
		if r == '\n' {
			flush()
			continue
		}
		b.WriteRune(r)
		if (r == '.' || r == '!' || r == '?') && (i+1 == len(rs) || unicode.IsSpace(rs[i+1])) {
			flush()
		}
	}
	flush()
	return out
}

var stopwords = map[string]bool{"the": true, "and": true, "for": true, "are": true, "you": true, "your": true, "can": true,
	"what": true, "when": true, "how": true, "who": true, "with": true, "this": true, "that": true, "from": true, "have": true,
	"has": true, "not": true, "but": true, "our": true, "was": true, "will": true, "does": true, "should": true, "would": true,
	"there": true, "their": true, "they": true, "about": true, "into": true, "may": true, "any": true, "all": true, "its": true}

// contentWords are the lower-case words of three or more letters that are
// not stopwords, with a plural s dropped.
func contentWords(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len(w) < 3 || stopwords[w] {
			continue
		}
		if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
			w = w[:len(w)-1]
		}
		out[w] = true
	}
	return out
}

// EstimateTokens approximates a text's tokens (about four characters each
// in English) where a provider does not count them.
func EstimateTokens(s string) int {
	if s == "" {
		return 0
	}
	return len(s)/4 + 1
}
