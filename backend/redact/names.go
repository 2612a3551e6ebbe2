package redact

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// nameWords splits a name into lower-case words, keeping hyphens and
// apostrophes inside them.
func nameWords(s string) []string {
	var out []string
	for _, m := range wordRE.FindAllString(s, -1) {
		out = append(out, strings.ToLower(normalizeApostrophe(m)))
	}
	return out
}

func normalizeApostrophe(s string) string { return strings.ReplaceAll(s, "’", "'") }

// commonWords are first names or surnames that are also ordinary words; alone
// they are not taken for a patient.
var commonWords = map[string]bool{
	"will": true, "may": true, "june": true, "april": true, "august": true, "grace": true, "hope": true,
	"faith": true, "joy": true, "rose": true, "mark": true, "bill": true, "pat": true, "frank": true,
	"earnest": true, "art": true, "sue": true, "don": true, "ray": true, "rich": true, "miles": true,
	"young": true, "brown": true, "white": true, "black": true, "green": true, "long": true, "little": true,
	"king": true, "cook": true, "baker": true, "wood": true, "hill": true, "lane": true, "more": true,
	"the": true, "and": true, "van": true, "von": true, "der": true, "del": true, "de": true,
}

var honorificRE = regexp.MustCompile(`\b(?:Mr|Mrs|Ms|Miss|Mx)\.?\s+([A-Z][\p{L}'’-]+(?:\s+[A-Z][\p{L}'’-]+)?)`)

// findNames finds known patients' names (the whole name, or a first name or
// surname that no other patient shares and is not an ordinary word) and any
// name after an honorific.
func (d *Detector) findNames(text string, add func(Kind, int, int)) {
	for _, m := range honorificRE.FindAllStringSubmatchIndex(text, -1) {
		name := text[m[2]:m[3]]
		// "Mr Brightwater's SSN": the name ends at the possessive.
		if first, _, two := strings.Cut(name, " "); two && trimPossessiveRaw(first) != first {
			name = first
		}
		add(Patient, m[2], m[2]+len(trimPossessiveRaw(name)))
	}
	if len(d.full) == 0 {
		return
	}
	words := wordRE.FindAllStringIndex(text, -1)
	d.matchNames(text, words, add)
	// A hyphenated word may hold a name: a file's title such as
	// "wei-zhang-referral" or a name joined to another word.
	for _, w := range words {
		if strings.ContainsRune(text[w[0]:w[1]], '-') {
			d.matchNames(text, hyphenPieces(text, w), add)
		}
	}
}

// matchNames finds the known names among words (byte ranges of text, in
// order): whole names first, then first names or surnames alone.
func (d *Detector) matchNames(text string, words [][]int, add func(Kind, int, int)) {
	lower := make([]string, len(words))
	for i, w := range words {
		lower[i] = strings.ToLower(normalizeApostrophe(text[w[0]:w[1]]))
	}
	for i := 0; i < len(words); i++ {
		matched := 0
		for n := min(d.maxWords, len(words)-i); n >= 2 && matched == 0; n-- {
			last := trimPossessive(lower[i+n-1])
			name := strings.Join(append(slices.Clone(lower[i:i+n-1]), last), " ")
			if _, ok := d.full[name]; ok && adjacent(text, words[i:i+n]) {
				end := words[i+n-1][0] + len(trimPossessiveRaw(text[words[i+n-1][0]:words[i+n-1][1]]))
				add(Patient, words[i][0], end)
				matched = n
			}
		}
		if matched > 0 {
			i += matched - 1
			continue
		}
		w := trimPossessive(lower[i])
		if _, ok := d.parts[w]; ok {
			raw := text[words[i][0]:words[i][1]]
			// A lower-case single name is a person only when it is
			// not at the same time a word of the language.
			if unicode.IsUpper([]rune(raw)[0]) || !commonWords[w] {
				add(Patient, words[i][0], words[i][0]+len(trimPossessiveRaw(raw)))
			}
		}
	}
}

// hyphenPieces splits the word at byte range w of text at its hyphens.
func hyphenPieces(text string, w []int) [][]int {
	var out [][]int
	start := w[0]
	for i := w[0]; i <= w[1]; i++ {
		if i == w[1] || text[i] == '-' {
			if i > start {
				out = append(out, []int{start, i})
			}
			start = i + 1
		}
	}
	return out
}

// adjacent reports whether the words are separated by nothing but spaces,
// underscores or hyphens ("Wei Zhang", "wei_zhang", "wei-zhang").
func adjacent(text string, words [][]int) bool {
	for i := 1; i < len(words); i++ {
		if strings.Trim(text[words[i-1][1]:words[i][0]], " \t\r\n_-") != "" {
			return false
		}
	}
	return true
}

func trimPossessive(w string) string { return strings.TrimSuffix(w, "'s") }

func trimPossessiveRaw(w string) string {
	if s, ok := strings.CutSuffix(w, "'s"); ok {
		return s
	}
	if s, ok := strings.CutSuffix(w, "’s"); ok {
		return s
	}
	return w
}
