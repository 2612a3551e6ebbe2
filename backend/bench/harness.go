package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/server"
)

// harness is HealthHub serving a fresh database on a loopback port, and an
// HTTP client whose transport keeps a connection for each load client.
type harness struct {
	sys    *server.System
	tr     *http.Transport
	client *http.Client
	base   string // http://127.0.0.1:port

	stopServing context.CancelFunc
	served      chan error
}

// startServer opens the server on db and serves it on a loopback listener.
// conns is the number of connections the client will keep open at once.
func startServer(ctx context.Context, db *database, o Options, conns int) (_ *harness, err error) {
	return startServerWith(ctx, db, o, conns, nil)
}

type serverConfig = server.Config

// startServerWith is startServer with the configuration adjusted by adjust.
func startServerWith(ctx context.Context, db *database, o Options, conns int, adjust func(*serverConfig)) (_ *harness, err error) {
	cfg := server.Config{
		Addr: "127.0.0.1:0", DataDir: db.DataDir, DatabaseURL: db.URL,
		KeyringFile:  filepath.Join(db.DataDir, "keyring.json"),
		Argon2Memory: 64, LoginPerIP: -1, LoginPerAccount: -1,
		IdleTimeout: 15 * time.Minute, SelfRegistration: true,
		LogLevel: "error", LogFormat: "text", KnowledgeStarter: "false",
	}
	if adjust != nil {
		adjust(&cfg)
	}
	sys, err := server.Open(ctx, cfg, o.logger(), time.Now)
	if err != nil {
		return nil, fmt.Errorf("open server: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("listen: %w", err), closeSystem(sys))
	}
	h := &harness{sys: sys, base: "http://" + ln.Addr().String(), served: make(chan error, 1)}
	var serveCtx context.Context
	serveCtx, h.stopServing = context.WithCancel(ctx)
	go func() { h.served <- sys.Serve(serveCtx, ln) }()

	h.tr = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: max(conns, 64),
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	h.client = &http.Client{Transport: h.tr, Timeout: 60 * time.Second}
	return h, nil
}

// close stops serving, once the requests in flight have finished, and
// closes the server.
func (h *harness) close() error {
	h.tr.CloseIdleConnections()
	h.stopServing()
	var err error
	if serr := <-h.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = fmt.Errorf("serve: %w", serr)
	}
	return errors.Join(err, closeSystem(h.sys))
}

func closeSystem(sys *server.System) error {
	if err := sys.Close(); err != nil {
		return fmt.Errorf("close server: %w", err)
	}
	return nil
}

// login signs an account in over HTTP and returns the access token.
func (h *harness) login(ctx context.Context, email, password string) (string, error) {
	body, err := json.Marshal(auth.Credentials{Email: email, Password: password})
	if err != nil {
		return "", fmt.Errorf("encode sign-in: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/api/v1/auth/login", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("build sign-in request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("sign in: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("sign in: %w", statusError(resp))
	}
	var pair auth.TokenPair
	if err := json.NewDecoder(resp.Body).Decode(&pair); err != nil {
		return "", fmt.Errorf("decode sign-in response: %w", err)
	}
	if pair.AccessToken == "" {
		return "", errors.New("sign in: the response carries no access token")
	}
	return pair.AccessToken, nil
}
