package redact

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Session replaces identifiers with placeholders that stay the same for the
// same identifier throughout a conversation ([PHONE_1] is always the same
// number), and restores them. A Session is used by one goroutine.
type Session struct {
	d       *Detector
	byKey   map[string]string // kind and normalized value → placeholder
	values  map[string]string // placeholder → the text it replaced
	counter map[Kind]int
	count   int  // identifiers replaced so far
	aliased bool // a placeholder stands for texts written differently
}

// NewSession starts a conversation's placeholders.
func (d *Detector) NewSession() *Session {
	return &Session{d: d, byKey: map[string]string{}, values: map[string]string{}, counter: map[Kind]int{}}
}

// Redact returns text with every identifier replaced, and how many were.
func (s *Session) Redact(text string) (string, int) {
	spans := s.d.Find(text)
	if len(spans) == 0 {
		return text, 0
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(text[last:sp.Start])
		b.WriteString(s.placeholder(sp.Kind, text[sp.Start:sp.End]))
		last = sp.End
	}
	b.WriteString(text[last:])
	s.count += len(spans)
	return b.String(), len(spans)
}

// Aliased reports whether a placeholder stands for texts written
// differently ("Maria", "Maria Gonzalez"): it is restored as the first.
func (s *Session) Aliased() bool { return s.aliased }

// Replaced is how many identifiers the session has replaced.
func (s *Session) Replaced() int { return s.count }

func (s *Session) placeholder(k Kind, value string) string {
	key := string(k) + "\x00" + s.normalize(k, value)
	if p, ok := s.byKey[key]; ok {
		if s.values[p] != value {
			s.aliased = true
		}
		return p
	}
	s.counter[k]++
	p := fmt.Sprintf("[%s_%d]", k, s.counter[k])
	s.byKey[key], s.values[p] = p, value
	return p
}

// normalize makes the key under which two spellings of one identifier meet:
// the digits of a number, a known patient's number for any form of their
// name, the lower-case text otherwise.
func (s *Session) normalize(k Kind, value string) string {
	switch k {
	case Phone, Fax, SSN:
		return strings.Map(func(r rune) rune {
			if unicode.IsDigit(r) {
				return r
			}
			return -1
		}, value)
	case License, Vehicle, Device:
		// "KX19 LMN" and "kx19-lmn" are one plate.
		return strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return unicode.ToUpper(r)
			}
			return -1
		}, value)
	case Patient:
		words := nameWords(value)
		if i, ok := s.d.full[strings.Join(words, " ")]; ok {
			return fmt.Sprint("#", i)
		}
		// "wei-zhang" in a file's title is Wei Zhang.
		if pieces := strings.FieldsFunc(strings.Join(words, " "), func(r rune) bool { return r == ' ' || r == '-' }); len(pieces) > len(words) {
			if i, ok := s.d.full[strings.Join(pieces, " ")]; ok {
				return fmt.Sprint("#", i)
			}
		}
		if len(words) == 1 {
			if i, ok := s.d.parts[words[0]]; ok && i >= 0 {
				return fmt.Sprint("#", i)
			}
		}
		return strings.Join(words, " ")
	}
	return strings.ToLower(strings.Join(strings.Fields(value), " "))
}

// placeholderRE matches the placeholders of every kind.
var placeholderRE = func() *regexp.Regexp {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return regexp.MustCompile(`\[(?:` + strings.Join(names, "|") + `)_\d{1,6}\]`)
}()

// Restore puts the identifiers back into a text written with the session's
// placeholders. Placeholders the session did not make are left as they are.
func (s *Session) Restore(text string) string {
	if len(s.values) == 0 {
		return text
	}
	return placeholderRE.ReplaceAllStringFunc(text, func(p string) string {
		if v, ok := s.values[p]; ok {
			return v
		}
		return p
	})
}

// maxPlaceholder is the longest placeholder the session writes.
var maxPlaceholder = func() int {
	n := 0
	for _, k := range Kinds {
		n = max(n, len("[_999999]")+len(k))
	}
	return n
}()

// Restorer restores a streamed text delta by delta: a placeholder split
// across deltas is held back until it is whole, and every other character is
// passed on at once.
type Restorer struct {
	s       *Session
	pending string
}

// Restorer starts restoring one streamed text.
func (s *Session) Restorer() *Restorer { return &Restorer{s: s} }

// Write takes the next delta and returns what can be shown now.
func (r *Restorer) Write(delta string) string {
	text := r.pending + delta
	r.pending = ""
	// Hold back a trailing "[" and what follows it while it may still
	// become a placeholder.
	if i := strings.LastIndexByte(text, '['); i >= 0 && !strings.Contains(text[i:], "]") && len(text)-i < maxPlaceholder && mayBecomePlaceholder(text[i+1:]) {
		text, r.pending = text[:i], text[i:]
	}
	return r.s.Restore(text)
}

// Flush returns what is held back at the end of the stream.
func (r *Restorer) Flush() string {
	text := r.pending
	r.pending = ""
	return r.s.Restore(text)
}

// mayBecomePlaceholder: s (after "[") is a prefix of some KIND_digits.
func mayBecomePlaceholder(s string) bool {
	name, digits, underscore := strings.Cut(s, "_")
	if !underscore {
		for _, k := range Kinds {
			if strings.HasPrefix(string(k), name) {
				return true
			}
		}
		return false
	}
	known := false
	for _, k := range Kinds {
		known = known || string(k) == name
	}
	return known && strings.TrimFunc(digits, unicode.IsDigit) == ""
}
