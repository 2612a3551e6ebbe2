package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"github.com/healthhub/healthhub/backend/sync/upstream"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
)

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.status, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// validRequestID accepts a caller's request id only if it is short and plain.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// clientIP is the caller's address: the peer, or, when the peer is a trusted
// proxy, the nearest address in X-Forwarded-For that is not one.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(addr, trusted) {
		return host
	}
	// Every X-Forwarded-For line counts: a balancer may append its own line
	// after one the client sent, and reading only the first would let the
	// client choose its address.
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !isTrusted(a, trusted) {
			return a.String()
		}
	}
	return host
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// base wraps every request: request id and client address into the context,
// security headers, CORS, panic recovery, metrics and an access log line
// (method, route, status, duration; never bodies or query strings, which can
// carry patient data).
func (s *Server) base(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		meta := domain.RequestMeta{RequestID: id, SourceIP: clientIP(r, s.cfg.TrustedProxies), UserAgent: r.UserAgent()}
		r = r.WithContext(domain.WithRequestMeta(r.Context(), meta))

		h := w.Header()
		h.Set("X-Request-ID", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(self), geolocation=()")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		if isAPIPath(r.URL.Path) {
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		}
		if !s.cors(w, r) {
			return
		}

		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger.Error("handler panic", "panic", p, "route", routeOf(r), "request_id", id, "stack", string(debug.Stack()))
				if !rec.wrote {
					s.fail(rec, r, domain.Errorf(domain.EINTERNAL, "internal error"))
				}
			}
			route := routeOf(r)
			s.metrics.observe(route, r.Method, rec.status, time.Since(start))
			s.logger.LogAttrs(r.Context(), slog.LevelInfo, "http",
				slog.String("method", r.Method), slog.String("route", route), slog.Int("status", rec.status),
				slog.Duration("duration", time.Since(start)), slog.String("request_id", id))
		}()
		next.ServeHTTP(rec, r)
	})
}

func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/fhir/")
}

// cors admits the configured origins (the desktop webview's) and answers
// their preflight requests. It returns false when the request was answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	w.Header().Add("Vary", "Origin")
	allowed := slices.Contains(s.cfg.AllowedOrigins, origin)
	if allowed {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
	}
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return true
	}
	if !allowed {
		s.fail(w, r, domain.Errorf(domain.EFORBIDDEN, "Requests from origin %q are not allowed.", truncate(origin, 100)))
		return false
	}
	w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key, X-Request-ID")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// authenticated resolves the bearer credential and puts the caller into the
// context. API keys are accepted only where allowAPIKey is set (/v1/*).
func (s *Server) authenticated(allowAPIKey bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, token, ok := strings.Cut(h, " ")
		if h == "" {
			s.fail(w, r, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "Sign in first: send Authorization: Bearer <access token>."})
			return
		}
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			s.fail(w, r, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "The Authorization header must be 'Bearer <access token>'."})
			return
		}
		token = strings.TrimSpace(token)
		if upstream.IsCredential(token) {
			s.fail(w, r, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "A node credential works on the sync endpoints only; sign in as a person here."})
			return
		}
		if auth.IsAPIKey(token) && !allowAPIKey {
			s.fail(w, r, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "API keys work on the /v1/ endpoints only; sign in to use this one."})
			return
		}
		p, err := s.auth.Authenticate(r.Context(), token)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(domain.WithPrincipal(r.Context(), p)))
	})
}

// tokenFromQuery moves ?access_token= into the Authorization header, for the
// WebSocket route only. Query strings are never logged.
func tokenFromQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("access_token"); tok != "" && r.Header.Get("Authorization") == "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		next.ServeHTTP(w, r)
	})
}
