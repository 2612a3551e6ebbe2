package llm

import (
	"cmp"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/kljensen/snowball/english"
)

// How the offline answer chooses what to quote. The passages come ranked by
// the knowledge search, which matches words anywhere in a passage; the
// answer has to find the sentences that answer, and say so when none does.
//
// Words are compared by their Snowball stems, stop words left out. Each
// word of the question (with the words clinic documents use for it) weighs
// by how rare it is among the sentences and headings of the passages found;
// a word held only through another that says the same weighs by how rare
// that one is. The kind of answer a question asks for (a time, a phone
// number, an amount, a duration, an age, an address) is held by the
// sentences that give one. A sentence's evidence is the weight of the
// question's words it holds, plus the words its passage's headings hold,
// which count more since a heading says what every sentence under it is
// about, and less those only the document's title holds. The passages whose
// best sentence covers enough of the question's weight are ordered by that
// evidence, the question's words the passage holds anywhere, and the
// search's own order. The question is declined when no two sentences in a
// row of the best passage cover enough of its weight, the words no passage
// holds counted in full, or when it names a service none of the passages
// mentions (offline_vocabulary.go holds the words people use, the services
// and the other readings of a question's words).
const (
	maxOfflinePassages = 3
	// maxQuoteWords bounds the sentences quoted from one passage; a
	// sentence that answers better is never left out for a worse one.
	maxQuoteWords = 60
	// followingSentences is how many sentences after the best one come
	// with it.
	followingSentences = 2
	// minSentenceShare is the share of a passage's best sentence's
	// evidence another of its sentences needs to be quoted with it.
	minSentenceShare = 0.3
	// minCoverage is the share of the question's weight a passage must
	// hold to be quoted at all.
	minCoverage = 0.2
	// minAnswerCoverage is the share of the question's whole weight the
	// best passage must hold for the question to be answered at all;
	// measured on the development questions (see offlineeval).
	minAnswerCoverage = 0.15
	// minRelative is the share of the best passage's evidence another
	// passage needs to be quoted after it.
	minRelative = 0.6
	// headingShare and titleShare are how much a word counts when found in
	// the heading path or the document's title rather than the sentence.
	// A heading names what its passage is about, often in the words a
	// question uses ("What to bring"), when the sentences under it are a
	// list of answers that do not repeat them.
	headingShare = 1.5
	titleShare   = 0.6
	// unknownShare is the weight of a question word no passage holds,
	// against one that a single sentence holds: such words are often only
	// the asker's way of putting it ("stuck in traffic").
	unknownShare = 0.5
	// wholeShare is how much the question's words held anywhere in the
	// passage count, and rankShare how much the search's order counts, on
	// top of the best sentence's evidence.
	wholeShare = 1.0
	rankShare  = 0.4
	// numberShare is how much a number of the question counts against a
	// word.
	numberShare = 0.5
	// clinicShare is how much a word that names the clinic itself counts:
	// in the clinic's own documents every sentence is about the clinic
	// ("we", "our"), so "the clinic's phone number" asks mostly for the
	// phone number.
	clinicShare = 0.3
	// askShare is how much the question's form counts ("How do I…"
	// against a heading "How to…").
	askShare = 0.3
	// mentionShare is how much a word that asks for a kind of answer
	// counts in a sentence that holds the word but no answer of the kind.
	mentionShare = 0.5
)

// OfflineAnswering returns the indexes of the passages an offline answer
// to question quotes, best first; none when nothing in them answers it.
//
// Unless every passage is known to bear on the question (the sentences of
// an emergency the question describes), the answer also needs one
// sentence that covers enough of the question: at least minAnswerCoverage
// of its words' weight, the words no passage holds counted in full. A
// question whose specific words the documents never use is not answered by
// passages that share only its common ones.
func OfflineAnswering(question string, passages []Passage, allBear bool) []int {
	quotes := selectQuotes(question, passages, allBear)
	if !allBear && (len(quotes) == 0 || quotes[0].coverage < minAnswerCoverage || unknownService(question, passages) != "") {
		return nil
	}
	out := make([]int, len(quotes))
	for i, q := range quotes {
		out[i] = q.passage
	}
	return out
}

// OfflineSearchText is the question with the words its words stand for
// in clinic documents ("jab": vaccine), so that a search finds passages
// that say it otherwise.
func OfflineSearchText(question string) string {
	words := []string{question}
	lower := strings.ToLower(question)
	if p := phrases.Replace(lower); p != lower {
		words = append(words, p)
	}
	for _, t := range questionTerms(question) {
		words = append(words, t.alts[1:]...)
	}
	return strings.Join(words, " ")
}

// offlineQuote is what the answer quotes of one passage.
type offlineQuote struct {
	passage   int // index in Request.Passages
	sentences []string
	evidence  float64
	coverage  float64 // the share of the question's weight its best sentence holds
}

