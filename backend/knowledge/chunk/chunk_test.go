package chunk

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Sentences of five tokens each ("dd." is two), to make budgets easy to
// follow.
const (
	s1 = "Aa bb cc dd."
	s2 = "Ee ff gg hh."
	s3 = "Ii jj kk ll."
	s4 = "Mm nn oo pp."
	s5 = "Qq rr ss tt."
	s6 = "Uu vv ww xx."
)

func budget(max int) Options { return Options{MaxTokens: max, OverlapTokens: -1, MinTokens: -1} }

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sections []Section
		o        Options
		want     []string // own texts
	}{
		{"one short section, one chunk", []Section{{Text: "Take one tablet daily.\n\nDo not drive."}}, Options{},
			[]string{"Take one tablet daily.\n\nDo not drive."}},
		{"whitespace written canonically", []Section{{Text: "  First line\r\nsecond   line.\r\n\r\n \r\n\tNext\u00a0para.\u2029End \n"}}, Options{},
			[]string{"First line\nsecond line.\n\nNext para.\n\nEnd"}},
		{"nothing from empty or blank sections", []Section{{Headings: []string{"Empty"}}, {Text: " \n\n\t\r\n"}, {Text: "\u00a0\u2029\u3000"}}, Options{},
			nil},
		{"never across sections", []Section{{Text: s1}, {Text: s2}, {Text: "\n"}, {Text: s3}}, Options{},
			[]string{s1, s2, s3}},
		{"paragraphs together while they fit", []Section{{Text: s1 + "\n\n" + s2 + "\n\n" + s3}}, budget(10),
			[]string{s1 + "\n\n" + s2, s3}},
		{"a paragraph boundary before a sentence boundary", []Section{{Text: "Aa bb cc.\n\nDd ee. Ff gg hh ii jj kk."}}, budget(10),
			[]string{"Aa bb cc.", "Dd ee. Ff gg hh ii jj kk."}},
		{"sentences when a paragraph is too long", []Section{{Text: strings.Join([]string{s1, s2, s3, s4, s5}, " ")}}, budget(12),
			[]string{s1 + " " + s2, s3 + " " + s4, s5}},
		{"lines when a sentence is too long", []Section{{Text: "- aa bb\n- cc dd\n- ee ff\n- gg hh"}}, budget(7),
			[]string{"- aa bb\n- cc dd", "- ee ff\n- gg hh"}},
		{"words when a line is too long", []Section{{Text: "Aa bb cc dd ee ff gg hh ii jj."}}, budget(4),
			[]string{"Aa bb cc dd", "ee ff gg hh", "ii jj."}},
		{"a small chunk is topped up from the next paragraph", []Section{{Text: "Aa bb cc.\n\nDd ee. Ff gg hh ii jj kk."}}, Options{MaxTokens: 10, OverlapTokens: -1, MinTokens: 5},
			[]string{"Aa bb cc.\n\nDd ee.", "Ff gg hh ii jj kk."}},
		{"a word too long is cut between runes", []Section{{Text: "See " + strings.Repeat("abcdefghij", 5) + " now."}}, budget(4),
			[]string{"See " + strings.Repeat("abcdefghij", 5)[:12], strings.Repeat("abcdefghij", 5)[12:28], strings.Repeat("abcdefghij", 5)[28:44], strings.Repeat("abcdefghij", 5)[44:] + " now."}},
		{"German", []Section{{Text: "Überweisungsscheine gibt es am Empfang. Bitte ggf. Versichertenkarte mitbringen."}}, budget(13),
			[]string{"Überweisungsscheine gibt es am Empfang.", "Bitte ggf. Versichertenkarte mitbringen."}},
		{"Turkish", []Section{{Text: "İlaçlarınızı düzenli alın. Op. Dr. Işık Yılmaz önerir."}}, budget(10),
			[]string{"İlaçlarınızı düzenli alın.", "Op. Dr. Işık Yılmaz önerir."}},
		{"emoji", []Section{{Text: "Get well soon 😷👍🏽. See you 👩\u200d⚕\ufe0f!"}}, budget(6),
			[]string{"Get well soon 😷👍🏽.", "See you 👩\u200d⚕\ufe0f!"}},
		{"CJK at full stops, then between characters", []Section{{Text: "请按时服药。如有疑问请联系医生。"}}, budget(7),
			[]string{"请按时服药。", "如有疑问请联系", "医生。"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks := Split(tc.sections, tc.o)
			if err := check(tc.sections, tc.o, chunks); err != nil {
				t.Fatal(err)
			}
			if got := own(chunks); !slices.Equal(got, tc.want) {
				t.Fatalf("own texts\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSplitHeadings(t *testing.T) {
	sections := []Section{
		{Headings: []string{"Repeat prescriptions"}, Text: s1 + "\n\n" + s2},
		{Headings: []string{"Repeat prescriptions", "Ordering online"}, Text: s3 + " " + s4 + " " + s5},
		{Headings: nil, Text: s6},
	}
	chunks := Split(sections, budget(10))
	if err := check(sections, budget(10), chunks); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range chunks {
		got = append(got, strings.Join(c.Headings, " › ")+": "+c.Text)
	}
	want := []string{
		"Repeat prescriptions: " + s1 + "\n\n" + s2,
		"Repeat prescriptions › Ordering online: " + s3 + " " + s4,
		"Repeat prescriptions › Ordering online: " + s5,
		": " + s6,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	sections[1].Headings[0] = "changed"
	if chunks[1].Headings[0] != "Repeat prescriptions" {
		t.Fatal("chunks share the caller's heading slice")
	}
}

func TestSplitOverlap(t *testing.T) {
	text := strings.Join([]string{s1, s2, s3, s4, s5, s6}, " ")
	list := "- aa bb\n- cc dd\n- ee ff\n- gg hh\n- ii jj\n- kk ll"
	for _, tc := range []struct {
		name string
		text string
		o    Options
		want []string // whole texts
	}{
		{"whole sentences", text, Options{MaxTokens: 10, OverlapTokens: 5, MinTokens: -1},
			[]string{s1 + " " + s2, s2 + " " + s3 + " " + s4, s4 + " " + s5 + " " + s6}},
		{"words when the last sentence is too long", text, Options{MaxTokens: 10, OverlapTokens: 4, MinTokens: -1},
			[]string{s1 + " " + s2, "ff gg hh. " + s3 + " " + s4, "nn oo pp. " + s5 + " " + s6}},
		{"as many sentences as fit", text, Options{MaxTokens: 10, OverlapTokens: 12, MinTokens: -1},
			[]string{s1 + " " + s2, s1 + " " + s2 + " " + s3 + " " + s4, s3 + " " + s4 + " " + s5 + " " + s6}},
		{"lines before words", list, Options{MaxTokens: 6, OverlapTokens: 4, MinTokens: -1},
			[]string{"- aa bb\n- cc dd", "- cc dd\n- ee ff\n- gg hh", "- gg hh\n- ii jj\n- kk ll"}},
		{"across a paragraph break", s1 + "\n\n" + s2 + "\n\n" + s3, Options{MaxTokens: 5, OverlapTokens: 5, MinTokens: -1},
			[]string{s1, s1 + "\n\n" + s2, s2 + "\n\n" + s3}},
		{"none after a word cut in pieces", "Aa " + strings.Repeat("x", 40) + " bb.", Options{MaxTokens: 5, OverlapTokens: 3, MinTokens: -1},
			[]string{"Aa " + strings.Repeat("x", 16), strings.Repeat("x", 20), strings.Repeat("x", 4) + " bb."}},
		{"off", text, Options{MaxTokens: 10, OverlapTokens: -1, MinTokens: -1},
			[]string{s1 + " " + s2, s3 + " " + s4, s5 + " " + s6}},
		{"CJK", "请按时服药。如有疑问。请联系医生。", Options{MaxTokens: 8, OverlapTokens: 6, MinTokens: -1},
			[]string{"请按时服药。", "请按时服药。如有疑问。", "如有疑问。请联系医生。"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sections := []Section{{Text: tc.text}}
			chunks := Split(sections, tc.o)
			if err := check(sections, tc.o, chunks); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range chunks {
				got = append(got, c.Text)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("texts\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSplitMerge(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		o    Options
		want []string // whole texts
	}{
		{"into the first chunk", s1 + " " + s2 + " Yy.", Options{MaxTokens: 10, OverlapTokens: 5, MinTokens: 3},
			[]string{s1 + " " + s2 + " Yy."}},
		{"with less overlap", strings.Join([]string{s1, s2, s3, s4}, " ") + " Yy.", Options{MaxTokens: 10, OverlapTokens: 5, MinTokens: 3},
			[]string{s1 + " " + s2, "gg hh. " + s3 + " " + s4 + " Yy."}},
		{"not past the budget", s1 + " " + s2 + " Yy.", Options{MaxTokens: 10, OverlapTokens: -1, MinTokens: 3},
			[]string{s1 + " " + s2, "Yy."}},
		{"not when large enough", s1 + " " + s2 + " Yy.", Options{MaxTokens: 10, OverlapTokens: -1, MinTokens: 2},
			[]string{s1 + " " + s2, "Yy."}},
		{"the last piece of a long word", strings.Repeat("x", 90), Options{MaxTokens: 10, OverlapTokens: 5, MinTokens: 4},
			[]string{strings.Repeat("x", 40), strings.Repeat("x", 50)}},
		{"not a single chunk", "Yy.", Options{MinTokens: 10},
			[]string{"Yy."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sections := []Section{{Text: tc.text}}
			chunks := Split(sections, tc.o)
			if err := check(sections, tc.o, chunks); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range chunks {
				got = append(got, c.Text)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("texts\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestSplitOffsets pins Start, End and Overlap down to the byte, on text
// whose whitespace Text does not keep.
func TestSplitOffsets(t *testing.T) {
	text := "  Ärztin: Dr. Şahin.\r\n\r\nTermine   nach Vereinbarung. 予約。  \n"
	chunks := Split([]Section{{Text: text}}, Options{MaxTokens: 8, OverlapTokens: 3, MinTokens: -1})
	type got struct {
		Text                string
		Start, End, Overlap int
	}
	var all []got
	for _, c := range chunks {
		all = append(all, got{c.Text, c.Start, c.End, c.Overlap})
		if text[c.Start:c.End] != strings.TrimSpace(text[c.Start:c.End]) {
			t.Errorf("%q is not trimmed", text[c.Start:c.End])
		}
	}
	a := strings.Index(text, "Ärztin")
	b := strings.Index(text, "Termine")
	c := strings.Index(text, "予約")
	want := []got{
		{"Ärztin: Dr. Şahin.", a, strings.Index(text, "\r"), 0},
		{"Şahin.\n\nTermine nach Vereinbarung.", b, c - 1, len("Şahin.\n\n")},
		{"予約。", c, c + len("予約。"), 0},
	}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("got  %+v\nwant %+v", all, want)
	}
}

func TestSplitDeterministic(t *testing.T) {
	for n := range 20 {
		doc := document(n)
		a, b := Split(doc, Options{}), Split(slices.Clone(doc), Options{})
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("document %d splits differently twice", n)
		}
	}
}

func TestSplitOptions(t *testing.T) {
	for _, tc := range []struct {
		in, want Options
	}{
		{Options{}, Options{350, 50, 40}},
		{Options{MaxTokens: -5, OverlapTokens: -1, MinTokens: -1}, Options{350, 0, 0}},
		{Options{MaxTokens: 100, OverlapTokens: 10, MinTokens: 5}, Options{100, 10, 5}},
	} {
		if got := tc.in.withDefaults(); got != tc.want {
			t.Errorf("%+v with defaults = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestSplitPathological feeds inputs that a quadratic step would choke on;
// BenchmarkSplitPathological shows the time growing linearly with size.
func TestSplitPathological(t *testing.T) {
	size := 1 << 20
	if testing.Short() {
		size = 1 << 17 // make check; make test splits the full megabyte
	}
	for _, tc := range pathological(size) {
		t.Run(tc.name, func(t *testing.T) {
			sections := []Section{{Text: tc.text}}
			chunks := Split(sections, Options{})
			if err := check(sections, Options{}, chunks); err != nil {
				t.Fatal(err)
			}
		})
	}
}

type input struct{ name, text string }

func pathological(size int) []input {
	fill := func(unit string) string { return strings.Repeat(unit, size/len(unit)) }
	return []input{
		{"one line of words", fill("lorem ipsum dolor sit amet ")},
		{"one line of sentences", fill("Take one. ")},
		{"one word", fill("x")},
		{"one line of abbreviations", fill("Dr. e.g. ")},
		{"newlines", fill("\n")},
		{"words on lines", fill("a\n")},
		{"paragraphs", fill("a\n\n")},
		{"CRLF paragraphs", fill("word\r\n\r\n")},
		{"spaces between words", fill("a" + strings.Repeat(" ", 1000))},
		{"full stops", fill(".")},
		{"CJK full stops", fill("。")},
		{"CJK without stops", fill("日本語")},
		{"emoji", fill("👍🏽")},
		{"combining marks", "a" + fill("\u0301")},
		{"invalid UTF-8", fill("\xff")},
	}
}

// TestSplitManyDocuments splits ten thousand documents of about 5 KB and
// checks every chunk.
func TestSplitManyDocuments(t *testing.T) {
	n, chunks, bytes := 10000, 0, 0
	if testing.Short() {
		n = 500
	}
	for i := range n {
		doc := document(i)
		got := Split(doc, Options{})
		if err := check(doc, Options{}, got); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		chunks += len(got)
		for _, s := range doc {
			bytes += len(s.Text)
		}
	}
	t.Logf("%d documents, %d bytes, %d chunks", n, bytes, chunks)
}

func BenchmarkSplit5KB(b *testing.B) {
	doc := document(1)
	size := 0
	for _, s := range doc {
		size += len(s.Text)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		Split(doc, Options{})
	}
}

func BenchmarkCountTokens(b *testing.B) {
	var text strings.Builder
	for _, s := range document(1) {
		text.WriteString(s.Text)
	}
	s := text.String()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		CountTokens(s)
	}
}

func BenchmarkSplitPathological(b *testing.B) {
	for _, size := range []struct {
		bytes int
		name  string
	}{{1 << 18, "256KB"}, {1 << 20, "1MB"}} {
		for _, in := range pathological(size.bytes) {
			b.Run(in.name+"/"+size.name, func(b *testing.B) {
				sections := []Section{{Text: in.text}}
				b.SetBytes(int64(len(in.text)))
				for b.Loop() {
					Split(sections, Options{})
				}
			})
		}
	}
}
