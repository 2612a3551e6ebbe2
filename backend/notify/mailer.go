package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"
)

// StartTLS modes of SMTPConfig.
const (
	// StartTLSAuto upgrades the connection when the relay offers STARTTLS.
	// A relay that offers it but fails the handshake (bad certificate) is an
	// error, never a silent fall back to plain text. Someone on the path can
	// hide the offer, though: use always where the relay supports TLS.
	StartTLSAuto = "auto"
	// StartTLSAlways refuses to send over a relay that does not offer STARTTLS.
	StartTLSAlways = "always"
	// StartTLSNever sends in plain text; only for a relay on a trusted network.
	StartTLSNever = "never"
)

// DefaultSMTPTimeout bounds one delivery (connect to QUIT) when
// SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 30 * time.Second

// SMTPConfig says how to reach the mail relay.
type SMTPConfig struct {
	Addr     string // host:port of the relay
	From     string // sender, "Name <address>" or a bare address
	Username string // empty: no authentication
	Password string
	StartTLS string // auto (default), always or never
	HeloName string // name in EHLO; default the host name
	Timeout  time.Duration
}

// Mailer sends plain-text e-mail through an SMTP relay. It is safe for
// concurrent use; every Send opens its own connection.
type Mailer struct {
	addr     string
	host     string
	from     *mail.Address
	domain   string // of the From address, for Message-IDs
	auth     smtp.Auth
	startTLS string
	helo     string
	timeout  time.Duration
	rootCAs  *x509.CertPool // nil: the system roots
	now      func() time.Time
	logger   *slog.Logger
}

