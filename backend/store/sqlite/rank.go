package sqlite

import (
	"slices"
	"strings"
	"unicode"
)

// scoredText is a passage to score outside FTS5.
type scoredText struct {
	id             int64
	headings, body string
}

// BM25 parameters, FTS5's own.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// rankByTerms scores passages by BM25 with every term weighing alike: for
// each term, its saturated frequency in the passage (a word in the heading
// path counting twice), normalised by the passage's length against the
// average. A word matches a term when it is the term or the term followed
// by at most three letters (tests, testing), near what the porter stemmer
// of the full-text index matches. The best limit are returned, best first.
func rankByTerms(cands []scoredText, terms []string, limit int) []ranked {
	type doc struct {
		id     int64
		tf     []float64
		length float64
	}
	docs := make([]doc, 0, len(cands))
	var total float64
	for _, c := range cands {
		d := doc{id: c.id, tf: make([]float64, len(terms))}
		count := func(text string, weight float64) {
			for _, w := range strings.FieldsFunc(text, notWordRune) {
				d.length++
				if i := matchTerm(w, terms); i >= 0 {
					d.tf[i] += weight
				}
			}
		}
		count(c.headings, 2)
		count(c.body, 1)
		total += d.length
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		return nil
	}
	avg := total / float64(len(docs))
	out := make([]ranked, len(docs))
	for i, d := range docs {
		var score float64
		for _, tf := range d.tf {
			score += tf * (bm25K1 + 1) / (tf + bm25K1*(1-bm25B+bm25B*d.length/max(avg, 1)))
		}
		out[i] = ranked{d.id, score}
	}
	slices.SortStableFunc(out, func(a, b ranked) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	return out[:min(limit, len(out))]
}

func notWordRune(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// matchTerm returns the index of the term a word matches (see rankByTerms),
// or -1.
func matchTerm(word string, terms []string) int {
	for i, t := range terms {
		if len(word) >= len(t) && len(word)-len(t) <= 3 && strings.EqualFold(word[:len(t)], t) {
			return i
		}
	}
	return -1
}

// highlight is a snippet of text like FTS5's: about 24 words around the
// first word matching a term, matches between [[ and ]], "…" where text was
// cut.
func highlight(text string, terms []string) string {
	words := strings.Fields(text)
	first := 0
	for i, w := range words {
		if matchTerm(strings.TrimFunc(w, notWordRune), terms) >= 0 {
			first = i
			break
		}
	}
	start := max(0, first-6)
	end := min(len(words), start+24)
	var b strings.Builder
	if start > 0 {
		b.WriteString("…")
	}
	for i, w := range words[start:end] {
		if i > 0 || start > 0 {
			b.WriteByte(' ')
		}
		core := strings.TrimFunc(w, notWordRune)
		if core != "" && matchTerm(core, terms) >= 0 {
			at := strings.Index(w, core)
			b.WriteString(w[:at] + "[[" + core + "]]" + w[at+len(core):])
			continue
		}
		b.WriteString(w)
	}
	if end < len(words) {
		b.WriteString(" …")
	}
	return b.String()
}
