package llm

import (
	"regexp"
	"strings"
)

// Kinds of answer a question asks for. A question that asks when the
// clinic opens is answered by a sentence that holds a time or a day, one
// that asks for a number to call by a sentence that holds a phone number;
// the words of the question alone do not say so ("What time do you close on
// a Friday?" holds no word of "Friday: 08:00 – 16:00" but the day). Each
// kind counts as one more word of the question, held by the sentences of
// that kind, and weighs by how rare such sentences are like any word.
type answerKind struct {
	token    string         // never a word's stem: it starts with '#'
	asked    *regexp.Regexp // in the question, lower case
	answered *regexp.Regexp // in a sentence
}

var answerKindList = []answerKind{
	{"#time",
		regexp.MustCompile(`\b(when|what time|opening|open|close|closing|hours|mornings?|afternoons?|evenings?|lunchtime|latest|earliest|till|until)\b`),
		regexp.MustCompile(`\b\d{1,2}[:.]\d{2}\b|(?i)\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b`)},
	{"#phone",
		regexp.MustCompile(`\b(number|ring)\b`),
		regexp.MustCompile(`\+?\d[\d ()-]{6,}\d`)},
	{"#amount",
		regexp.MustCompile(`\b(cost|costs|price|fee|fees|how much does|how much is|how much will|free|pay for)\b`),
		regexp.MustCompile(`[$€£¥]\s?\d|\d\s?(dollars|euros|pounds|usd|eur|gbp)\b|(?i)\bfree\b`)},
	{"#duration",
		regexp.MustCompile(`\b(how long|how soon|how early|how far ahead|how many days|how many weeks)\b`),
		regexp.MustCompile(`(?i)\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve|thirty)\b[^.]{0,20}\b(minutes?|hours?|days?|weeks?|months?|years?)\b`)},
	{"#age",
		regexp.MustCompile(`\b(years? old|months? old|how old|aged?)\b`),
		regexp.MustCompile(`(?i)\b(under|over|from|aged?|older than|younger than)\s+\d+\b|\b\d+\s*(years?|months?)\s*(old|of age)\b|\b(years?|months?) old\b`)},
	{"#email",
		regexp.MustCompile(`\b(e-?mail|write to|address)\b`),
		regexp.MustCompile(`\S@\S`)},
}

// askedKind is a kind of answer a question asks for and the words that
// ask for it ("phone number").
type askedKind struct {
	token, words string
}

// askedKinds are the kinds of answer question asks for.
func askedKinds(question string) []askedKind {
	lower := strings.ToLower(question)
	var out []askedKind
	for _, k := range answerKindList {
		if m := k.asked.FindString(lower); m != "" {
			out = append(out, askedKind{token: k.token, words: m})
		}
	}
	return out
}

// answerKinds are the kinds of answer a sentence gives.
func answerKinds(sentence string) []string {
	var out []string
	for _, k := range answerKindList {
		if k.answered.MatchString(sentence) {
			out = append(out, k.token)
		}
	}
	return out
}
