package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newSlog(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return newSlog(b), b
}

func fixedClock() time.Time { return t0 }

func newTestMailer(t testing.TB, cfg SMTPConfig) *Mailer {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "HealthHub <no-reply@clinic.example>"
	}
	if cfg.StartTLS == "" {
		cfg.StartTLS = StartTLSNever
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	logger, _ := testLogger(t)
	m, err := NewMailer(cfg, fixedClock, logger)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// parsed is a received message taken apart.
type parsed struct {
	Header  mail.Header
	Subject string
	Body    string // decoded, CRLF line ends
}

func parseMessage(t testing.TB, data string) parsed {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return parsed{Header: m.Header, Subject: subject, Body: string(body)}
}

func TestMailerSendsWellFormedMessage(t *testing.T) {
	srv := startSMTP(t)
	m := newTestMailer(t, SMTPConfig{Addr: srv.Addr(), HeloName: "hh.clinic.example"})
	subject := "Termin bestätigt – Dr. Müller, Montag 10:00 Uhr, bitte 10 Minuten früher kommen"
	body := "Hallo,\n.a line starting with a dot\n.\nGrüße\n" + strings.Repeat("long line ", 30) + "\nend  \n"
	if err := m.Send(context.Background(), "patient@example.org", subject, body, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("received %d messages", len(msgs))
	}
	got := msgs[0]
	if got.From != "no-reply@clinic.example" || len(got.To) != 1 || got.To[0] != "patient@example.org" {
		t.Fatalf("envelope from %q to %v", got.From, got.To)
	}
	p := parseMessage(t, got.Data)
	h := p.Header
	for name, want := range map[string]string{
		"From":                      `"HealthHub" <no-reply@clinic.example>`,
		"To":                        "<patient@example.org>",
		"Message-Id":                "<0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@clinic.example>",
		"Mime-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Auto-Submitted":            "auto-generated",
	} {
		if v := h.Get(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	if d, err := h.Date(); err != nil || !d.Equal(t0) {
		t.Errorf("Date = %v, %v", d, err)
	}
	if p.Subject != subject {
		t.Errorf("subject = %q", p.Subject)
	}
	if want := strings.ReplaceAll(body, "\n", "\r\n"); p.Body != want+"\r\n" && p.Body != want {
		t.Errorf("body = %q, want %q", p.Body, want)
	}
	for i, line := range strings.Split(got.Data, "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d is %d characters long", i, len(line))
		}
	}
	if strings.Contains(got.Data, "ä") {
		t.Error("raw 8-bit text in the message")
	}
}

func TestMailerRefusesHeaderInjection(t *testing.T) {
	srv := startSMTP(t)
	m := newTestMailer(t, SMTPConfig{Addr: srv.Addr()})
	ctx := context.Background()
	for _, c := range []struct{ to, subject string }{
		{"patient@example.org", "Hello\r\nBcc: everyone@evil.example"},
		{"patient@example.org", "Hello\nBcc: everyone@evil.example"},
		{"patient@example.org", "Hello\rBcc: everyone@evil.example"},
		{"patient@example.org\r\nBcc: everyone@evil.example", "Hello"},
		{"patient@example.org\n", "Hello"},
	} {
		err := m.Send(ctx, c.to, c.subject, "body", "id-1")
		if !errors.Is(err, ErrHeaderInjection) || !IsPermanent(err) {
			t.Errorf("Send(%q, %q) = %v, want a permanent header injection error", c.to, c.subject, err)
		}
	}
	for _, c := range []struct{ to, id string }{
		{"not an address", "id-1"},
		{"a@example.org, b@example.org", "id-1"},
		{"a\x00@example.org", "id-1"},
		{"a@example.org", "id with space"},
		{"a@example.org", "id>\r\nX: y"},
		{"a@example.org", ""},
	} {
		if err := m.Send(ctx, c.to, "s", "b", c.id); err == nil || !IsPermanent(err) {
			t.Errorf("Send(to %q, id %q) = %v, want a permanent error", c.to, c.id, err)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages got through", n)
	}
	srv.mu.Lock()
	sessions := srv.sessions
	srv.mu.Unlock()
	if sessions != 0 {
		t.Fatalf("refused messages still opened %d SMTP sessions", sessions)
	}
}

func TestMailerClassifiesFailures(t *testing.T) {
	ctx := context.Background()
	var se *SendError

	temp := startSMTP(t, withTempFail(1))
	err := newTestMailer(t, SMTPConfig{Addr: temp.Addr()}).Send(ctx, "p@example.org", "s", "b", "id-1")
	if !errors.As(err, &se) || se.Code != 451 || se.Op != OpRcpt || IsPermanent(err) {
		t.Fatalf("451: %v (%#v)", err, se)
	}

	perm := startSMTP(t, withPermFail())
	err = newTestMailer(t, SMTPConfig{Addr: perm.Addr()}).Send(ctx, "p@example.org", "s", "b", "id-1")
	if !errors.As(err, &se) || se.Code != 550 || !IsPermanent(err) {
		t.Fatalf("550: %v", err)
	}

	err = newTestMailer(t, SMTPConfig{Addr: deadPort(t)}).Send(ctx, "p@example.org", "s", "b", "id-1")
	if !errors.As(err, &se) || se.Op != OpConnect || se.Code != 0 || IsPermanent(err) {
		t.Fatalf("connection refused: %v", err)
	}

	// A relay that refuses the session is a configuration problem: retried.
	authSrv := startSMTP(t, withAuth("hh", "right"))
	err = newTestMailer(t, SMTPConfig{Addr: authSrv.Addr(), Username: "hh", Password: "wrong"}).Send(ctx, "p@example.org", "s", "b", "id-1")
	if !errors.As(err, &se) || se.Op != OpAuth || se.Code != 535 || IsPermanent(err) {
		t.Fatalf("bad password: %v", err)
	}
	for _, s := range []*smtpServer{temp, perm, authSrv} {
		if n := len(s.Messages()); n != 0 {
			t.Fatalf("%d messages accepted", n)
		}
	}
}

func TestMailerStartTLSAndAuth(t *testing.T) {
	ctx := context.Background()
	serverTLS, roots := testCert(t)

	secure := startSMTP(t, withTLS(serverTLS), withAuth("hh", "s3cret"))
	for _, mode := range []string{StartTLSAlways, StartTLSAuto} {
		m := newTestMailer(t, SMTPConfig{Addr: secure.Addr(), StartTLS: mode, Username: "hh", Password: "s3cret"})
		m.rootCAs = roots
		if err := m.Send(ctx, "p@example.org", "s", "b", "id-"+mode); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
	}
	for _, msg := range secure.Messages() {
		if !msg.TLS || msg.User != "hh" {
			t.Fatalf("delivered without TLS or authentication: %+v", msg)
		}
	}

	// A certificate the mailer does not trust is an error, not a fall back.
	untrusted := newTestMailer(t, SMTPConfig{Addr: secure.Addr(), StartTLS: StartTLSAuto})
	var se *SendError
	if err := untrusted.Send(ctx, "p@example.org", "s", "b", "id-x"); !errors.As(err, &se) || se.Op != OpStartTLS || IsPermanent(err) {
		t.Fatalf("untrusted certificate: %v", err)
	}

	plain := startSMTP(t)
	always := newTestMailer(t, SMTPConfig{Addr: plain.Addr(), StartTLS: StartTLSAlways})
	if err := always.Send(ctx, "p@example.org", "s", "b", "id-y"); !errors.As(err, &se) || se.Op != OpStartTLS || IsPermanent(err) {
		t.Fatalf("always without STARTTLS: %v", err)
	}
	auto := newTestMailer(t, SMTPConfig{Addr: plain.Addr(), StartTLS: StartTLSAuto})
	if err := auto.Send(ctx, "p@example.org", "s", "b", "id-z"); err != nil {
		t.Fatalf("auto without STARTTLS: %v", err)
	}
	if msgs := plain.Messages(); len(msgs) != 1 || msgs[0].TLS {
		t.Fatalf("plain relay got %+v", msgs)
	}
	if n := len(secure.Messages()); n != 2 {
		t.Fatalf("secure relay got %d messages, want 2", n)
	}
}

func TestMailerHonoursContext(t *testing.T) {
	// A relay that accepts connections and never says a word.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	m := newTestMailer(t, SMTPConfig{Addr: ln.Addr().String(), Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = m.Send(ctx, "p@example.org", "s", "b", "id-1")
	if err == nil || IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want a temporary deadline error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Send took %v despite its context", d)
	}

	short := newTestMailer(t, SMTPConfig{Addr: ln.Addr().String(), Timeout: 200 * time.Millisecond})
	start = time.Now()
	if err := short.Send(context.Background(), "p@example.org", "s", "b", "id-1"); err == nil || IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Send took %v despite its timeout", d)
	}
}

