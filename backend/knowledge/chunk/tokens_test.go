package chunk

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCountTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{" \t\r\n\u00a0\u3000\u2029", 0},
		{"a b c", 3},
		{"take", 1},  // four letters: one token
		{"daily", 2}, // five: two
		{"Hello, world!", 6},
		{"e.g.", 4},
		{"...", 1},
		{"?!", 1},
		{"2026-06-01", 5},
		{"Überweisungsschein", 5}, // 18 runes
		{"U\u0308berweisungsschein", 5},
		{"İlaç", 1},
		{"İstanbul'da", 4},
		{"ılık", 1},
		{"👍", 1},
		{"👍👍", 2},
		{"👍🏽", 1},             // skin tone modifier
		{"👩\u200d⚕\ufe0f", 2}, // health worker: woman, joiner, staff of Aesculapius, variation selector
		{"日本語", 3},
		{"日本語。", 4},
		{"한국어 문장", 5},
		{"\u0301", 1}, // a mark with nothing to attach to
		{"a\u0301\u0301\u0301", 1},
		{"\xff\xfe", 2},
	} {
		if got := CountTokens(tc.in); got != tc.want {
			t.Errorf("CountTokens(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestCountTokensAllocationFree(t *testing.T) {
	s := strings.Repeat("Überweisung für Dr. Yılmaz, 日本語 👍 e.g. 2026-06-01. ", 100)
	if n := testing.AllocsPerRun(100, func() { CountTokens(s) }); n != 0 {
		t.Fatalf("CountTokens allocates %v times", n)
	}
}

func TestPrefix(t *testing.T) {
	for _, tc := range []struct {
		in     string
		budget int
		want   string
	}{
		{"abcdefghij", 1, "abcd"},
		{"abcdefghij", 2, "abcdefgh"},
		{"abcdefghij", 3, "abcdefghij"},
		{"日本語", 2, "日本"},
		{"a\u0301b\u0301c\u0301d\u0301e", 1, "a\u0301b\u0301c\u0301d\u0301"}, // marks stay with their letter
		{"👍🏽👍🏽", 1, "👍🏽"},
		{"ab..cd", 2, "ab.."},
	} {
		n, tokens := prefix(tc.in, tc.budget)
		if got := tc.in[:n]; got != tc.want || tokens != CountTokens(got) {
			t.Errorf("prefix(%q, %d) = %q, %d tokens; want %q, %d", tc.in, tc.budget, got, tokens, tc.want, CountTokens(tc.want))
		}
	}
}

// FuzzCountTokens checks what Split relies on: cutting a string anywhere
// never lowers its count, and cutting it at whitespace leaves it unchanged;
// and prefix finds the longest prefix within a budget.
func FuzzCountTokens(f *testing.F) {
	for _, s := range []string{"", "hello world", "Überweisungsschein", "日本語。「次」", "👩\u200d⚕\ufe0f", "a\u0301", "...!?", "\xff\xfeab"} {
		f.Add(s, uint16(3), uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, at uint16, budget uint8) {
		whole := CountTokens(s)
		if whole > utf8.RuneCountInString(s) {
			t.Fatalf("%q: %d tokens for %d runes", s, whole, utf8.RuneCountInString(s))
		}
		i := 0
		if len(s) > 0 {
			i = int(at) % (len(s) + 1)
		}
		for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
			i--
		}
		a, b := CountTokens(s[:i]), CountTokens(s[i:])
		if whole > a+b {
			t.Fatalf("%q cut at %d: %d > %d + %d", s, i, whole, a, b)
		}
		if got := CountTokens(s[:i] + " " + s[i:]); got != a+b {
			t.Fatalf("%q with a space at %d: %d, want %d + %d", s, i, got, a, b)
		}
		if budget == 0 {
			return
		}
		n, tokens := prefix(s, int(budget))
		if tokens != CountTokens(s[:n]) || tokens > int(budget) {
			t.Fatalf("prefix(%q, %d) = %d bytes, %d tokens (really %d)", s, budget, n, tokens, CountTokens(s[:n]))
		}
		if n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:])
			if n == 0 || CountTokens(s[:n+size]) <= int(budget) {
				t.Fatalf("prefix(%q, %d) = %d bytes: not the longest", s, budget, n)
			}
		}
	})
}
