package chunk

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// word is a run of non-whitespace in a section's text, with what follows it.
// Splitting works on words rather than on characters so that every cut the
// packer considers is one between whole words, and the strength of the
// boundary after each word says how good a cut it is.
type word struct {
	start, end int // bytes in the section's text
	tokens     int
	gap        uint8 // the whitespace after it, as normalised
	brk        uint8 // how strong a boundary follows it
	canon      bool  // the whitespace after it is already written as separator(gap)
}

// Whitespace after a word. Chunk text writes each gap in one canonical form,
// so that text extracted with odd spacing (PDF runs of blanks, CRLF, a
// hundred empty lines) neither pads chunks nor wastes prompt space.
const (
	gapNone  uint8 = iota // none: a CJK sentence end ran straight on
	gapSpace              // written " "
	gapLine               // a line break, written "\n"
	gapPara               // a blank line, written "\n\n"
)

func separator(gap uint8) string {
	switch gap {
	case gapSpace:
		return " "
	case gapLine:
		return "\n"
	case gapPara:
		return "\n\n"
	}
	return ""
}

// Boundaries after a word, weakest first. A chunk is cut at the strongest
// boundary that keeps it within budget.
const (
	brkWord uint8 = iota + 1
	brkLine       // list items and table rows end at line breaks, not full stops
	brkSentence
	brkPara
)

// words appends the words of text to ws and returns it.
func words(text string, ws []word) []word {
	var lines, crs int // line breaks in the current gap, counted both ways to accept \n, \r\n and \r
	blank := false     // the gap holds a paragraph separator
	for i := 0; i < len(text); {
		if r, size := decode(text, i); isSpace(r) {
			switch r {
			case '\n', '\u2028', '\u0085':
				lines++
			case '\r':
				crs++
			case '\u2029':
				blank = true
			}
			i += size
			continue
		}
		if n := len(ws); n > 0 {
			w := &ws[n-1]
			lines = max(lines, crs)
			switch {
			case w.end == i:
				w.gap = gapNone
			case blank || lines >= 2:
				w.gap = gapPara
			case lines == 1:
				w.gap = gapLine
			default:
				w.gap = gapSpace
			}
			w.canon = text[w.end:i] == separator(w.gap)
		}
		lines, crs, blank = 0, 0, false
		end, tokens := wordAt(text, i)
		ws = append(ws, word{start: i, end: end, tokens: tokens})
		i = end
	}
	for k := range ws {
		w := &ws[k]
		switch {
		case k == len(ws)-1 || w.gap == gapPara:
			w.brk = brkPara
		case w.gap == gapNone:
			w.brk = brkSentence // only a CJK full stop ends a word without whitespace
		case endsSentence(text[w.start:w.end], text[ws[k+1].start:ws[k+1].end]):
			w.brk = brkSentence
		case w.gap == gapLine:
			w.brk = brkLine
		default:
			w.brk = brkWord
		}
	}
	return ws
}

