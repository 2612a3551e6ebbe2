package notify

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpServer is a small SMTP server on 127.0.0.1 that records what it
// receives. It speaks EHLO/HELO, STARTTLS (when given a certificate), AUTH
// PLAIN (when given credentials), MAIL, RCPT, DATA with dot-unstuffing,
// RSET, NOOP and QUIT.
type smtpServer struct {
	t    testing.TB
	ln   net.Listener
	tls  *tls.Config
	user string
	pass string
	wg   sync.WaitGroup

	mu       sync.Mutex
	tempFail int  // answer 451 to this many more RCPTs
	permFail bool // answer 550 to every RCPT
	msgs     []smtpMessage
	sessions int
}

type smtpMessage struct {
	From string
	To   []string
	Data string // as received, dot-unstuffed, CRLF line ends
	TLS  bool
	User string // authenticated as
}

type smtpOption func(*smtpServer)

func withTLS(cfg *tls.Config) smtpOption { return func(s *smtpServer) { s.tls = cfg } }
func withAuth(user, pass string) smtpOption {
	return func(s *smtpServer) { s.user, s.pass = user, pass }
}
func withTempFail(n int) smtpOption { return func(s *smtpServer) { s.tempFail = n } }
func withPermFail() smtpOption      { return func(s *smtpServer) { s.permFail = true } }

func startSMTP(t testing.TB, opts ...smtpOption) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{t: t, ln: ln}
	for _, o := range opts {
		o(s)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *smtpServer) Addr() string { return s.ln.Addr().String() }

// Close stops listening and waits for the open sessions to end.
func (s *smtpServer) Close() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *smtpServer) Messages() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.msgs...)
}

func (s *smtpServer) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	s.mu.Lock()
	s.sessions++
	s.mu.Unlock()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	reply := func(lines ...string) {
		for i, l := range lines {
			sep := " "
			if i < len(lines)-1 {
				sep = "-"
			}
			fmt.Fprintf(conn, "%s%s%s\r\n", l[:3], sep, l[4:])
		}
	}
	reply("220 test.invalid ESMTP ready")
	var (
		greeted, secure bool
		authed          string
		from            string
		haveFrom        bool
		to              []string
	)
	reset := func() { from, haveFrom, to = "", false, nil }
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			greeted = true
			reset()
			ext := []string{"250 test.invalid greets you", "250 8BITMIME"}
			if s.tls != nil && !secure {
				ext = append(ext, "250 STARTTLS")
			}
			if s.user != "" {
				ext = append(ext, "250 AUTH PLAIN")
			}
			reply(append(ext, "250 HELP")...)
		case "HELO":
			greeted = true
			reset()
			reply("250 test.invalid")
		case "STARTTLS":
			if s.tls == nil || secure {
				reply("502 5.5.1 not available")
				continue
			}
			reply("220 2.0.0 go ahead")
			tc := tls.Server(conn, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, r, secure, greeted = tc, bufio.NewReader(tc), true, false
			reset()
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if s.user == "" || !strings.EqualFold(mech, "PLAIN") {
				reply("504 5.5.4 mechanism not supported")
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.user || parts[2] != s.pass {
				reply("535 5.7.8 authentication failed")
				continue
			}
			authed = parts[1]
			reply("235 2.7.0 authenticated")
		case "MAIL":
			addr, ok := pathArg(arg, "FROM:")
			switch {
			case !greeted:
				reply("503 5.5.1 say hello first")
			case s.user != "" && authed == "":
				reply("530 5.7.0 authentication required")
			case !ok:
				reply("501 5.5.4 syntax: MAIL FROM:<address>")
			default:
				reset()
				from, haveFrom = addr, true
				reply("250 2.1.0 ok")
			}
		case "RCPT":
			addr, ok := pathArg(arg, "TO:")
			if !haveFrom || !ok {
				reply("503 5.5.1 need MAIL first")
				continue
			}
			s.mu.Lock()
			perm, temp := s.permFail, s.tempFail > 0
			if !perm && temp {
				s.tempFail--
			}
			s.mu.Unlock()
			switch {
			case perm:
				reply("550 5.1.1 <" + addr + ">: recipient rejected")
			case temp:
				reply("451 4.7.1 <" + addr + ">: greylisted, try again later")
			default:
				to = append(to, addr)
				reply("250 2.1.5 ok")
			}
		case "DATA":
			if len(to) == 0 {
				reply("503 5.5.1 need RCPT first")
				continue
			}
			reply("354 end data with <CR><LF>.<CR><LF>")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, ".")) // dot-unstuffing
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, smtpMessage{From: from, To: to, Data: data.String(), TLS: secure, User: authed})
			s.mu.Unlock()
			reset()
			reply("250 2.0.0 queued")
		case "RSET":
			reset()
			reply("250 2.0.0 ok")
		case "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("500 5.5.2 command not recognized")
		}
	}
}

// pathArg takes the address out of "FROM:<a@b> PARAMS".
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

// testCert returns a server configuration with a fresh self-signed
// certificate for 127.0.0.1, and a pool that trusts it.
func testCert(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// deadPort returns an address nothing listens on.
func deadPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
