package assistant

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEmergencyStemsCoverPatterns: every literal alternative of the
// emergency patterns holds a stem, so the quick check never hides a match.
func TestEmergencyStemsCoverPatterns(t *testing.T) {
	src := emergencyPatterns.String()
	src = strings.TrimSuffix(strings.TrimPrefix(src, `(?i)\b(?:`), `)\b`)
	for _, alt := range topLevel(src) {
		plain := regexp.MustCompile(`\(\?:|[()?*+\\]|\[[^\]]*\]|'`).ReplaceAllString(strings.ToLower(alt), "")
		found := false
		for _, s := range emergencyStems {
			found = found || strings.Contains(plain, s)
		}
		if !found {
			t.Errorf("pattern %q has no stem", alt)
		}
	}
	for _, msg := range []string{"I have chest pain", "He stopped breathing", "my lips are swelling", "I took too many pills", "She passed out"} {
		if !IsEmergency(msg) {
			t.Errorf("%q not taken for an emergency", msg)
		}
	}
}

// topLevel splits a pattern at the | that are outside parentheses.
func topLevel(src string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
		case '|':
			if depth == 0 {
				out = append(out, src[start:i])
				start = i + 1
			}
		}
	}
	return append(out, src[start:])
}

// Emergencies described in a person's own words are taken for emergencies,
// and each gives the words the documents use for it; everyday complaints
// that share a word are not.
func TestEmergencyInPeoplesOwnWords(t *testing.T) {
	for msg, docWord := range map[string]string{
		"My grandmother's arm went weak and her face looks lopsided":                    "stroke",
		"my husband can't catch his breath and his lips have gone a bluish colour":      "lips",
		"my flatmate fainted and we can't get her to come round":                        "consciousness",
		"had my jab last night and now my face is puffing up and my throat feels tight": "allergic",
		"my brother keeps saying everyone would be better off without him":              "ending their life",
		"I don't feel safe with myself tonight":                                         "crisis",
		"my son just had a fit, he's never had one before":                              "seizure",
		"my dad says his chest feels tight and heavy":                                   "chest",
		"Someone near me is having a seizure that won't stop":                           "seizure",
		"There's blood everywhere, it's pouring out of his leg":                         "bleeding",
	} {
		if !IsEmergency(msg) {
			t.Errorf("%q not taken for an emergency", msg)
			continue
		}
		if words := emergencyDocWords(msg); !slices.Contains(words, docWord) {
			t.Errorf("%q: the documents' words %v lack %q", msg, words, docWord)
		}
	}
	for _, msg := range []string{"My leg feels weak after the gym", "Do you treat epilepsy?", "I feel safe with my doctor",
		"What time do you open?", "Is the flu jab safe for me?", "Will the new shoes fit?"} {
		if IsEmergency(msg) {
			t.Errorf("%q taken for an emergency", msg)
		}
	}
}
