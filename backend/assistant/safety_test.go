package assistant

import (
	"regexp"
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