// wordAt returns the end of the word starting at i and its tokens, counted
// on the way as indexing spends most of its time here. Chinese and Japanese
// put no space after a full stop, so a word also ends after "。", "！" or
// "？" and any closing brackets or quotes that follow.
func wordAt(text string, i int) (end, tokens int) {
	var c counter
	for i < len(text) {
		if b := text[i]; b < utf8.RuneSelf {
			switch {
			case isASCIIAlnum(b):
				j := i + 1
				for j < len(text) && isASCIIAlnum(text[j]) {
					j++
				}
				c.letters(j - i)
				i = j
			case b == ' ', '\t' <= b && b <= '\r':
				return i, c.n
			default:
				c.punct()
				i++
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		if unicode.IsSpace(r) {
			break
		}
		c.add(r)
		i += size
		if isCJKStop(r) {
			for i < len(text) {
				r, size := decode(text, i)
				if !isCloser(r) {
					break
				}
				c.add(r)
				i += size
			}
			break
		}
	}
	return i, c.n
}

// decode is utf8.DecodeRuneInString at i with the ASCII case inline. Invalid
// bytes come back as one-byte RuneErrors, so nothing is ever cut inside a
// valid rune and invalid input still terminates.
func decode(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// isSpace is unicode.IsSpace, the definition strings.TrimSpace uses too.
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || '\t' <= r && r <= '\r'
	}
	return unicode.IsSpace(r)
}

func isCJKStop(r rune) bool {
	return r == '。' || r == '！' || r == '？' || r == '｡'
}

// isCloser reports what may follow a full stop and still belong to its
// sentence: closing brackets, quotes in any convention (German closes with
// “ and «), and Markdown emphasis.
func isCloser(r rune) bool {
	switch r {
	case '"', '\'', '*', '_', '`':
		return true
	}
	return r >= utf8.RuneSelf && unicode.In(r, unicode.Pe, unicode.Pf, unicode.Pi) || r == ')' || r == ']' || r == '}'
}

// isOpener reports what may come before the first letter of a word:
// opening brackets, quotes and Markdown emphasis.
func isOpener(r rune) bool {
	switch r {
	case '"', '\'', '*', '_', '`', '(', '[', '{', '¿', '¡':
		return true
	}
	return r >= utf8.RuneSelf && unicode.In(r, unicode.Ps, unicode.Pi, unicode.Pf)
}

// endsSentence reports whether w, followed by whitespace and next, ends a
// sentence. "!" and "?" always do; a full stop does unless it closes an
// abbreviation or the next word carries on in lower case ("etc. and").
// A miss only costs a cut at a weaker boundary, so this errs towards not
// splitting.
func endsSentence(w, next string) bool {
	if c := w[len(w)-1]; c < utf8.RuneSelf && c != '.' && c != '!' && c != '?' && !isCloser(rune(c)) {
		return false // most words, quickly
	}
	t := strings.TrimRightFunc(w, isCloser)
	r, size := utf8.DecodeLastRuneInString(t)
	switch r {
	case '!', '?', '‼', '⁇', '⁈', '⁉', '。', '！', '？', '｡':
		return true
	case '.', '…':
	default:
		return false
	}
	next = strings.TrimLeftFunc(next, isOpener)
	first, _ := utf8.DecodeRuneInString(next)
	if unicode.IsLower(first) {
		return false
	}
	return r == '…' || !isAbbreviation(t[:len(t)-size], '0' <= first && first <= '9')
}

// isAbbreviation reports whether s, the word before a full stop, is short
// for something: initials ("J."), ordinals and list numbers ("3. Mai", "1."),
// dotted forms ("e.g.", "z.B.", "U.S.") and titles and terms common in
// clinic text in English, German and Turkish. Some words are abbreviations
// only before a number ("No. 3", "approx. 5 ml"), as "The answer is no."
// ends a sentence.
func isAbbreviation(s string, number bool) bool {
	s = strings.TrimLeftFunc(s, isOpener)
	if s == "" || s[len(s)-1] == '.' { // a lone full stop, or an ellipsis
		return false
	}
	if r, size := utf8.DecodeRuneInString(s); size == len(s) && unicode.IsLetter(r) {
		return true
	}
	if len(s) <= 2 && '0' <= s[0] && s[0] <= '9' && '0' <= s[len(s)-1] && s[len(s)-1] <= '9' {
		return true
	}
	if strings.IndexByte(s, '.') > 0 {
		for part := range strings.SplitSeq(s, ".") {
			if n := utf8.RuneCountInString(part); n == 0 || n > 3 || strings.IndexFunc(part, func(r rune) bool { return !unicode.IsLetter(r) }) >= 0 {
				return false
			}
		}
		return true
	}
	if len(s) > 8 {
		return false
	}
	var buf [8]byte
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(s)]) {
	case "dr", "mr", "mrs", "ms", "prof", "st", "sr", "jr", "vs", "dept", "incl", "excl", "resp", "mt",
		"med", "dent", "doz", "dipl", "hr", "fr", "str", "bzw", "ggf", "evtl", "inkl", "vgl", "sog", "bzgl", "zzgl", "lt", "tbl", "tägl",
		"sn", "op", "uzm", "doç", "yrd", "bkz":
		return true
	case "no", "nos", "nr", "fig", "vol", "p", "pp", "tel", "fax", "max", "min", "mind", "ca", "approx":
		return number
	}
	return false
}
