package chunk

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzSplit splits any text, cut into sections at \x1e, with any budgets,
// and checks what Split promises (see check): no panic; ordinals in order;
// headings kept; every chunk within MaxTokens+OverlapTokens and counted
// right; valid UTF-8 out of valid UTF-8 in; Start and End in range, trimmed
// and in order, with only whitespace between them, so the chunks' own texts
// hold every non-whitespace character of the input in order; the own text
// the normalised source; the overlap whole words from the end of the
// previous chunk of the same section, within budget; and the same chunks
// when split again.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"",
		"   \n\n\t",
		s1 + " " + s2 + "\n\n" + s3 + "\x1e" + s4 + " " + s5,
		"Dr. Müller prescribes e.g. ibuprofen. Take it with food.\r\n\r\nRepeat prescriptions online!",
		"İlaçlarınızı düzenli alın. Op. Dr. Işık Yılmaz önerir.",
		"请按时服药。如有疑问，请联系医生！「はい。」次です。",
		"Get well 😷👍🏽. See you 👩\u200d⚕\ufe0f!",
		"- aa bb\n- cc dd\n- ee ff\n- gg hh",
		strings.Repeat("abcdefghij", 30) + " end.",
		"a\u0301\u0301 \u2029 b\u2028c\u0085d\u00a0e",
		"\xff\xfe. \xc3 x\x1e\x1e。。",
		"1. Book\n2. Confirm.\n\n\n\nNo. 3",
	} {
		f.Add(s, uint8(8), int8(3), int8(2))
		f.Add(s, uint8(0), int8(0), int8(0))
	}
	f.Fuzz(func(t *testing.T, text string, maxTokens uint8, overlap, minTokens int8) {
		var sections []Section
		for i, part := range strings.Split(text, "\x1e") {
			sections = append(sections, Section{Headings: []string{"Doc", strconv.Itoa(i)}, Text: part})
		}
		// Small budgets, where the edge cases are; zero means the defaults.
		o := Options{MaxTokens: int(maxTokens % 40), OverlapTokens: int(overlap % 20), MinTokens: int(minTokens % 20)}
		chunks := Split(sections, o)
		if err := check(sections, o, chunks); err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if again := Split(sections, o); !reflect.DeepEqual(again, chunks) {
			t.Fatalf("%+v: a second split differs", o)
		}
	})
}
