package extract

import (
	"html"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Markdown is read line by line (CommonMark's block structure, simplified):
// ATX and setext headings build the heading path, fenced code is kept as
// text, front matter is skipped (its title is the document's), list items
// stay one to a line, table rows become lines of text, and inline markup is
// reduced to the text a reader sees.

var (
	atxHeading   = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	setextH1     = regexp.MustCompile(`^ {0,3}=+[ \t]*$`)
	setextH2     = regexp.MustCompile(`^ {0,3}-+[ \t]*$`)
	thematic     = regexp.MustCompile(`^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$`)
	fenceOpen    = regexp.MustCompile("^( {0,3})(`{3,}|~{3,})")
	listItem     = regexp.MustCompile(`^[ \t]*(?:([-*+])|(\d{1,9}[.)]))[ \t]+`)
	tableDivider = regexp.MustCompile(`^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$`)
	linkRefDef   = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:[ \t]*\S`)

	mdImage    = regexp.MustCompile(`!\[([^\]]*)\]\([^)]*\)`)
	mdLink     = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	mdRefLink  = regexp.MustCompile(`\[([^\]]*)\]\[[^\]]*\]`)
	mdAutolink = regexp.MustCompile(`<((?:https?|ftp|mailto):[^\s<>]*|[^\s<>@]+@[^\s<>@]+)>`)
	mdComment  = regexp.MustCompile(`<!--[\s\S]*?-->`)
	mdTag      = regexp.MustCompile(`</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>`)
)

func extractMarkdown(data []byte, b *builder) error {
	lines := strings.Split(decodeText(data), "\n")
	lines = frontMatter(lines, b)
	var para []string // raw lines of the paragraph being read
	flush := func() {
		if len(para) > 0 {
			b.addParagraph(paragraphText(para))
			para = para[:0]
		}
	}
	for i := 0; i < len(lines); i++ {
		if b.failed() {
			break
		}
		line := stripBlockquote(lines[i])
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if m := fenceOpen.FindStringSubmatch(line); m != nil && !(m[2][0] == '`' && strings.Contains(line[len(m[0]):], "`")) {
			flush()
			i = codeBlock(lines, i, len(m[1]), m[2], b)
			continue
		}
		if m := atxHeading.FindStringSubmatch(line); m != nil {
			flush()
			b.heading(len(m[1]), inlineText(m[2]))
			continue
		}
		if len(para) > 0 && !listItem.MatchString(para[len(para)-1]) {
			level := 0
			if setextH1.MatchString(line) {
				level = 1
			} else if setextH2.MatchString(line) {
				level = 2
			}
			if level > 0 {
				heading := make([]string, len(para))
				for j, p := range para {
					heading[j] = inlineText(strings.TrimSpace(p))
				}
				para = para[:0]
				b.heading(level, strings.Join(heading, " "))
				continue
			}
		}
		if thematic.MatchString(line) {
			flush()
			continue
		}
		if len(para) == 0 && linkRefDef.MatchString(line) {
			continue
		}
		if len(para) > 0 && strings.Contains(line, "-") && tableDivider.MatchString(line) && strings.Contains(para[len(para)-1], "|") {
			header := tableCells(para[len(para)-1])
			para = para[:len(para)-1]
			flush()
			i = table(lines, i+1, header, b)
			continue
		}
		para = append(para, line)
	}
	flush()
	return b.err
}

// table emits the rows of a table whose header has been read, starting at
// lines[start], and returns the index of its last row. Each row becomes a
// line that reads as text, its cells paired with their column's header
// ("Friday: 08:00 – 16:00", or "Monday — Morning: 8:00–12:00; Afternoon:
// 13:00–18:00" with more columns), so that a row quoted or found on its own still says what its
// values are.
func table(lines []string, start int, header []string, b *builder) int {
	var rows []string
	i := start
	for ; i < len(lines); i++ {
		line := stripBlockquote(lines[i])
		if strings.TrimSpace(line) == "" || !strings.Contains(line, "|") {
			break
		}
		rows = append(rows, tableRowText(header, tableCells(line)))
	}
	if len(rows) > 0 {
		b.addParagraph(strings.Join(rows, "\n"))
	}
	return i - 1
}

// tableCells splits "| a | b |" into its cells' text.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	cells := strings.Split(line, "|")
	for i, c := range cells {
		cells[i] = inlineText(strings.TrimSpace(c))
	}
	return cells
}

// tableRowText writes a row as text: the first cell names the row, the
// others follow with their headers (a two-column table needs none: its
// first cell says what the second is for).
func tableRowText(header, cells []string) string {
	var values []string
	for j := 1; j < len(cells); j++ {
		if cells[j] == "" {
			continue
		}
		if len(cells) > 2 && j < len(header) && header[j] != "" {
			values = append(values, header[j]+": "+cells[j])
		} else {
			values = append(values, cells[j])
		}
	}
	switch {
	case len(values) == 0:
		return cells[0]
	case cells[0] == "":
		return strings.Join(values, "; ")
	case len(cells) > 2:
		return cells[0] + " — " + strings.Join(values, "; ")
	}
	return cells[0] + ": " + values[0]
}

