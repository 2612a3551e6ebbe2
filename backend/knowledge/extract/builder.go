package extract

import (
	"context"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxHeading bounds one heading (and the title); longer ones are cut.
const maxHeading = 500

// builder collects the sections of one document as an extractor walks it.
// Text goes in a rune at a time through text, which normalizes whitespace,
// drops control characters, repairs invalid UTF-8 and counts bytes against
// the text limit. Errors are sticky: after the first, input is ignored and
// err reports it; extractors poll err to stop early.
type builder struct {
	ctx  context.Context
	max  int64
	used int64
	err  error
	poll int

	title        string // from the format's metadata
	firstHeading string

	sections []Section
	levels   []int
	path     []string
	page     int

	paras []string        // finished paragraphs of the current section
	lines []string        // finished lines of the current paragraph
	line  strings.Builder // the current line
	space bool            // a space is pending before the next rune
	pre   bool            // keep spaces and line breaks as they are
}

func newBuilder(ctx context.Context, maxText int64) *builder {
	return &builder{ctx: ctx, max: maxText}
}

// failed reports whether extraction should stop: an error so far, or the
// context done (checked every few thousand calls).
func (b *builder) failed() bool {
	if b.err != nil {
		return true
	}
	b.poll++
	if b.poll&0xfff == 0 {
		if err := b.ctx.Err(); err != nil {
			b.err = context.Cause(b.ctx)
		}
	}
	return b.err != nil
}

func (b *builder) charge(n int) bool {
	if b.err != nil {
		return false
	}
	b.used += int64(n)
	if b.used > b.max {
		b.err = newError(ReasonTooLarge, "the extracted text is larger than %s; split the document into smaller files", formatSize(b.max))
		return false
	}
	return true
}

// text appends s to the current line. Runs of printable ASCII, most of
// most documents, are copied whole; everything else goes through rune.
func (b *builder) text(s string) {
	if b.failed() {
		return
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c > ' ' && c < utf8.RuneSelf && c != 0x7f:
			j := i + 1
			for j < len(s) && s[j] > ' ' && s[j] < utf8.RuneSelf && s[j] != 0x7f {
				j++
			}
			b.word(s[i:j])
			i = j
		case c == ' ' && !b.pre:
			if b.line.Len() > 0 {
				b.space = true
			}
			i++
		default:
			// Invalid UTF-8 decodes as U+FFFD, one byte at a time.
			r, size := utf8.DecodeRuneInString(s[i:])
			b.rune(r)
			i += size
		}
	}
}

// word appends printable ASCII without spaces, after a pending space.
func (b *builder) word(w string) {
	if b.space {
		b.space = false
		b.write(' ')
	}
	if b.charge(len(w)) {
		b.line.WriteString(w)
	}
}

func (b *builder) rune(r rune) {
	switch {
	case r == '\n' && b.pre:
		b.newline()
	case r == '\r' && b.pre:
	case r == '\t' && b.pre:
		b.write(r)
	case unicode.IsSpace(r):
		if b.pre {
			b.write(' ')
		} else if b.line.Len() > 0 {
			b.space = true
		}
	case unicode.IsControl(r), r == '\uFEFF', r == '\u00AD', r == '\uFFFE', r == '\uFFFF':
	default:
		if b.space {
			b.space = false
			b.write(' ')
		}
		b.write(r)
	}
}

func (b *builder) write(r rune) {
	if b.charge(utf8.RuneLen(r)) {
		b.line.WriteRune(r)
	}
}

// newline ends the current line; empty lines are dropped.
func (b *builder) newline() {
	b.space = false
	if b.line.Len() == 0 {
		return
	}
	s := b.line.String()
	b.line.Reset()
	if b.pre {
		s = strings.TrimRight(s, " \t")
		if s == "" {
			return
		}
	}
	if b.charge(1) {
		b.lines = append(b.lines, s)
	}
}

// paragraph ends the current paragraph.
func (b *builder) paragraph() {
	b.newline()
	if len(b.lines) == 0 {
		return
	}
	if b.charge(2) {
		b.paras = append(b.paras, strings.Join(b.lines, "\n"))
	}
	b.lines = b.lines[:0]
}

// addParagraph adds a whole paragraph whose lines are separated by '\n'.
func (b *builder) addParagraph(s string) {
	b.paragraph()
	for line := range strings.SplitSeq(s, "\n") {
		b.text(line)
		b.newline()
	}
	b.paragraph()
}

// preformatted switches whitespace handling for the paragraphs that follow.
func (b *builder) preformatted(on bool) {
	if b.pre != on {
		b.paragraph()
		b.pre = on
	}
}

// flushSection closes the current section.
func (b *builder) flushSection() {
	b.paragraph()
	if len(b.paras) == 0 && len(b.path) == 0 {
		return
	}
	b.sections = append(b.sections, Section{
		Headings: slices.Clone(b.path),
		Text:     strings.Join(b.paras, "\n\n"),
		Page:     b.page,
	})
	b.paras = b.paras[:0]
}

