package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// client speaks to the upstream's sync API as this node.
type client struct {
	base       *url.URL
	credential string
	http       *http.Client
}

// transportError is a failure to reach the upstream or an answer that says
// to try again later (5xx, 429): retried on the timer.
type transportError struct{ err error }

func (e *transportError) Error() string { return "the upstream is unreachable: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// refusal is the upstream's 4xx answer.
type refusal struct {
	Status  int
	Code    string
	Message string
}

func (e *refusal) Error() string {
	return fmt.Sprintf("the upstream refused (%d %s): %s", e.Status, e.Code, e.Message)
}

func isRevoked(err error) bool {
	var r *refusal
	return errors.As(err, &r) && (r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden)
}

// newClient makes a client for the upstream at base, trusting only the
// pinned authority caPEM when given.
func newClient(base, caPEM, credential string, rt http.RoundTripper) (*client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, domain.Invalid("upstream", "The upstream address must be an http:// or https:// URL.")
	}
	if rt == nil {
		conf := &tls.Config{MinVersion: tls.VersionTLS12}
		if caPEM != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(caPEM)) {
				return nil, fmt.Errorf("the pinned certificate of the upstream is damaged; enrol again")
			}
			conf.RootCAs = pool
		}
		rt = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     conf,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	return &client{base: u, credential: credential, http: &http.Client{Transport: rt}}, nil
}

// requestTimeout bounds one request: a cut connection is noticed, and the
// round retried.
const requestTimeout = 60 * time.Second

// call sends in (nil for none) and decodes the answer into out.
func (c *client) call(ctx context.Context, method, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.credential != "" {
		req.Header.Set("Authorization", "Bearer "+c.credential)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &transportError{err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &transportError{err}
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return &transportError{fmt.Errorf("%s", resp.Status)}
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return &refusal{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		// A body cut short by the network reads as a transport failure.
		return &transportError{fmt.Errorf("the answer did not decode: %w", err)}
	}
	return nil
}
