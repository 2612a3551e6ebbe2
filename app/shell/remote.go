package shell

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/healthhub/healthhub/backend/tlsca"
)

// APIGeneration is the server API generation this app speaks.
const APIGeneration = "1"

// Problem kinds a connection can fail with; the UI words each for people.
const (
	Unreachable     = "unreachable"         // no answer at that address
	UntrustedServer = "untrusted"           // a certificate no trusted or pinned authority signed
	ChangedServer   = "certificate_changed" // not the authority pinned earlier
	Incompatible    = "incompatible"        // a HealthHub of another API generation, or not HealthHub
	DataFolder      = "data_folder"         // the standalone data folder cannot be used
	Setup           = "setup"               // anything else while starting
)

// Problem is why a connection failed, and what to do about it.
type Problem struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Advice  string `json:"advice"`
	Server  string `json:"server,omitempty"`
}

func (p *Problem) Error() string { return p.Message }

// Identity is what a server shows on first contact: the authority its
// certificate chains to, for a person to compare with the fingerprint the
// server printed.
type Identity struct {
	Server      string `json:"server"`
	Fingerprint string `json:"fingerprint"`
	Subject     string `json:"subject"`
	// Public is true when the system already trusts the certificate (a
	// hosted service, or a clinic with a public certificate).
	Public  bool   `json:"public"`
	Version string `json:"version"`
	caPEM   string
}

// Probe contacts server and returns its identity without trusting it yet.
func Probe(ctx context.Context, server string) (*Identity, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	host := u.Hostname()
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(host, "443")
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{
		// Nothing is trusted yet: the chain is read to be shown, and only
		// the authority a person confirms is trusted afterwards.
		InsecureSkipVerify: true, //nolint:gosec
		ServerName:         host,
	}}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, unreachable(server, err)
	}
	state := conn.(*tls.Conn).ConnectionState()
	conn.Close()
	chain := state.PeerCertificates
	if len(chain) == 0 {
		return nil, &Problem{Kind: UntrustedServer, Server: server, Message: "The server sent no certificate.", Advice: "Check the address; it must be the HealthHub server's HTTPS port."}
	}
	// The authority is the last certificate sent when it is one; a
	// self-signed server certificate is its own authority.
	ca := chain[len(chain)-1]
	if !ca.IsCA && ca.CheckSignatureFrom(ca) != nil {
		ca = chain[0]
	}
	id := &Identity{Server: server, Fingerprint: tlsca.Fingerprint(ca), Subject: ca.Subject.CommonName,
		caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, verr := chain[0].Verify(x509.VerifyOptions{DNSName: host, Intermediates: inter})
	id.Public = verr == nil
	return id, nil
}

// Remote is a verified connection to a clinic server or the hosted
// service.
type Remote struct {
	Server  string
	Version string
	client  *http.Client
	target  *url.URL
}

// Connect opens a connection to server: trusting only pinnedCA (PEM) when
// given, the system's authorities otherwise. It checks that the server is
// a HealthHub of this app's API generation.
func Connect(ctx context.Context, server, pinnedCA string) (*Remote, error) {
	target, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: target.Hostname()}
	if pinnedCA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(pinnedCA)) {
			return nil, &Problem{Kind: Setup, Server: server, Message: "The saved certificate of this server is damaged.", Advice: "Choose the clinic server again to confirm its fingerprint."}
		}
		conf.RootCAs = pool
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       conf,
		TLSHandshakeTimeout:   5 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // answers stream; requests carry their own deadlines
	}
	r := &Remote{Server: server, client: &http.Client{Transport: transport}, target: target}
	if err := r.check(ctx, pinnedCA != ""); err != nil {
		transport.CloseIdleConnections()
		return nil, err
	}
	return r, nil
}

// check asks the server's /healthz who it is.
func (r *Remote) check(ctx context.Context, pinned bool) error {
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.target.JoinPath("/healthz").String(), nil)
	if err != nil {
		return err
	}
	res, err := r.client.Do(req)
	if err != nil {
		var unknown x509.UnknownAuthorityError
		var invalid x509.CertificateInvalidError
		var host x509.HostnameError
		switch {
		case errors.As(err, &unknown) && pinned:
			return &Problem{Kind: ChangedServer, Server: r.Server,
				Message: "This server's certificate is not the one you confirmed before. It may have been reinstalled, or another machine may be answering at its address.",
				Advice:  "Ask your IT contact whether the clinic server was reinstalled. If so, choose the clinic server again and compare the new fingerprint; if not, do not connect."}
		case errors.As(err, &unknown), errors.As(err, &invalid):
			return &Problem{Kind: UntrustedServer, Server: r.Server, Message: "The server's certificate is not trusted by this computer.",
				Advice: "For the clinic's own server choose \"Clinic server\", which lets you confirm its fingerprint; the hosted service always has a trusted certificate."}
		case errors.As(err, &host):
			return &Problem{Kind: UntrustedServer, Server: r.Server, Message: "The server's certificate is for another name: " + host.Error() + ".",
				Advice: "Use the address printed by the clinic server, or add this name to its certificate (HEALTHHUB_TLS_HOSTS)."}
		}
		return unreachable(r.Server, err)
	}
	defer res.Body.Close()
	var status struct {
		Status  string `json:"status"`
		Version string `json:"version"`
		API     string `json:"api"`
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &status) != nil || status.Status != "ok" {
		return &Problem{Kind: Incompatible, Server: r.Server, Message: fmt.Sprintf("The server at this address does not answer like HealthHub (HTTP %d).", res.StatusCode),
			Advice: "Check the address and port with your IT contact."}
	}
	if status.API != APIGeneration {
		return &Problem{Kind: Incompatible, Server: r.Server,
			Message: fmt.Sprintf("The server runs HealthHub %s, which speaks another version of the API than this app.", or(status.Version, "of an unknown version")),
			Advice:  "Install the app version that matches the server, or ask IT to update them together."}
	}
	r.Version = status.Version
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func unreachable(server string, err error) *Problem {
	msg := "The server does not answer."
	var dns *net.DNSError
	if errors.As(err, &dns) {
		msg = "The server's name is not known on this network."
	}
	return &Problem{Kind: Unreachable, Server: server, Message: msg + " (" + err.Error() + ")",
		Advice: "Check that this computer is on the clinic's network and the server is running, then try again; or work offline on this computer until it is back."}
}

// Close releases the connection's idle sockets.
func (r *Remote) Close() { r.client.CloseIdleConnections() }