// NewMailer checks cfg and returns a Mailer. now dates the messages.
func NewMailer(cfg SMTPConfig, now func() time.Time, logger *slog.Logger) (*Mailer, error) {
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("smtp address %q: want host:port", cfg.Addr)
	}
	if strings.ContainsAny(cfg.From, "\r\n") {
		return nil, errors.New("smtp from address contains a line break")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp from address %q: %w", cfg.From, err)
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	if !validDomain(domain) {
		return nil, fmt.Errorf("smtp from address %q: the domain is not a plain host name", cfg.From)
	}
	mode := strings.ToLower(strings.TrimSpace(cfg.StartTLS))
	switch mode {
	case "":
		mode = StartTLSAuto
	case StartTLSAuto, StartTLSAlways, StartTLSNever:
	default:
		return nil, fmt.Errorf("smtp starttls %q: want auto, always or never", cfg.StartTLS)
	}
	helo := cfg.HeloName
	if helo == "" {
		if h, err := os.Hostname(); err == nil && validDomain(h) {
			helo = h
		} else {
			helo = "localhost"
		}
	}
	if !validDomain(helo) {
		return nil, fmt.Errorf("smtp helo name %q: want a host name", cfg.HeloName)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	m := &Mailer{addr: cfg.Addr, host: host, from: from, domain: domain, startTLS: mode, helo: helo,
		timeout: timeout, now: now, logger: logger}
	if cfg.Username != "" {
		if mode == StartTLSNever && !isLoopback(host) {
			return nil, errors.New("smtp: refusing to send the password unencrypted; set starttls to auto or always")
		}
		m.auth = smtp.PlainAuth("", cfg.Username, cfg.Password, host)
	}
	return m, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Delivery stages, as SendError.Op.
const (
	OpCompose  = "compose"  // the message itself is unacceptable
	OpConnect  = "connect"  // dial and greeting
	OpHello    = "hello"    // EHLO/HELO
	OpStartTLS = "starttls" // STARTTLS and the handshake
	OpAuth     = "auth"
	OpMail     = "mail" // MAIL FROM
	OpRcpt     = "rcpt" // RCPT TO
	OpData     = "data" // DATA, the content and the relay's verdict on it
)

// SendError is a failed delivery: the stage it failed at, the relay's reply
// code when there was one (0 for network errors), and the cause. Its text
// may contain the relay's reply, which can quote the recipient's address:
// log Op and Code, not the text.
type SendError struct {
	Op   string
	Code int
	Err  error
}

func (e *SendError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("smtp %s: %d %s", e.Op, e.Code, replyText(e.Err))
	}
	return fmt.Sprintf("smtp %s: %v", e.Op, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// Permanent reports whether retrying the same message cannot help: the
// message was refused before sending (compose), or the relay answered 5xx
// to the recipient or to the content. A 5xx while setting up the session
// (greeting, EHLO, STARTTLS, AUTH) or to MAIL FROM is the relay refusing
// this server or its sender address, the same for every message, so it
// stays temporary: once the configuration is corrected, what is queued is
// still delivered. 4xx replies and network errors are temporary.
func (e *SendError) Permanent() bool {
	switch e.Op {
	case OpCompose:
		return true
	case OpRcpt, OpData:
		return e.Code >= 500 && e.Code < 600
	}
	return false
}

func replyText(err error) string {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Msg
	}
	return err.Error()
}

// IsPermanent reports whether err says a delivery can never succeed, so the
// notification should fail finally instead of being retried.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// Permanent marks err as final: IsPermanent reports true for the result.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

func stageError(op string, err error) *SendError {
	se := &SendError{Op: op, Err: err}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		se.Code = tp.Code
	}
	return se
}

// Send delivers one message to one recipient. messageID is a stable token
// (the notification id): the Message-ID header is <messageID@from-domain>,
// or <messageID> when it already names a domain, so a re-sent copy carries
// the same Message-ID and the receiving side can drop it. Errors are
// *SendError; IsPermanent tells a refusal from a failure worth retrying.
func (m *Mailer) Send(ctx context.Context, to, subject, body, messageID string) error {
	msg, rcpt, err := composeMessage(m.from, to, subject, body, messageID, m.domain, m.now())
	if err != nil {
		return &SendError{Op: OpCompose, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return &SendError{Op: OpConnect, Err: err}
	}
	// The timeout bounds the whole conversation; ctx may end it sooner.
	deadline := time.Now().Add(m.timeout)
	dialer := net.Dialer{Deadline: deadline}
	conn, err := dialer.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return &SendError{Op: OpConnect, Err: err}
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	// net/smtp knows no context: when ctx ends, the pending read or write
	// ends with it (and ctx.Err is set by then).
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	err = m.converse(conn, rcpt, msg)
	var se *SendError
	if err != nil && ctx.Err() != nil && errors.As(err, &se) && se.Code == 0 {
		se.Err = fmt.Errorf("%w (%v)", ctx.Err(), se.Err)
	}
	return err
}

// converse runs the SMTP dialogue on conn. Once the relay has accepted the
// content, the message counts as delivered whatever happens to QUIT.
func (m *Mailer) converse(conn net.Conn, rcpt string, msg []byte) error {
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return m.sessionError(OpConnect, err)
	}
	defer c.Close()
	if err := c.Hello(m.helo); err != nil {
		return m.sessionError(OpHello, err)
	}
	if m.startTLS != StartTLSNever {
		if ok, _ := c.Extension("STARTTLS"); ok {
			cfg := &tls.Config{ServerName: m.host, MinVersion: tls.VersionTLS12, RootCAs: m.rootCAs}
			if err := c.StartTLS(cfg); err != nil {
				return m.sessionError(OpStartTLS, err)
			}
		} else if m.startTLS == StartTLSAlways {
			return m.sessionError(OpStartTLS, errors.New("the relay does not offer STARTTLS and starttls is set to always"))
		}
	}
	if m.auth != nil {
		if err := c.Auth(m.auth); err != nil {
			return m.sessionError(OpAuth, err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return m.sessionError(OpMail, err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		return stageError(OpRcpt, err)
	}
	w, err := c.Data()
	if err != nil {
		return stageError(OpData, err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return stageError(OpData, err)
	}
	if err := w.Close(); err != nil {
		return stageError(OpData, err)
	}
	c.Quit()
	return nil
}

// sessionError is a failure before a recipient was named. A relay that
// refuses the session or the sender outright, or a TLS or authentication
// failure that is not a network error, is misconfiguration an operator must
// see; it affects every message. Nothing of the message has been said to
// the relay yet, so its reply can be logged whole.
func (m *Mailer) sessionError(op string, err error) *SendError {
	se := stageError(op, err)
	var ne net.Error
	if se.Code >= 500 || (se.Code == 0 && (op == OpStartTLS || op == OpAuth) && !errors.As(err, &ne)) {
		m.logger.Error("smtp relay refused the session; check the SMTP settings", "op", op, "code", se.Code, "relay", m.addr, "err", se.Error())
	}
	return se
}
