// Package httpapi is HealthHub's HTTP API: every route in routes.go, one
// error shape, strict JSON decoding, authentication, and the policy check in
// every handler.
package httpapi

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/live"
	"github.com/healthhub/healthhub/backend/trail"

	"github.com/healthhub/healthhub/backend/assistant"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/consult"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/emergency"
	"github.com/healthhub/healthhub/backend/fhir"
	"github.com/healthhub/healthhub/backend/health"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/sync/node"
	"github.com/healthhub/healthhub/backend/sync/upstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is what the HTTP layer needs to know about its deployment.
type Config struct {
	// AllowedOrigins may call the API from a browser context other than the
	// server's own (the desktop webview).
	AllowedOrigins []string
	// TrustedProxies may set X-Forwarded-For (the load balancer).
	TrustedProxies []netip.Prefix
	Version        string
	// UI is the built web UI (index.html at its root), or nil.
	UI fs.FS
}

// Deps are the services the API serves.
type Deps struct {
	Auth   *auth.Service
	Portal *portal.Service
	Store  Store
	Audit  *audit.Log
	// Live serves /api/v1/ws; nil answers 503 there.
	Live LiveHub
	// FHIR serves /fhir/R4; nil leaves it out.
	FHIR *fhir.Handlers
	// Knowledge serves /api/v1/knowledge; nil answers 503 there.
	Knowledge *knowledge.Service
	// Assistant serves conversations and /v1; nil answers 503 there.
	Assistant *assistant.Service
	// Health serves /api/v1/admin/health; nil answers 503 there.
	Health *health.Service
	// Upstream serves the nodes that sync with this server; Node is this
	// installation's own sync with its upstream. nil answers 503 there.
	Upstream *upstream.Service
	Node     *node.Service
	// Emergency serves /api/v1/emergency-access; nil answers 503 there.
	Emergency *emergency.Service
	// Consult serves /api/v1/consultations; nil answers 503 there.
	Consult *consult.Service
	// Leader tells whether this process runs the background work; nil
	// leaves its metrics out.
	Leader Leader
	// LastSnapshot is when the newest snapshot of the installation was
	// taken (package backup), ok false when there is none; nil leaves its
	// metric out.
	LastSnapshot func() (at time.Time, ok bool)
	Now          func() time.Time
	Logger       *slog.Logger

	// Collectors are more series for /metrics (continuous replication).
	Collectors []prometheus.Collector
}

// Leader is the election of the process that runs the background work
// (leader.Elector).
type Leader interface {
	Leading() bool
	Terms() int64
}

// Store is what the HTTP layer reads itself: whether the database answers,
// and the audit chain (through the trail service). domain.Store is one.
type Store interface {
	Ping(ctx context.Context) error
	Engine() string
	audit.Reader
}

// LiveHub accepts WebSocket connections for live updates.
type LiveHub interface {
	ServeWS(w http.ResponseWriter, r *http.Request, p *domain.Principal, handle live.MessageHandler)
}

// Server is the API's http.Handler.
type Server struct {
	cfg       Config
	auth      *auth.Service
	portal    *portal.Service
	store     Store
	trail     *trail.Service
	audit     *audit.Log
	live      LiveHub
	fhir      *fhir.Handlers
	knowledge *knowledge.Service
	assistant *assistant.Service
	health    *health.Service
	upstream  *upstream.Service
	node      *node.Service
	retention retentionRef
	emergency *emergency.Service
	consult   *consult.Service
	logger    *slog.Logger
	now       func() time.Time
	metrics   *metrics
	mux       *http.ServeMux
	routes    []route
	handler   http.Handler
}

