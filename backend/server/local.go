package server

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/healthhub/healthhub/backend/tlsca"
)

// Local is a server running inside another program (the desktop app's
// standalone mode) on a random loopback port.
type Local struct {
	// URL is where it answers, such as http://127.0.0.1:43117.
	URL string
	// SetupToken is the one-time token for creating the first
	// administrator; empty once one exists.
	SetupToken string
	// DataDir is the data folder in use.
	DataDir string

	sys    *System
	cancel context.CancelFunc
	done   chan error
}

// StartLocal opens the data folder dataDir (SQLite unless
// HEALTHHUB_DATABASE_URL says otherwise) and serves on 127.0.0.1 at a free
// port until Stop. Other settings come from the HEALTHHUB_* variables, as
// for healthhubd. Logs go to logs.
func StartLocal(ctx context.Context, dataDir string, getenv func(string) string, logs io.Writer) (*Local, error) {
	fs := flag.NewFlagSet("standalone", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	load := bindFlags(fs, getenv)
	if err := fs.Parse([]string{"--addr", "127.0.0.1:0", "--data-dir", dataDir}); err != nil {
		return nil, err
	}
	cfg, err := load()
	if err != nil {
		return nil, err
	}
	logger := newLogger(cfg, logs)
	sys, err := Open(ctx, cfg, logger, time.Now)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		sys.Close()
		return nil, fmt.Errorf("listen on the loopback interface: %w", err)
	}
	token, err := sys.Auth.PrepareSetup(ctx)
	if err != nil {
		ln.Close()
		sys.Close()
		return nil, err
	}
	serveCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &Local{URL: "http://" + ln.Addr().String(), SetupToken: token, DataDir: cfg.DataDir, sys: sys, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := sys.Serve(serveCtx, ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		l.done <- err
	}()
	logger.Info("standalone server started", "url", l.URL, "data_dir", cfg.DataDir, "engine", sys.Store.Engine(), "version", Version)
	return l, nil
}

// Stop ends the server: requests in flight finish, the audit log is
// flushed and the database closed.
func (l *Local) Stop() error {
	l.cancel()
	err := <-l.done
	if cerr := l.sys.Close(); err == nil {
		err = cerr
	}
	return err
}

// serverTLS is the HTTPS configuration of --tls auto or files; for auto it
// also returns the authority's fingerprint, to print.
func serverTLS(c Config) (*tls.Config, string, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.TLS == "files" {
		pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, "", fmt.Errorf("load the TLS certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
		return conf, "", nil
	}
	ca, err := tlsca.Ensure(filepath.Join(c.DataDir, "tls"), append(tlsca.DefaultHosts(), c.TLSHosts...), time.Now())
	if err != nil {
		return nil, "", fmt.Errorf("prepare the server's certificates: %w", err)
	}
	conf.Certificates = []tls.Certificate{ca.Certificate}
	return conf, tlsca.Fingerprint(ca.CA), nil
}

// DefaultDataDir is the data folder used when HEALTHHUB_DATA_DIR is not
// set: the OS user data folder for HealthHub.
func DefaultDataDir(getenv func(string) string) string {
	if d := getenv("HEALTHHUB_DATA_DIR"); d != "" {
		return d
	}
	return defaultDataDir(getenv)
}