// selectQuotes returns the passages that answer the question, best first,
// with the sentences to quote from each; none when nothing answers. When
// every passage is known to bear on the question, none is left out for
// sharing too few of its words.
func selectQuotes(question string, passages []Passage, allBear bool) []offlineQuote {
	q := questionTerms(question)
	if len(q) == 0 {
		return nil
	}
	type sentence struct {
		text  string
		words []string
		list  bool // a list item or table row: a line of a list
	}
	type passageWords struct {
		sentences []sentence
		heading   []string
		title     []string
	}
	all := make([]passageWords, len(passages))
	total := 0
	for i, p := range passages {
		pw := passageWords{heading: append(stems(p.Heading), headingAsks(p.Heading)...), title: stems(p.Title)}
		for _, s := range Sentences(p.Text) {
			pw.sentences = append(pw.sentences, sentence{text: s, words: append(append(stems(s), answerKinds(s)...), daysWithin(s)...), list: isListLine(s)})
		}
		total += len(pw.sentences)
		all[i] = pw
	}
	// The weight of each question word: inverse sentence frequency. A
	// word held only through a word that says the same weighs by how rare
	// that word is, never more than the question's own: "phone" is rare,
	// "call", which may say it, is in every other sentence.
	idf := func(df int) float64 { return math.Log(1 + float64(total+1)/float64(df+1)) }
	weights := make([]float64, len(q))
	altWeights := make([][]float64, len(q))
	sum, full := 0.0, 0.0 // full: the words no passage holds at their full weight
	for k, t := range q {
		df, altDF := 0, make([]int, len(t.alts))
		count := func(words []string) {
			if t.in(words) {
				df++
			}
			for a, alt := range t.alts {
				if (questionTerm{alts: []string{alt}}).in(words) {
					altDF[a]++
				}
			}
		}
		for _, pw := range all {
			count(pw.heading)
			for _, s := range pw.sentences {
				count(s.words)
			}
		}
		weights[k] = idf(df)
		if altDF[0] > 0 {
			weights[k] = idf(altDF[0])
		}
		// A number in a question is mostly the asker's particulars (an
		// age, minutes late, a temperature) that documents give in ranges
		// and limits: it matches theirs only by chance.
		if strings.TrimFunc(t.alts[0], unicode.IsDigit) == "" {
			weights[k] *= numberShare
		}
		if clinicWords[t.alts[0]] {
			weights[k] *= clinicShare
		}
		if strings.HasPrefix(t.alts[0], askPrefix) {
			weights[k] *= askShare
		}
		altWeights[k] = make([]float64, len(t.alts))
		asksKind := slices.ContainsFunc(t.alts, func(a string) bool { return strings.HasPrefix(a, "#") })
		for a, alt := range t.alts {
			altWeights[k][a] = min(idf(altDF[a]), weights[k])
			// A word that asks for a kind of answer ("number") is
			// answered by a sentence of that kind, and only mentioned by
			// one that repeats the word.
			if asksKind && !strings.HasPrefix(alt, "#") {
				altWeights[k][a] *= mentionShare
			}
		}
		full += weights[k]
		if df == 0 {
			weights[k] *= unknownShare
		}
		sum += weights[k]
	}
	// held is the weight of question word k in words: that of the
	// weightiest of its forms they hold, 0 when they hold none.
	held := func(k int, words []string) float64 {
		w := 0.0
		for a, alt := range q[k].alts {
			if altWeights[k][a] > w && (questionTerm{alts: []string{alt}}).in(words) {
				w = altWeights[k][a]
			}
		}
		return w
	}
	// beyond is the evidence the headings and title add to words: the
	// question's words that the headings or, less, the title hold and the
	// words do not.
	beyond := func(words, heading, title []string) float64 {
		ev := 0.0
		for k := range q {
			if held(k, words) > 0 {
				continue
			}
			if h := held(k, heading); h > 0 {
				ev += headingShare * h
			} else {
				ev += titleShare * held(k, title)
			}
		}
		return ev
	}
	var out []offlineQuote
	for i, pw := range all {
		scores := make([]float64, len(pw.sentences))
		context := beyond(nil, pw.heading, pw.title) // evidence from the headings and title alone
		best, bestAt := 0.0, -1
		for j, s := range pw.sentences {
			for k := range q {
				scores[j] += held(k, s.words)
			}
			// A word in both sentence and heading counts once, fully.
			ev := scores[j] + beyond(s.words, pw.heading, pw.title)
			if bestAt < 0 || ev > best {
				best, bestAt = ev, j
			}
		}
		if bestAt < 0 {
			continue
		}
		if scores[bestAt] == 0 {
			best = context
		}
		if best < minCoverage*sum && !allBear {
			continue
		}
		// How much of the question the passage answers: the best two
		// sentences in a row, since an answer often takes two ("Never
		// share your password. The clinic will never ask for it.").
		coverage := context
		for j := range pw.sentences {
			pair := pw.sentences[j].words
			if j+1 < len(pw.sentences) {
				pair = append(slices.Clip(pair), pw.sentences[j+1].words...)
			}
			ev := beyond(pair, pw.heading, pw.title)
			for k := range q {
				ev += held(k, pair)
			}
			coverage = max(coverage, ev)
		}
		coverage /= full
		// The passage as a whole: the question's words any of its
		// sentences, its headings or its title hold.
		whole := 0.0
		for k := range q {
			h := headingShare * held(k, pw.heading)
			for _, s := range pw.sentences {
				h = max(h, held(k, s.words))
			}
			if h == 0 {
				h = titleShare * held(k, pw.title)
			}
			whole += h
		}
		// The search ranked the passages by all their words; its order
		// counts too.
		best = best/sum + wholeShare*whole/sum + rankShare/float64(i+1)
		var keep []int
		if scores[bestAt] == 0 {
			// Only the headings match: the passage is about the question as
			// a whole (a table of hours under "Opening hours"), so it is
			// quoted from its start.
			for j := range pw.sentences {
				keep = append(keep, j)
			}
		} else {
			order := make([]int, len(pw.sentences))
			for j := range order {
				order[j] = j
			}
			slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
			for _, j := range order {
				if scores[j] < minSentenceShare*scores[bestAt] {
					break
				}
				keep = append(keep, j)
			}
		}
		// Within the word budget, in order of merit, then in text order;
		// a list line comes with the line that introduces its list.
		words := 0
		chosen := map[int]bool{}
		for n, j := range keep {
			cost := len(strings.Fields(pw.sentences[j].text))
			if n > 0 && words+cost > maxQuoteWords {
				break
			}
			words += cost
			chosen[j] = true
			if pw.sentences[j].list {
				for lead := j - 1; lead >= 0; lead-- {
					if !pw.sentences[lead].list {
						if strings.HasSuffix(pw.sentences[lead].text, ":") && !chosen[lead] {
							chosen[lead] = true
							words += len(strings.Fields(pw.sentences[lead].text))
						}
						break
					}
				}
			}
		}
		// What follows the best sentence often completes it (the steps
		// after "Order in the portal"): the next sentences of prose come
		// too, while the budget allows.
		if scores[bestAt] > 0 {
			for j := bestAt + 1; j < len(pw.sentences) && j <= bestAt+followingSentences && !pw.sentences[j].list; j++ {
				cost := len(strings.Fields(pw.sentences[j].text))
				if words+cost > maxQuoteWords {
					break
				}
				if !chosen[j] {
					chosen[j] = true
					words += cost
				}
			}
		}
		oq := offlineQuote{passage: i, evidence: best, coverage: coverage}
		for j, s := range pw.sentences {
			if chosen[j] {
				oq.sentences = append(oq.sentences, s.text)
			}
		}
		out = append(out, oq)
	}
	slices.SortStableFunc(out, func(a, b offlineQuote) int { return cmp.Compare(b.evidence, a.evidence) })
	for n := 1; n < len(out); n++ {
		if n == maxOfflinePassages || (out[n].evidence < minRelative*out[0].evidence && !allBear) {
			out = out[:n]
			break
		}
	}
	return out
}

