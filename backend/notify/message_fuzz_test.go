package notify

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"testing"
)

// FuzzComposeMessage checks, for any recipient, subject, body and message
// id, that the message is either refused or reads back as exactly what was
// meant: the expected headers once each and no others (so nothing was
// injected), the same recipient, subject, Message-ID and body, CRLF line
// ends only, and no line longer than SMTP allows.
func FuzzComposeMessage(f *testing.F) {
	for _, s := range [][4]string{
		{"patient@example.org", "Your appointment", "Hello,\n\nsee you.\n", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"},
		{"patient@example.org", "Termin bestätigt – 10:00", "Grüße\r\n.\r\n..x\rend", "n1"},
		{"Pat <patient@example.org>", "Hi\r\nBcc: x@evil.example", "b", "n2"},
		{"patient@example.org\r\nBcc: x@evil.example", "s", "b", "n3"},
		{`"odd local"@example.org`, "=?utf-8?q?fake?=", strings.Repeat("x", 200), "n4@other.example"},
		{"a@b", strings.Repeat("word ", 50), "\xff\xfe invalid utf-8", "id>\r\nX-Evil: 1"},
		{"ünïcode@example.org", "\x00\x1b\x7f", "trailing space \n\t\n", "a.b"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	from := &mail.Address{Name: "HealthHub", Address: "no-reply@clinic.example"}
	want := []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To"}
	f.Fuzz(func(t *testing.T, to, subject, body, id string) {
		msg, rcpt, err := composeMessage(from, to, subject, body, id, "clinic.example", t0)
		broken := strings.ContainsAny(to, "\r\n") || strings.ContainsAny(subject, "\r\n")
		if err != nil {
			if broken && !errors.Is(err, ErrHeaderInjection) {
				t.Fatalf("line break refused with the wrong error: %v", err)
			}
			return
		}
		if broken {
			t.Fatalf("accepted a line break in to %q or subject %q", to, subject)
		}
		for i := 0; i < len(msg); i++ {
			if msg[i] == '\n' && (i == 0 || msg[i-1] != '\r') || msg[i] == '\r' && (i+1 == len(msg) || msg[i+1] != '\n') {
				t.Fatalf("bare CR or LF at %d", i)
			}
		}
		for _, line := range bytes.Split(msg, []byte("\r\n")) {
			if len(line) > 998 {
				t.Fatalf("line of %d characters", len(line))
			}
		}
		m, err := mail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("message does not parse: %v\n%q", err, msg)
		}
		var keys []string
		for k, v := range m.Header {
			if len(v) != 1 {
				t.Fatalf("header %s appears %d times", k, len(v))
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("headers %v, want %v", keys, want)
		}
		a, err := mail.ParseAddress(m.Header.Get("To"))
		if err != nil || a.Address != rcpt {
			t.Fatalf("To %q reads as %v, %v; envelope %q", m.Header.Get("To"), a, err, rcpt)
		}
		if orig, err := mail.ParseAddress(to); err != nil || orig.Address != rcpt {
			t.Fatalf("envelope recipient %q is not the address in %q", rcpt, to)
		}
		gotSubject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if wantSubject := strings.Trim(strings.ToValidUTF8(subject, "\uFFFD"), " \t"); err != nil || gotSubject != wantSubject {
			t.Fatalf("subject %q reads back as %q (%v)", wantSubject, gotSubject, err)
		}
		mid := m.Header.Get("Message-Id")
		if !strings.HasPrefix(mid, "<") || !strings.HasSuffix(mid, ">") || strings.Count(mid, "@") != 1 ||
			!strings.HasPrefix(mid[1:], strings.TrimSuffix(id, "@"+mid[strings.IndexByte(mid, '@')+1:len(mid)-1])) {
			t.Fatalf("Message-ID %q for id %q", mid, id)
		}
		raw, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range raw {
			if c >= 0x80 {
				t.Fatal("8-bit byte in the quoted-printable body")
			}
		}
		decoded, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("body does not decode: %v", err)
		}
		if wantBody := strings.ReplaceAll(normalizeBody(body), "\n", "\r\n"); string(decoded) != wantBody {
			t.Fatalf("body %q reads back as %q", wantBody, decoded)
		}
	})
}
