package chunk

import (
	"unicode"
	"unicode/utf8"
)

// CountTokens estimates how many tokens s costs, for chunk budgets that serve
// both BM25 (which wants whole words) and LLM prompts (which pay per subword
// token). It runs in one pass and allocates nothing, because it is called on
// every word and every chunk of every document at indexing time.
//
// The estimate, with no tokenizer vocabulary behind it:
//   - a run of letters and digits is a word costing ceil(runes/4): short
//     words are one token, long ones are charged as BPE tokenizers split
//     them. That overcounts common English words a little and suits German
//     compounds and drug names, which real tokenizers cut into many pieces;
//     overcounting only makes chunks smaller, never too large for a prompt.
//   - a run of punctuation ("...", "?!", "--") is one token;
//   - a Han, kana or Hangul character is one token, since those scripts
//     have no spaces and tokenizers spend about a token per character;
//   - any other symbol (emoji, for one) is a token of its own, and combining
//     marks, joiners and variation selectors add nothing to what they
//     attach to, so "ü" costs the same composed or decomposed;
//   - whitespace is free and ends whatever run it follows.
//
// Splitting a string never lowers the total:
// CountTokens(a+b) <= CountTokens(a)+CountTokens(b), with equality when a
// ends or b begins with whitespace. Split relies on this to add up the
// counts of words instead of recounting.
func CountTokens(s string) int {
	var c counter
	c.addString(s)
	return c.n
}

// counter is CountTokens as a state machine, so that a word can be cut at
// the last rune that still fits a budget without counting its prefixes over
// and over.
type counter struct {
	n   int   // tokens so far
	run int   // runes in the current letter run
	in  uint8 // what the previous rune started or continued
}

const (
	inNone   uint8 = iota // start, or after whitespace
	inWord                // a letter run
	inPunct               // a punctuation run
	inSingle              // a character counted on its own
)

// addString is add for every rune of s, taking runs of ASCII letters whole:
// most text is mostly those, and this is the loop indexing spends its time
// in.
func (c *counter) addString(s string) {
	for i := 0; i < len(s); {
		b := s[i]
		if b >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			c.add(r)
			i += size
			continue
		}
		if !isASCIIAlnum(b) {
			c.add(rune(b))
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isASCIIAlnum(s[j]) {
			j++
		}
		c.letters(j - i)
		i = j
	}
}

// letters adds k letters at once; a run of r letters costs ceil(r/4).
func (c *counter) letters(k int) {
	if c.in != inWord {
		c.in, c.run = inWord, 0
	}
	c.n += (c.run+k+3)/4 - (c.run+3)/4
	c.run += k
}

func isASCIIAlnum(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}

func (c *counter) add(r rune) {
	if r < utf8.RuneSelf {
		switch {
		case isASCIIAlnum(byte(r)):
			c.letter()
		case r == ' ', '\t' <= r && r <= '\r':
			c.in = inNone
		default:
			c.punct()
		}
		return
	}
	switch {
	case isCJK(r):
		c.n++
		c.in = inSingle
	case unicode.IsSpace(r):
		c.in = inNone
	case unicode.IsLetter(r), unicode.IsNumber(r):
		c.letter()
	case isExtender(r):
		// A mark with nothing before it to attach to is a character of
		// its own; otherwise it is free (and keeps a letter run going).
		if c.in == inNone {
			c.n++
			c.in = inSingle
		}
	case unicode.IsPunct(r), unicode.Is(unicode.Sm, r), unicode.Is(unicode.Sc, r):
		c.punct()
	default:
		c.n++
		c.in = inSingle
	}
}

func (c *counter) letter() {
	if c.in == inWord {
		c.run++
		if c.run%4 == 1 {
			c.n++
		}
		return
	}
	c.in, c.run = inWord, 1
	c.n++
}

func (c *counter) punct() {
	if c.in != inPunct {
		c.in = inPunct
		c.n++
	}
}

// isCJK reports the scripts written without spaces between words that
// tokenizers charge about a token per character for. The ranges are the
// blocks themselves rather than unicode.Han and friends, which would cost a
// table search on every character of a CJK text.
func isCJK(r rune) bool {
	switch {
	case r < 0x1100:
		return false
	case r <= 0x11FF: // Hangul Jamo
		return true
	case r < 0x3040:
		return false
	case r <= 0x30FF: // Hiragana, Katakana
		return r != 0x3099 && r != 0x309A // combining sound marks
	case r >= 0x3130 && r <= 0x318F, // Hangul compatibility Jamo
		r >= 0x31F0 && r <= 0x31FF,   // Katakana phonetic extensions
		r >= 0x3400 && r <= 0x4DBF,   // CJK extension A
		r >= 0x4E00 && r <= 0x9FFF,   // CJK unified ideographs
		r >= 0xAC00 && r <= 0xD7AF,   // Hangul syllables
		r >= 0xF900 && r <= 0xFAFF,   // CJK compatibility ideographs
		r >= 0xFF66 && r <= 0xFF9F,   // halfwidth Katakana
		r >= 0x20000 && r <= 0x3FFFF: // supplementary ideographs
		return true
	}
	return false
}

// isExtender reports characters that only modify the one before them:
// combining marks (including variation selectors), joiners, the soft hyphen,
// emoji skin tones and the tag characters of flag sequences.
func isExtender(r rune) bool {
	return unicode.IsMark(r) || r == 0x200C || r == 0x200D || r == 0x00AD ||
		0x1F3FB <= r && r <= 0x1F3FF || 0xE0020 <= r && r <= 0xE007F
}

// prefix returns the length in bytes of the longest prefix of s, cut between
// runes, that costs at most budget tokens, and its cost. With a budget of at
// least one the prefix holds at least one rune, as no rune costs more.
func prefix(s string, budget int) (n, tokens int) {
	var c counter
	for i, r := range s {
		before := c.n
		c.add(r)
		if c.n > budget {
			return i, before
		}
	}
	return len(s), c.n
}