// isListLine reports whether a line is a list item or a table row.
func isListLine(s string) bool {
	if strings.HasPrefix(s, "- ") || strings.HasPrefix(s, "* ") || strings.HasPrefix(s, "+ ") {
		return true
	}
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) })
	if i > 0 && (strings.HasPrefix(s[i:], ". ") || strings.HasPrefix(s[i:], ") ")) {
		return true
	}
	// A table row as the extractor writes it: "Friday: 08:00 – 16:00".
	label, value, ok := strings.Cut(s, ": ")
	return ok && len(strings.Fields(label)) <= 5 && !strings.ContainsAny(value, ".!?") && len(strings.Fields(value)) <= 12
}

// Sentences cuts text into sentences: at a sentence's end, and at each line
// break (a list item or table row is a line). A line's leading number ("1.
// Book a slot") does not end a sentence.
func Sentences(text string) []string {
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
		if (r == '.' || r == '!' || r == '?') && (i+1 == len(rs) || unicode.IsSpace(rs[i+1])) && !isOrdinal(b.String()) {
			flush()
		}
	}
	flush()
	return out
}

// isOrdinal reports whether s is only a number and its full stop ("12."),
// the start of a numbered list item.
func isOrdinal(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) > 1 && strings.TrimLeftFunc(s[:len(s)-1], unicode.IsDigit) == ""
}

