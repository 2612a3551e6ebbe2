package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/healthhub/healthhub/backend/sync/node"
	"github.com/healthhub/healthhub/backend/sync/upstream"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/assistant"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/consult"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/emergency"
	"github.com/healthhub/healthhub/backend/fhir"
	"github.com/healthhub/healthhub/backend/health"
	"github.com/healthhub/healthhub/backend/httpapi"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/live"
	"github.com/healthhub/healthhub/backend/llm"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/retention"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

const testPassword = "correct horse battery"

// api is a real HTTP server over a real store for one test.
type api struct {
	t         testing.TB
	URL       string
	DB        store.DB
	Auth      *auth.Service
	Server    *httpapi.Server
	Portal    *portal.Service
	Knowledge *knowledge.Service
	Assistant *assistant.Service
	Hub       *live.Hub
	Upstream  *upstream.Service
	Emergency *emergency.Service
	Consult   *consult.Service
	Blobs     blob.Store
	seq       atomic.Int64
}

// newAPI serves the whole API over db; opts adjust the assistant.
func newAPI(t testing.TB, db store.DB, opts ...func(*assistant.Options)) *api {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	log := audit.NewLog(db, time.Now, logger)
	svc, err := auth.New(context.Background(), auth.Config{
		Argon2: auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}, SelfRegistration: true,
		LoginPerIPPerMinute: -1, LoginPerAccountPerMinute: -1, RegistrationsPerIPPerHour: -1,
	}, db, log, secret.NewEphemeral(), time.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	keys := secret.NewEphemeral()
	hub, err := live.NewHub(live.Options{}, time.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	portalSvc := portal.New(db, svc, keys, log, hub, time.Now, logger)
	kb := knowledge.New(db, log, hub, knowledge.Options{}, time.Now, logger)
	aopts := assistant.Options{LLM: llm.Options{Backoff: time.Millisecond}}
	for _, o := range opts {
		o(&aopts)
	}
	asst := assistant.New(db, kb, portalSvc, keys, log, aopts, time.Now, logger)
	if err := asst.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	up := upstream.New(db, portalSvc, log, time.Now, logger)
	emergencySvc := emergency.New(db, svc, log, hub, time.Now, logger)
	portalSvc.UseEmergencyGrants(emergencySvc)
	up.UseAuditWatcher(emergencySvc)
	nodeSvc, err := node.New(context.Background(), db, keys, portalSvc, log, hub, node.Options{}, time.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewLocal(t.TempDir(), keys)
	if err != nil {
		t.Fatal(err)
	}
	consultGuard := access.New(log)
	consultGuard.UseEmergencyGrants(emergencySvc)
	consultSvc := consult.New(consult.Options{Store: db, Records: portalSvc, Guard: consultGuard, Audit: log, Blobs: blobs, Keys: keys, Asker: asst,
		Defaults: consult.Settings{Engine: consult.EngineNone, PatientsSeeNotes: true}, Logger: logger})
	fh := fhir.New(portalSvc, db, log, time.Now, logger, func(*http.Request) string { return "http://clinic.test" })
	fh.UseConsultations(consultSvc)
	srv := httpapi.New(httpapi.Config{AllowedOrigins: []string{"wails://wails"}, Version: "test"},
		httpapi.Deps{Auth: svc, Portal: portalSvc, Store: db, Audit: log, Live: hub, Knowledge: kb, Assistant: asst, Now: time.Now, Logger: logger,
			Upstream: up, Node: nodeSvc, Emergency: emergencySvc, Consult: consultSvc,
			Health: health.New(portalSvc, log, db, asst, kb, health.Options{}),
			FHIR:   fh})
	srv.UseRetention(retention.New(retention.Options{Store: db, Guard: access.New(log), Audit: log, Keys: keys, Logger: logger}))
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { asst.Close(); kb.Close(); hub.Close(); ts.Close(); log.Close() })
	return &api{t: t, URL: ts.URL, DB: db, Auth: svc, Server: srv, Portal: portalSvc, Knowledge: kb, Assistant: asst, Hub: hub, Upstream: up, Emergency: emergencySvc,
		Consult: consultSvc, Blobs: blobs}
}

// email returns a fresh address.
func (a *api) email(prefix string) string {
	return fmt.Sprintf("%s%d@example.org", prefix, a.seq.Add(1))
}

// user creates an account directly through the service.
func (a *api) user(role domain.Role) *domain.User {
	a.t.Helper()
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	in := auth.NewAccount{Email: a.email(string(role)), Password: testPassword, Name: "Test " + string(role), Role: role}
	if role == domain.RoleDoctor {
		in.Specialization = "General practice"
	}
	u, err := a.Auth.CreateUser(ctx, in)
	if err != nil {
		a.t.Fatal(err)
	}
	return u
}

// login signs u in over HTTP and returns the token pair.
func (a *api) login(email string) *auth.TokenPair {
	a.t.Helper()
	var pair auth.TokenPair
	res := a.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": testPassword})
	if res.Status != 200 {
		a.t.Fatalf("login %s: %d %s", email, res.Status, res.Body)
	}
	json.Unmarshal(res.Body, &pair)
	return &pair
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// code is the API error code of the response, if any.
func (r response) code() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// do sends a request; body may be nil, a string (sent as is) or a value
// (sent as JSON).
func (a *api) do(method, path, token string, body any) response {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

func engines(t *testing.T) []storetest.Engine { return storetest.Engines(t) }
