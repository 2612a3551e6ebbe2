package notify

import (
	"bytes"
	"errors"
	"fmt"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrHeaderInjection refuses a recipient or subject containing a line
// break, which would let its author add headers (Bcc, say) to the message.
var ErrHeaderInjection = errors.New("line break in a header value")

// maxHeaderLine is the longest header line written (RFC 5322 recommends 78).
const maxHeaderLine = 78

// composeMessage builds the message: headers, then the body as
// quoted-printable UTF-8 text with CRLF line ends. It returns the envelope
// recipient too. The To header holds the address without any display name
// given with it. Subject and body are made valid UTF-8 first; the subject's
// outer white space is dropped.
func composeMessage(from *mail.Address, to, subject, body, messageID, domain string, date time.Time) ([]byte, string, error) {
	if strings.ContainsAny(to, "\r\n") {
		return nil, "", fmt.Errorf("recipient: %w", ErrHeaderInjection)
	}
	if strings.ContainsAny(subject, "\r\n") {
		return nil, "", fmt.Errorf("subject: %w", ErrHeaderInjection)
	}
	if hasControl(to) {
		return nil, "", errors.New("recipient: control character in the address")
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return nil, "", fmt.Errorf("recipient: %w", err)
	}
	// The header names the address alone, written so that it reads back
	// the same; RFC 5321 allows at most 254 characters.
	toHeader := (&mail.Address{Address: rcpt.Address}).String()
	if back, err := mail.ParseAddress(toHeader); err != nil || back.Address != rcpt.Address || len(rcpt.Address) > 254 {
		return nil, "", errors.New("recipient: address cannot be written as a header")
	}
	id, err := messageIDHeader(messageID, domain)
	if err != nil {
		return nil, "", err
	}
	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	header("Date", date.Format(time.RFC1123Z))
	header("From", from.String())
	header("To", toHeader)
	header("Subject", encodeSubject(subject))
	header("Message-ID", id)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: an automatic message, so auto-responders stay quiet.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(normalizeBody(body)))
	qp.Close()
	return b.Bytes(), rcpt.Address, nil
}

// normalizeBody makes body valid UTF-8 with \n line ends; the
// quoted-printable writer turns those into CRLF.
func normalizeBody(body string) string {
	body = strings.ToValidUTF8(body, "\uFFFD")
	body = strings.ReplaceAll(body, "\r\n", "\n")
	return strings.ReplaceAll(body, "\r", "\n")
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// messageIDHeader returns <token@domain>, or <token> when token already
// has a domain. The token must be a dot-atom, as a notification id is.
func messageIDHeader(token, domain string) (string, error) {
	left, right, hasAt := strings.Cut(token, "@")
	if hasAt {
		domain = right
	}
	if len(token) > 200 || !dotAtom(left) || !validDomain(domain) {
		return "", errors.New("message id: not of the form local@domain with plain characters")
	}
	return "<" + left + "@" + domain + ">", nil
}

// dotAtom reports whether s is an RFC 5322 dot-atom.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validDomain reports whether s is a host name of letters, digits,
// hyphens and dots (an IDN in its ASCII form qualifies).
func validDomain(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// encodeSubject returns the Subject header value: plain printable ASCII
// folded at single spaces, otherwise RFC 2047 "Q" encoded words (as
// mime.QEncoding writes them), one per folded line. ASCII that merely looks
// like an encoded word is encoded too, so that a reader shows it as written.
func encodeSubject(s string) string {
	const prefix = len("Subject: ")
	s = strings.Trim(strings.ToValidUTF8(s, "\uFFFD"), " \t")
	if !needsEncoding(s) && !strings.Contains(s, "=?") {
		if folded, ok := foldASCII(s, prefix); ok {
			return folded
		}
	}
	return strings.Join(qWords(s, maxHeaderLine-prefix), "\r\n ")
}

func needsEncoding(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < ' ' || s[i] > '~') && s[i] != '\t' {
			return true
		}
	}
	return false
}

// foldASCII breaks s into lines of at most maxHeaderLine characters (the
// first line starts after a prefix of the given width) at single spaces
// between words, so unfolding gives s back exactly. It fails when a line
// would still be longer than the 998 characters RFC 5322 allows.
func foldASCII(s string, prefix int) (string, bool) {
	var out strings.Builder
	lineLen := prefix
	start := 0 // of the text not yet written
	lastBreak := -1
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && i > 0 && i+1 < len(s) && !isWSP(s[i-1]) && !isWSP(s[i+1]) {
			lastBreak = i
		}
		if lineLen+(i-start)+1 > maxHeaderLine && lastBreak > start {
			out.WriteString(s[start:lastBreak])
			out.WriteString("\r\n")
			start = lastBreak // the space begins the continuation line
			lineLen = 0
			lastBreak = -1
		}
	}
	out.WriteString(s[start:])
	for _, line := range strings.Split(out.String(), "\r\n") {
		if len(line)+prefix > 998 {
			return "", false
		}
		prefix = 0
	}
	return out.String(), true
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// qWords encodes s as "Q" encoded words, the first at most first
// characters long and the others 75 (each on a line of its own after one
// space), never splitting a character between two words. Unlike
// mime.QEncoding it also encodes text that is printable ASCII.
func qWords(s string, first int) []string {
	const prefix, suffix = "=?utf-8?q?", "?="
	room := first - len(prefix) - len(suffix)
	var words []string
	var cur, enc strings.Builder
	var buf [utf8.UTFMax]byte
	for _, r := range s {
		enc.Reset()
		for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
			switch {
			case c == ' ':
				enc.WriteByte('_')
			case c > ' ' && c <= '~' && c != '=' && c != '?' && c != '_':
				enc.WriteByte(c)
			default:
				fmt.Fprintf(&enc, "=%02X", c)
			}
		}
		if cur.Len()+enc.Len() > room && cur.Len() > 0 {
			words = append(words, prefix+cur.String()+suffix)
			cur.Reset()
			room = 75 - len(prefix) - len(suffix)
		}
		cur.WriteString(enc.String())
	}
	if cur.Len() > 0 || len(words) == 0 {
		words = append(words, prefix+cur.String()+suffix)
	}
	return words
}