// stripBlockquote removes leading "> " markers, however deeply nested.
func stripBlockquote(line string) string {
	for {
		t := strings.TrimLeft(line, " ")
		if len(line)-len(t) > 3 || !strings.HasPrefix(t, ">") {
			return line
		}
		line = strings.TrimPrefix(t[1:], " ")
	}
}

// paragraphText joins the raw lines of one paragraph: list items and table
// rows start lines of their own, hard breaks (two trailing spaces or a
// backslash) end one, and other lines continue the line before.
func paragraphText(raw []string) string {
	// Each line's markup is reduced once the lines it continues are joined,
	// so that emphasis wrapped over a soft break ("**three\nworking days**")
	// goes too.
	type line struct{ prefix, markup, text string }
	var out []line
	joinNext := false
	for _, l := range raw {
		hard := strings.HasSuffix(l, "  ") || strings.HasSuffix(l, "\\")
		l = strings.TrimSuffix(l, "\\")
		var next line
		own := false
		switch m := listItemOf(l); {
		case m != nil:
			marker := "-"
			if m[4] >= 0 {
				marker = l[m[4]:m[5]]
			}
			next, own = line{prefix: marker + " ", markup: strings.TrimSpace(l[m[1]:])}, true
		case strings.Count(l, "|") >= 2 || strings.HasPrefix(strings.TrimSpace(l), "|"):
			next, own = line{text: tableRowText(nil, tableCells(l))}, true
		default:
			next = line{markup: strings.TrimSpace(l)}
		}
		if joinNext && !own && len(out) > 0 {
			out[len(out)-1].markup += " " + next.markup
		} else {
			out = append(out, next)
		}
		joinNext = !hard && !strings.Contains(l, "|")
	}
	texts := make([]string, len(out))
	for i, l := range out {
		texts[i] = l.text
		if l.text == "" {
			texts[i] = l.prefix + inlineText(l.markup)
		}
	}
	return strings.Join(texts, "\n")
}

// codeBlock emits a fenced code block starting at lines[start] and returns
// the index of its closing fence (or the last line).
func codeBlock(lines []string, start, indent int, fence string, b *builder) int {
	b.preformatted(true)
	defer b.preformatted(false)
	i := start + 1
	for ; i < len(lines); i++ {
		if b.failed() {
			return len(lines)
		}
		line := lines[i]
		if isClosingFence(line, fence) {
			return i
		}
		// Remove up to the fence's own indentation.
		for k := 0; k < indent && strings.HasPrefix(line, " "); k++ {
			line = line[1:]
		}
		b.text(line)
		b.newline()
	}
	return i
}

func isClosingFence(line, fence string) bool {
	t := strings.TrimLeft(line, " ")
	if len(line)-len(t) > 3 {
		return false
	}
	n := len(t) - len(strings.TrimLeft(t, fence[:1]))
	return n >= len(fence) && strings.TrimSpace(t[n:]) == ""
}

// frontMatter skips YAML (---) or TOML (+++) front matter at the top and
// takes its title.
func frontMatter(lines []string, b *builder) []string {
	if len(lines) == 0 {
		return lines
	}
	open := strings.TrimRight(lines[0], " \t")
	if open != "---" && open != "+++" {
		return lines
	}
	for i := 1; i < len(lines) && i < 1000; i++ {
		l := strings.TrimRight(lines[i], " \t")
		if l == open || (open == "---" && l == "...") {
			for _, fm := range lines[1:i] {
				if t, ok := frontMatterTitle(fm); ok {
					b.setTitle(t)
					break
				}
			}
			return lines[i+1:]
		}
	}
	return lines
}

// frontMatterTitle reads `title: x` (YAML) or `title = "x"` (TOML).
func frontMatterTitle(line string) (string, bool) {
	key, value, ok := strings.Cut(line, ":")
	if !ok || strings.ContainsAny(key, "=") {
		key, value, ok = strings.Cut(line, "=")
	}
	if !ok || strings.TrimRight(key, " \t") != "title" {
		return "", false
	}
	value = strings.TrimSpace(value)
	if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
		q := value[0]
		value = value[1 : len(value)-1]
		if q == '"' {
			value = strings.ReplaceAll(value, `\"`, `"`)
		} else {
			value = strings.ReplaceAll(value, "''", "'")
		}
	}
	return value, value != ""
}

// inlineText reduces one line of Markdown inline markup to its visible
// text: code spans keep their content verbatim; links and images give their
// text; HTML tags go; emphasis delimiters go; escapes and entities resolve.
// Every step is linear in the length of the line.
// listItemOf matches listItem against line, or returns nil at once when the
// line cannot start a list item.
func listItemOf(line string) []int {
	t := strings.TrimLeft(line, " \t")
	if t == "" || !strings.ContainsRune("-*+0123456789", rune(t[0])) {
		return nil
	}
	return listItem.FindStringSubmatchIndex(line)
}

