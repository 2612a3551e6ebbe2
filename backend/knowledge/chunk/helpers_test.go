package chunk

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// normalize writes s as Chunk documents own text: trimmed, with each
// whitespace run as one separator. It is written apart from the code it
// checks, from the documentation.
func normalize(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for s != "" {
		i := strings.IndexFunc(s, unicode.IsSpace)
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		rest := strings.TrimLeftFunc(s[i:], unicode.IsSpace)
		b.WriteString(gapSeparator(s[i : len(s)-len(rest)]))
		s = rest
	}
	return b.String()
}

func gapSeparator(gap string) string {
	if gap == "" {
		return ""
	}
	lines := max(strings.Count(gap, "\n")+strings.Count(gap, "\u2028")+strings.Count(gap, "\u0085"), strings.Count(gap, "\r"))
	switch {
	case lines >= 2 || strings.Contains(gap, "\u2029"):
		return "\n\n"
	case lines == 1:
		return "\n"
	}
	return " "
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// check returns the first way chunks break what Split promises for sections
// and o, or nil.
func check(sections []Section, o Options, chunks []Chunk) error {
	d := o.withDefaults()
	k := 0
	for si, s := range sections {
		text := s.Text
		last := len(strings.TrimRightFunc(text, unicode.IsSpace))
		var prev *Chunk
		pos := 0
		for pos < last {
			if k == len(chunks) {
				return fmt.Errorf("section %d: text from %d on is in no chunk", si, pos)
			}
			c := &chunks[k]
			where := fmt.Sprintf("section %d, chunk %d %q", si, k, c.Text)
			if c.Ordinal != k {
				return fmt.Errorf("%s: ordinal %d", where, c.Ordinal)
			}
			if !slices.Equal(c.Headings, s.Headings) {
				return fmt.Errorf("%s: headings %q, want %q", where, c.Headings, s.Headings)
			}
			if c.Start < pos || c.End <= c.Start || c.End > len(text) {
				return fmt.Errorf("%s: [%d:%d] after %d in %d bytes", where, c.Start, c.End, pos, len(text))
			}
			if !blank(text[pos:c.Start]) {
				return fmt.Errorf("%s: skips %q", where, text[pos:c.Start])
			}
			own := text[c.Start:c.End]
			if strings.TrimSpace(own) != own {
				return fmt.Errorf("%s: own text %q is not trimmed", where, own)
			}
			if utf8.ValidString(text) && (!utf8.ValidString(own) || !utf8.ValidString(c.Text)) {
				return fmt.Errorf("%s: invalid UTF-8", where)
			}
			if c.Overlap < 0 || c.Overlap > len(c.Text) || c.Text[c.Overlap:] != normalize(own) {
				return fmt.Errorf("%s: text after overlap %d is not own text %q", where, c.Overlap, normalize(own))
			}
			if c.Tokens != CountTokens(c.Text) || c.Tokens < 1 || c.Tokens > d.MaxTokens+d.OverlapTokens {
				return fmt.Errorf("%s: %d tokens, counted %d, budget %d+%d", where, c.Tokens, CountTokens(c.Text), d.MaxTokens, d.OverlapTokens)
			}
			// The last chunk may have taken in a fragment.
			if n := CountTokens(c.Text[c.Overlap:]); n > d.MaxTokens && c.End != last {
				return fmt.Errorf("%s: own text of %d tokens over budget %d", where, n, d.MaxTokens)
			}
			if err := checkOverlap(text, prev, c, d); err != nil {
				return fmt.Errorf("%s: %v", where, err)
			}
			prev, pos = c, c.End
			k++
		}
	}
	if k != len(chunks) {
		return fmt.Errorf("%d chunks for %d bytes of text", len(chunks), k)
	}
	return nil
}

// checkOverlap checks that what c carries is whole words from the end of
// prev, within budget, followed by the separator for the source whitespace
// between the two.
func checkOverlap(text string, prev, c *Chunk, d Options) error {
	if c.Overlap == 0 {
		return nil
	}
	if prev == nil {
		return fmt.Errorf("overlap %d in a section's first chunk", c.Overlap)
	}
	sep := gapSeparator(text[prev.End:c.Start])
	carried, ok := strings.CutSuffix(c.Text[:c.Overlap], sep)
	if !ok || carried == "" || sep == "" && !isCJKStop(lastRune(carried)) && !isCloser(lastRune(carried)) {
		return fmt.Errorf("overlap %q does not end with separator %q", c.Text[:c.Overlap], sep)
	}
	before, ok := strings.CutSuffix(prev.Text[prev.Overlap:], carried)
	if !ok {
		return fmt.Errorf("overlap %q is not the end of %q", carried, prev.Text[prev.Overlap:])
	}
	if r := lastRune(before); before != "" && !unicode.IsSpace(r) && !isCJKStop(r) && !isCloser(r) {
		return fmt.Errorf("overlap %q starts inside a word", carried)
	}
	if n := CountTokens(carried); n > d.OverlapTokens {
		return fmt.Errorf("overlap %q of %d tokens over budget %d", carried, n, d.OverlapTokens)
	}
	return nil
}

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

// own returns the chunks' own texts.
func own(chunks []Chunk) []string {
	var out []string
	for _, c := range chunks {
		out = append(out, c.Text[c.Overlap:])
	}
	return out
}

// document returns a Markdown-like clinic leaflet of about 5 KB, different
// for each n: sections of paragraphs, lists, abbreviations and a few
// languages, and now and then a long unbroken string.
func document(n int) []Section {
	sentences := []string{
		"Repeat prescriptions can be ordered online through the patient portal or at reception.",
		"Please allow two full working days before collecting your medication from the pharmacy.",
		"Dr. Okafor reviews long-term medication every twelve months, e.g. blood pressure tablets.",
		"If your symptoms get worse, call us immediately!",
		"Do you need a sick note for more than seven days?",
		"Bring a list of the medicines you take, incl. vitamins and herbal remedies.",
		"Die Sprechstunde beginnt um 8 Uhr; bitte bringen Sie Ihre Versichertenkarte mit.",
		"Für die Überweisung zum Facharzt benötigen wir ggf. aktuelle Laborwerte.",
		"Randevunuzu iptal etmek için lütfen en az 24 saat önceden arayın.",
		"Op. Dr. Işık Yılmaz perşembe günleri çocuk hastaları kabul eder.",
		"予約の変更は前日までにご連絡ください。",
		"Vaccinations for travel 🧳 should start six weeks before departure.",
		"Results are usually back within approx. 3 days; we will text you.",
		"The practice is closed on public holidays.",
	}
	var sections []Section
	size := 0
	for s := 0; size < 5000; s++ {
		var b strings.Builder
		paras := 2 + (n+s)%4
		for p := range paras {
			if p > 0 {
				b.WriteString("\n\n")
			}
			switch (n + s + p) % 7 {
			case 0:
				for i := range 4 {
					fmt.Fprintf(&b, "- %s\n", sentences[(n*3+s*5+p+i)%len(sentences)])
				}
			case 3:
				fmt.Fprintf(&b, "See https://clinic.example/%s for details.", strings.Repeat("a1b2c3d4", 20+n%50))
			default:
				for i := range 2 + (n*7+s+p)%6 {
					if i > 0 {
						b.WriteByte(' ')
					}
					b.WriteString(sentences[(n+s*3+p*5+i)%len(sentences)])
				}
			}
		}
		text := b.String()
		size += len(text)
		sections = append(sections, Section{Headings: []string{"Patient information", fmt.Sprintf("Topic %d", s)}, Text: text})
	}
	return sections
}
