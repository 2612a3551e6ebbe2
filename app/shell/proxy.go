package shell

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"time"
)

// DesktopOrigins are the origins the desktop window's pages have: Wails
// serves the UI from wails://wails on Linux and macOS and from
// http://wails.localhost on Windows.
var DesktopOrigins = []string{"wails://wails", "http://wails.localhost"}

// Proxy serves a remote server on a loopback port, so that the window
// reaches the clinic server through the connection this app verified
// (pinned authority) rather than the web view's own TLS checks.
type Proxy struct {
	URL    string
	remote *Remote
	srv    *http.Server
	done   chan struct{}
}

// StartProxy serves r on 127.0.0.1 at a free port until Close.
func StartProxy(r *Remote) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(r.target)
			pr.Out.Host = r.target.Host
			// The server sees the app, not a page of another origin: the
			// app answers for the window's origin itself.
			pr.Out.Header.Del("Origin")
		},
		Transport:     r.client.Transport,
		FlushInterval: -1, // streamed answers pass through as they come
		ModifyResponse: func(res *http.Response) error {
			for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Expose-Headers", "Access-Control-Max-Age"} {
				res.Header.Del(h)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			status := http.StatusBadGateway
			if errors.Is(err, context.DeadlineExceeded) {
				status = http.StatusGatewayTimeout
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"The clinic server cannot be reached. Check the network; your work is kept on the server."}}`))
		},
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), remote: r, done: make(chan struct{})}
	p.srv = &http.Server{Handler: desktopCORS(rp), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(p.done)
		p.srv.Serve(ln)
	}()
	return p, nil
}

// desktopCORS lets the desktop window's pages, and no other page, call h.
func desktopCORS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" {
			if !slices.Contains(DesktopOrigins, origin) {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, Content-Disposition")
			w.Header().Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
				w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key, X-Request-ID")
				w.Header().Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Close stops the proxy; open streams end.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = p.srv.Close()
	}
	<-p.done
	p.remote.Close()
	return err
}