func inlineText(s string) string {
	if s == "" {
		return ""
	}
	var out strings.Builder
	for _, seg := range codeSpans(s) {
		if seg.code {
			out.WriteString(seg.text)
			continue
		}
		t := seg.text
		// Most text has no links or tags; the expressions only run where
		// the byte that starts one occurs.
		if strings.IndexByte(t, '<') >= 0 {
			t = mdComment.ReplaceAllString(t, "")
		}
		if strings.IndexByte(t, '[') >= 0 {
			t = mdImage.ReplaceAllString(t, "$1")
			t = mdLink.ReplaceAllString(t, "$1")
			t = mdRefLink.ReplaceAllString(t, "$1")
		}
		if strings.IndexByte(t, '<') >= 0 {
			t = mdAutolink.ReplaceAllString(t, "$1")
			t = mdTag.ReplaceAllString(t, "")
		}
		t = stripEmphasis(t)
		if strings.IndexByte(t, '&') >= 0 {
			t = html.UnescapeString(t)
		}
		out.WriteString(t)
	}
	return out.String()
}

type segment struct {
	text string
	code bool
}

// codeSpans splits s at code spans: a run of n backticks up to the next
// run of exactly n backticks. Unmatched runs are literal text.
func codeSpans(s string) []segment {
	if strings.IndexByte(s, '`') < 0 {
		return []segment{{text: s}}
	}
	type run struct{ at, n int }
	var runs []run
	byLen := map[int][]int{} // run length → indexes into runs
	for i := 0; i < len(s); {
		if s[i] != '`' || (i > 0 && s[i-1] == '\\') {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == '`' {
			j++
		}
		byLen[j-i] = append(byLen[j-i], len(runs))
		runs = append(runs, run{i, j - i})
		i = j
	}
	var segs []segment
	last := 0
	for k := 0; k < len(runs); k++ {
		r := runs[k]
		if r.at < last {
			continue
		}
		same := byLen[r.n]
		pos, _ := slices.BinarySearch(same, k+1)
		if pos >= len(same) {
			continue
		}
		closer := runs[same[pos]]
		segs = append(segs, segment{text: s[last:r.at]})
		code := s[r.at+r.n : closer.at]
		if len(code) >= 2 && code[0] == ' ' && code[len(code)-1] == ' ' && strings.Trim(code, " ") != "" {
			code = code[1 : len(code)-1]
		}
		segs = append(segs, segment{text: code, code: true})
		last = closer.at + closer.n
		k = same[pos]
	}
	return append(segs, segment{text: s[last:]})
}

// stripEmphasis removes *, _ and ~ runs that open and close emphasis (a
// flanking opener matched by a later flanking closer of the same
// character), resolves backslash escapes, and leaves the rest (2 * 3,
// snake_case, a lone *) alone.
func stripEmphasis(s string) string {
	if !strings.ContainsAny(s, "*_~\\") {
		return s
	}
	type run struct{ at, n int }
	drop := make([]bool, len(s))
	escaped := make([]bool, len(s))
	var open [3][]run // stacks for '*', '_', '~'
	idx := func(c byte) int { return strings.IndexByte("*_~", c) }
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]) {
			drop[i] = true
			escaped[i+1] = true
			i += 2
			continue
		}
		k := idx(c)
		if k < 0 || escaped[i] {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == c {
			j++
		}
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[j:])
		if i == 0 {
			before = ' '
		}
		if j == len(s) {
			after = ' '
		}
		left := !unicode.IsSpace(after) && (!isPunctRune(after) || unicode.IsSpace(before) || isPunctRune(before))
		right := !unicode.IsSpace(before) && (!isPunctRune(before) || unicode.IsSpace(after) || isPunctRune(after))
		if c == '_' && left && right && !isPunctRune(before) && !isPunctRune(after) {
			left, right = false, false // intraword underscore
		}
		if right && len(open[k]) > 0 {
			o := open[k][len(open[k])-1]
			open[k] = open[k][:len(open[k])-1]
			for x := o.at; x < o.at+o.n; x++ {
				drop[x] = true
			}
			for x := i; x < j; x++ {
				drop[x] = true
			}
		} else if left {
			open[k] = append(open[k], run{i, j - i})
		}
		i = j
	}
	var out strings.Builder
	out.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if !drop[i] {
			out.WriteByte(s[i])
		}
	}
	return out.String()
}

func isASCIIPunct(c byte) bool {
	return c < utf8.RuneSelf && unicode.IsPunct(rune(c)) || c == '`' || c == '~' || c == '^' || c == '|' || c == '+' || c == '<' || c == '>' || c == '=' || c == '$'
}

func isPunctRune(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) }
