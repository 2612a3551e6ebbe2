package assistant

import (
	"strings"

	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/llm"
)

// offlineSearchDepth is how many passages the search finds for an offline
// answer: it chooses among them by their sentences, and weighs the
// question's words by how rare they are among them, so it looks as deep as
// the search allows; a word none of them holds is one the clinic's
// documents do not use.
const offlineSearchDepth = knowledge.MaxResults

// offlineGrounding keeps the passages an offline answer quotes, best first,
// so that the citations are exactly what the answer quotes (none when
// nothing in the documents answers). After the emergency notice, only the
// sentences that bear on the emergency described may be quoted: an answer
// that went on to vaccination side effects or opening hours would bury the
// notice.
func offlineGrounding(question string, results []knowledge.Result, emergency bool) []knowledge.Result {
	if emergency {
		results = emergencySentences(question, results)
		// The sentences kept speak of the emergency in the documents'
		// words, which the question may not use ("fainted" for "lost
		// consciousness").
		question += " " + emergencyQuoteBy(question)
	}
	passages := make([]llm.Passage, len(results))
	for i, r := range results {
		passages[i] = llm.Passage{N: i + 1, Title: r.Title, Heading: r.Heading, Text: r.Text}
	}
	chosen := llm.OfflineAnswering(question, passages, emergency)
	out := make([]knowledge.Result, len(chosen))
	for i, j := range chosen {
		out[i] = results[j]
	}
	return out
}

// emergencyQuoteBy is what an offline answer quotes by besides the words
// of a question that describes an emergency: the documents' words for it.
func emergencyQuoteBy(question string) string {
	return strings.Join(emergencyDocWords(question), " ")
}

// underEmergency reports whether sentence j is an item of a list that an
// emergency line introduces ("Call 112 at once if someone has:").
func underEmergency(sentences []string, j int) bool {
	if !strings.HasPrefix(sentences[j], "- ") {
		return false
	}
	for lead := j - 1; lead >= 0; lead-- {
		if !strings.HasPrefix(sentences[lead], "- ") {
			return strings.HasSuffix(sentences[lead], ":") && strings.Contains(strings.ToLower(sentences[lead]), "emergency")
		}
	}
	return false
}

// emergencySentences keeps, of each passage, the sentences that treat an
// emergency as one and speak of the one the question describes (in the
// words documents use for it: "stroke" for "her face looks lopsided"), with
// the line that introduces a list they are in ("Call 112 at once if someone
// has:"), and the passages that have any.
func emergencySentences(question string, results []knowledge.Result) []knowledge.Result {
	words := emergencyDocWords(question)
	var out []knowledge.Result
	for _, r := range results {
		sentences := llm.Sentences(r.Text)
		keep := make([]bool, len(sentences))
		any := false
		for j, s := range sentences {
			lower := strings.ToLower(s)
			if !IsEmergency(s) && !strings.Contains(lower, "emergency") && !underEmergency(sentences, j) {
				continue
			}
			for _, w := range words {
				if strings.Contains(lower, w) {
					keep[j], any = true, true
					break
				}
			}
			if keep[j] && strings.HasPrefix(s, "- ") {
				for lead := j - 1; lead >= 0; lead-- {
					if !strings.HasPrefix(sentences[lead], "- ") {
						keep[lead] = keep[lead] || strings.HasSuffix(sentences[lead], ":")
						break
					}
				}
			}
		}
		if !any {
			continue
		}
		var text []string
		for j, s := range sentences {
			if keep[j] {
				text = append(text, s)
			}
		}
		r.Text = strings.Join(text, "\n")
		out = append(out, r)
	}
	return out
}