func TestNewMailerChecksConfig(t *testing.T) {
	logger, _ := testLogger(t)
	for _, cfg := range []SMTPConfig{
		{Addr: "mail.example.org", From: "a@clinic.example"},
		{Addr: "mail.example.org:587", From: "not an address"},
		{Addr: "mail.example.org:587", From: "a@clinic.example\r\nBcc: x@y"},
		{Addr: "mail.example.org:587", From: "a@clinic.example", StartTLS: "sometimes"},
		{Addr: "mail.example.org:587", From: "a@clinic.example", HeloName: "bad name"},
		{Addr: "mail.example.org:587", From: "a@clinic.example", StartTLS: "never", Username: "u", Password: "p"},
	} {
		if _, err := NewMailer(cfg, fixedClock, logger); err == nil {
			t.Errorf("NewMailer(%+v) accepted", cfg)
		}
	}
	for _, cfg := range []SMTPConfig{
		{Addr: "mail.example.org:587", From: "HealthHub <a@clinic.example>", Username: "u", Password: "p"},
		{Addr: "127.0.0.1:25", From: "a@clinic.example", StartTLS: "never", Username: "u", Password: "p"},
		{Addr: "[::1]:25", From: "a@clinic.example", StartTLS: "Always"},
	} {
		if _, err := NewMailer(cfg, fixedClock, logger); err != nil {
			t.Errorf("NewMailer(%+v): %v", cfg, err)
		}
	}
}

func TestSubjectEncoding(t *testing.T) {
	for _, s := range []string{
		"",
		"Plain subject",
		"Ünïcödé",
		"Looks like =?utf-8?q?an_encoded_word?= but is not",
		strings.Repeat("word ", 60),
		strings.Repeat("x", 1200),
		strings.Repeat("ä", 300),
		"two  spaces and\ttab",
		"control \x01 char",
	} {
		enc := encodeSubject(s)
		for _, line := range strings.Split(enc, "\r\n") {
			if len(line) > 998 {
				t.Errorf("%q: header line of %d characters", s, len(line))
			}
		}
		msg := "Subject: " + enc + "\r\n\r\n"
		m, err := mail.ReadMessage(strings.NewReader(msg))
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if want := strings.Trim(s, " \t"); err != nil || got != want {
			t.Errorf("subject %q came back as %q (%v); encoded %q", want, got, err, enc)
		}
	}
}