var stopwords = map[string]bool{"the": true, "and": true, "for": true, "are": true, "you": true, "your": true, "can": true,
	"what": true, "when": true, "how": true, "who": true, "with": true, "this": true, "that": true, "from": true, "have": true,
	"has": true, "not": true, "but": true, "our": true, "was": true, "will": true, "does": true, "should": true, "would": true,
	"there": true, "their": true, "they": true, "about": true, "into": true, "may": true, "any": true, "all": true, "its": true,
	"is": true, "it": true, "do": true, "i": true, "my": true, "me": true, "we": true, "us": true, "a": true, "an": true,
	"of": true, "to": true, "in": true, "on": true, "at": true, "or": true, "if": true, "be": true, "am": true, "get": true,
	"got": true, "need": true, "want": true, "much": true, "many": true, "why": true, "where": true, "which": true, "i'm": true,
	"im": true, "haven't": true, "havent": true, "isn't": true, "isnt": true, "didn't": true, "won't": true, "wasn't": true,
	"aren't": true, "i've": true, "ive": true, "it's": true, "i'll": true, "you're": true, "someone": true, "something": true, "been": true, "there's": true, "what's": true, "whats": true, "did": true, "could": true, "just": true, "some": true,
	"still": true, "here": true, "than": true, "then": true, "them": true, "him": true, "his": true, "her": true, "she": true,
	"he": true, "after": true, "before": true, "also": true, "too": true, "very": true, "one": true, "like": true, "know": true,
	"tell": true, "please": true, "able": true, "ok": true, "okay": true, "so": true, "no": true, "yes": true, "as": true, "by": true,
	"more": true, "less": true, "most": true, "really": true, "even": true, "ever": true, "every": true,
	"up": true, "out": true, "off": true, "only": true, "way": true, "does't": true, "don't": true, "dont": true, "can't": true, "cant": true,
	"hasn't": true, "hasnt": true, "hadn't": true, "doesn't": true, "doesnt": true, "shouldn't": true, "couldn't": true,
	"wouldn't": true, "weren't": true, "mustn't": true, "needn't": true, "i'd": true, "you've": true, "we're": true}

// questionTerm is a word of the question with the other words that say the
// same.
type questionTerm struct {
	alts []string
}

// in reports whether words (stems) hold the term or one of its synonyms.
func (t questionTerm) in(words []string) bool {
	for _, a := range t.alts {
		for _, w := range words {
			if sameStem(a, w) {
				return true
			}
		}
	}
	return false
}

// questionTerms are the question's words that say what it is about.
func questionTerms(question string) []questionTerm {
	var out []questionTerm
	for _, w := range stems(phrases.Replace(strings.ToLower(question))) {
		alts := append([]string{w}, synonyms[w]...)
		out = append(out, questionTerm{alts: alts})
	}
	if a := questionAsks(question); a != "" {
		out = append(out, questionTerm{alts: []string{a}})
	}
	// A word that asks for a kind of answer ("number") is held by a
	// sentence of that kind too; a kind asked for by words that are not
	// content words ("when") is a term of its own.
	for _, k := range askedKinds(question) {
		attached := false
		for _, w := range stems(k.words) {
			for i := range out {
				if out[i].alts[0] == w {
					out[i].alts = append(out[i].alts, k.token)
					attached = true
				}
			}
		}
		if !attached {
			out = append(out, questionTerm{alts: []string{k.token}})
		}
	}
	return out
}

var addresses = regexp.MustCompile(`\S+@\S+|https?://\S+|www\.\S+`)

// stems returns the distinct stems of s's words, stopwords left out.
func stems(s string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(w string) {
		w = strings.Trim(w, "-'")
		if w == "" || stopwords[w] || english.IsStopWord(w) || len(w) < 2 {
			return
		}
		w = stem(strings.ReplaceAll(w, "'s", ""))
		if !seen[w] && !stopwords[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	// An address is not the words it is made of: "billing@clinic.example"
	// does not speak of the clinic.
	s = addresses.ReplaceAllString(s, " ")
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '\''
	}) {
		add(w)
		// A compound holds its parts: "self-paying" speaks of paying.
		if strings.Contains(strings.Trim(w, "-"), "-") {
			for part := range strings.SplitSeq(w, "-") {
				add(part)
			}
		}
	}
	return out
}

// stem is the word's Snowball (Porter2) English stem: "vaccinated",
// "vaccines" and "vaccination" are all "vaccin".
func stem(w string) string {
	return english.Stem(w, false)
}

// sameStem reports whether two stems are of one word family: equal, or the
// shorter, of six letters or more, begins the longer ("children" and
// "child" are not; the synonyms join them).
func sameStem(a, b string) bool {
	if a == b {
		return true
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	return len(a) >= 6 && strings.HasPrefix(b, a)
}
