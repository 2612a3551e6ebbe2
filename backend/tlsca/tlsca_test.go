package tlsca

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestEnsureMakesOnceAndRenewsUnderTheSameAuthority(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	a, err := Ensure(dir, []string{"clinic-server", "192.168.1.20"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !a.CA.IsCA || len(Fingerprint(a.CA)) != 32*3-1 {
		t.Fatalf("authority %v, fingerprint %q", a.CA.IsCA, Fingerprint(a.CA))
	}
	if info, _ := os.Stat(filepath.Join(dir, caKeyFile)); info.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v", info.Mode())
	}
	leaf, _ := x509.ParseCertificate(a.Certificate.Certificate[0])

	// Started again: the same authority and certificate.
	b, err := Ensure(dir, []string{"clinic-server"}, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if Fingerprint(b.CA) != Fingerprint(a.CA) || string(b.Certificate.Certificate[0]) != string(a.Certificate.Certificate[0]) {
		t.Fatal("a second start made new certificates")
	}
	// A new name, or a certificate near its end: a new server certificate, same authority.
	for _, c := range []struct {
		hosts []string
		at    time.Time
	}{
		{[]string{"clinic-server", "healthhub.clinic.lan"}, now},
		{[]string{"clinic-server"}, leaf.NotAfter.Add(-10 * 24 * time.Hour)},
	} {
		r, err := Ensure(dir, c.hosts, c.at)
		if err != nil {
			t.Fatal(err)
		}
		renewed, _ := x509.ParseCertificate(r.Certificate.Certificate[0])
		if Fingerprint(r.CA) != Fingerprint(a.CA) || renewed.Equal(leaf) || renewed.CheckSignatureFrom(a.CA) != nil || !covers(renewed, c.hosts) {
			t.Fatalf("renewal for %v at %v", c.hosts, c.at)
		}
	}
}

// A client that trusts only the authority reaches the server by each name
// the certificate holds, and a client that trusts the system does not.
func TestClientsPinningTheAuthorityConnect(t *testing.T) {
	a, err := Ensure(t.TempDir(), []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{a.Certificate}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(a.CA)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, host := range []string{"localhost", "127.0.0.1"} {
		c, err := tls.Dial("tcp", net.JoinHostPort(host, port), &tls.Config{RootCAs: pool, ServerName: host})
		if err != nil {
			t.Fatalf("pinned client via %s: %v", host, err)
		}
		c.Close()
	}
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "127.0.0.1"}); err == nil {
		c.Close()
		t.Fatal("a client trusting the system roots accepted the clinic's own authority")
	}
}