// New builds the handler with every route registered.
func New(cfg Config, d Deps) *Server {
	s := &Server{cfg: cfg, auth: d.Auth, portal: d.Portal, store: d.Store, audit: d.Audit, trail: trail.New(d.Store, d.Audit), live: d.Live, fhir: d.FHIR, knowledge: d.Knowledge, assistant: d.Assistant, health: d.Health, upstream: d.Upstream, node: d.Node, emergency: d.Emergency, consult: d.Consult, logger: d.Logger, now: d.Now,
		metrics: newMetrics(), mux: http.NewServeMux()}
	s.metrics.syncMetrics(d.Node, d.Upstream)
	s.metrics.leaderMetrics(d.Leader)
	s.metrics.snapshotMetrics(d.LastSnapshot)
	s.metrics.registry.MustRegister(d.Collectors...)
	s.routes = append(append(s.routeTable(), s.emergencyRoutes()...), s.consultRoutes()...)
	for _, rt := range s.routes {
		h := rt.handler
		switch rt.Access {
		case accessUser:
			h = s.authenticated(false, h)
		case accessAPIKey:
			h = s.authenticated(true, h)
		case accessWebSocket:
			h = tokenFromQuery(s.authenticated(false, h))
		case accessNode:
			h = s.nodeAuthenticated(h)
		}
		s.mux.Handle(rt.Method+" "+rt.Path, h)
	}
	if s.fhir != nil {
		for _, fr := range s.fhir.Routes() {
			rt := route{Method: fr.Method, Path: fr.Path, Summary: fr.Summary, Tag: "fhir", Access: accessUser, handler: fr.Handler}
			if fr.Public {
				rt.Access = accessPublic
			}
			s.routes = append(s.routes, rt)
			h := rt.handler
			if !fr.Public {
				h = s.authenticated(false, h)
			}
			s.mux.Handle(rt.Method+" "+rt.Path, h)
		}
	}
	s.mux.Handle(uiPattern, s.handleUI())
	s.handler = s.base(http.HandlerFunc(s.dispatch))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

const uiPattern = "GET /{path...}"

// dispatch answers unknown API paths and wrong methods in the API's JSON
// error shape rather than the mux's plain text.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if isAPIPath(r.URL.Path) {
		h, pattern := s.mux.Handler(r)
		if pattern == "" || pattern == uiPattern {
			status := http.StatusNotFound
			if pattern == "" {
				probe := &headerOnly{header: http.Header{}}
				h.ServeHTTP(probe, r)
				status = probe.status
				if allow := probe.header.Get("Allow"); allow != "" {
					w.Header().Set("Allow", allow)
				}
			}
			if status == http.StatusMethodNotAllowed {
				s.failStatus(w, r, http.StatusMethodNotAllowed, &domain.Error{Code: domain.EINVALID, Message: "Method " + r.Method + " is not allowed here; allowed: " + w.Header().Get("Allow") + "."})
				return
			}
			if s.isFHIR(r) {
				s.fail(w, r, &domain.Error{Code: domain.ENOTFOUND, Message: "There is no FHIR endpoint " + truncate(r.URL.Path, 200) + "; see " + fhir.Base + "/metadata for what this server supports."})
				return
			}
			s.fail(w, r, &domain.Error{Code: domain.ENOTFOUND, Message: "There is no API endpoint " + truncate(r.URL.Path, 200) + "; see /api/openapi.json."})
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// headerOnly records what the mux's fallback handler would answer.
type headerOnly struct {
	header http.Header
	status int
}

func (h *headerOnly) Header() http.Header         { return h.header }
func (h *headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerOnly) WriteHeader(code int)        { h.status = code }

// Routes lists "METHOD /path" for every route, in table order.
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.Method + " " + rt.Path
	}
	return out
}

// api adapts a handler that returns its error: the error is written in the
// API's shape and logged, in one place.
func (s *Server) api(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// fail writes err in the error shape of the API the request is for: an
// OperationOutcome under /fhir/R4, the JSON error object elsewhere.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if s.isFHIR(r) {
		s.fhir.WriteError(w, r, err)
		return
	}
	writeError(w, r, s.logger, err)
}

// failStatus is fail with a status its code does not imply (405).
func (s *Server) failStatus(w http.ResponseWriter, r *http.Request, status int, err *domain.Error) {
	if s.isFHIR(r) {
		s.fhir.WriteErrorStatus(w, r, status, err)
		return
	}
	writeErrorStatus(w, r, s.logger, status, err)
}

// isFHIR reports whether the request is for the FHIR API, whose answers,
// errors included, are FHIR resources.
func (s *Server) isFHIR(r *http.Request) bool {
	return s.fhir != nil && (r.URL.Path == fhir.Base || strings.HasPrefix(r.URL.Path, fhir.Base+"/"))
}