// heading starts a section under a heading of the given level (smaller is
// outer); an empty heading is ignored.
func (b *builder) heading(level int, text string) {
	text = cleanTitle(text)
	if text == "" || !b.charge(len(text)) {
		return
	}
	b.flushSection()
	for len(b.levels) > 0 && b.levels[len(b.levels)-1] >= level {
		b.levels = b.levels[:len(b.levels)-1]
		b.path = b.path[:len(b.path)-1]
	}
	b.levels = append(b.levels, level)
	b.path = append(b.path, text)
	if b.firstHeading == "" {
		b.firstHeading = text
	}
}

// setPage starts the sections of a new PDF page, keeping the heading path.
func (b *builder) setPage(n int) {
	b.flushSection()
	b.page = n
}

func (b *builder) setTitle(s string) {
	if s = cleanTitle(s); s != "" && b.charge(len(s)) {
		b.title = s
	}
}

// finish returns the document, or why there is none.
func (b *builder) finish(format Format) (*Document, error) {
	b.flushSection()
	if b.err != nil {
		return nil, b.err
	}
	// An empty section whose heading only introduces the next section (a
	// parent heading, or a page break under the same heading) is noise; a
	// heading with nothing under it stays, as a heading is text too.
	var out []Section
	for i, s := range b.sections {
		if s.Text == "" && i+1 < len(b.sections) && hasPrefix(b.sections[i+1].Headings, s.Headings) {
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		if format == FormatPDF {
			return nil, newError(ReasonNoText, "not a PDF text layer: the PDF has no extractable text (scanned image?); run it through OCR or upload the source document")
		}
		return nil, newError(ReasonNoText, "the document contains no text")
	}
	title := b.title
	if title == "" {
		title = b.firstHeading
	}
	return &Document{Title: title, Format: format, Sections: withoutTitleHeading(out, title)}, nil
}

// withoutTitleHeading takes the title out of the heading paths when it is
// the one heading every section is under (a document's "# Title" heading):
// it names the document, which a citation shows already, so in the path it
// would say the same thing twice ("Title › Title › Section").
func withoutTitleHeading(sections []Section, title string) []Section {
	for _, s := range sections {
		// A section holding nothing but the title keeps it: the heading is
		// its only text.
		if len(s.Headings) == 0 || s.Headings[0] != title || len(s.Headings) == 1 && s.Text == "" {
			return sections
		}
	}
	for i := range sections {
		sections[i].Headings = sections[i].Headings[1:]
	}
	return sections
}

func hasPrefix(path, prefix []string) bool {
	return len(path) >= len(prefix) && slices.Equal(path[:len(prefix)], prefix)
}

// cleanTitle normalizes whitespace, drops control characters and cuts s to
// maxHeading bytes.
func cleanTitle(s string) string {
	var sb strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = sb.Len() > 0
		case unicode.IsControl(r), r == '\uFEFF', r == '\u00AD', r == '\uFFFE', r == '\uFFFF':
		default:
			if sb.Len()+utf8.RuneLen(r)+1 > maxHeading {
				return sb.String() + "…"
			}
			if space {
				sb.WriteByte(' ')
				space = false
			}
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// decodeUTF16 decodes UTF-16 with a byte order mark (which it drops); an odd
// last byte and unpaired surrogates become U+FFFD.
func decodeUTF16(data []byte) string {
	if len(data) < 2 {
		return "\uFFFD"
	}
	le := data[0] == 0xFF
	data = data[2:]
	units := make([]uint16, 0, len(data)/2)
	for i := 0; i+1 < len(data); i += 2 {
		if le {
			units = append(units, uint16(data[i])|uint16(data[i+1])<<8)
		} else {
			units = append(units, uint16(data[i])<<8|uint16(data[i+1]))
		}
	}
	s := string(utf16.Decode(units))
	if len(data)%2 == 1 {
		s += "\uFFFD"
	}
	return s
}

// decodeText reads a text file: UTF-8 (a byte order mark is dropped, bad
// bytes become U+FFFD) or UTF-16 with a byte order mark. Line endings
// become '\n'.
func decodeText(data []byte) string {
	var s string
	switch {
	case len(data) >= 2 && (data[0] == 0xFF && data[1] == 0xFE || data[0] == 0xFE && data[1] == 0xFF):
		s = decodeUTF16(data)
	default:
		s = strings.ToValidUTF8(strings.TrimPrefix(string(data), "\uFEFF"), "\uFFFD")
	}
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	return s
}

// extractText reads a plain text file: one section, paragraphs split at
// blank lines, lines kept. Nothing is guessed to be a heading.
func extractText(data []byte, b *builder) error {
	s := decodeText(data)
	for line := range strings.SplitSeq(s, "\n") {
		if b.failed() {
			break
		}
		if strings.TrimSpace(line) == "" {
			b.paragraph()
			continue
		}
		b.text(line)
		b.newline()
	}
	return b.err
}
