// Package upstream is the server side of sync: it enrols nodes with a
// one-time code an admin makes, authenticates them by their own credential,
// applies their appointment operations exactly once (applied, conflict or
// rejected, never blocking their queue), serves the change feed they pull,
// and accepts their audit logs only with proofs that nothing was dropped,
// altered or reordered.
package upstream

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"github.com/google/uuid"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// Store is what the upstream keeps and reads.
type Store interface {
	domain.SyncStore
	AppointmentByID(ctx context.Context, id string) (*domain.Appointment, error)
	DoctorByID(ctx context.Context, id string) (*domain.Doctor, error)
	UserByID(ctx context.Context, id string) (*domain.User, error)
	Availability(ctx context.Context, doctorID string) (*domain.Availability, error)
	PatientByID(ctx context.Context, id string) (*domain.Patient, error)
	Changes(ctx context.Context, after string, limit int) ([]domain.Change, error)
	AddNotifications(ctx context.Context, notes []*domain.Notification) error
	ListUsers(ctx context.Context, f domain.UserFilter) ([]*domain.User, error)
	ListAppointments(ctx context.Context, f domain.AppointmentFilter) ([]*domain.Appointment, error)
}

// Patients opens a stored patient's sealed fields, which travel to a node
// open (over TLS) for it to seal with its own keys.
type Patients interface {
	OpenPatient(p *domain.Patient) (*domain.Patient, error)
}

// Service is the upstream side of sync.
type Service struct {
	store    Store
	patients Patients
	guard    *access.Guard
	audit    audit.Recorder
	alerts   atomic.Int64
	now      func() time.Time
	logger   *slog.Logger

	mu   sync.Mutex
	seen map[string]time.Time // node → last "last seen" written

	forward atomic.Pointer[forwarder]
	watch   atomic.Pointer[auditWatcher]
}

// AuditWatcher sees the events of each node's audit log as they arrive,
// once each, before they are stored (emergency access grants to raise).
type AuditWatcher interface {
	AuditShipped(ctx context.Context, n *domain.SyncNode, events []*domain.AuditEvent) error
}

type auditWatcher struct{ AuditWatcher }

// UseAuditWatcher shows arriving node audit events to w from now on.
func (s *Service) UseAuditWatcher(w AuditWatcher) { s.watch.Store(&auditWatcher{w}) }

// Forwarder is this installation's own outbox, when it is itself a node of
// an upstream (a clinic server under the hosted service): the changes its
// nodes make are queued there too, in the transaction that applies them.
type Forwarder interface {
	Queueing() bool
	Queued()
}

type forwarder struct{ Forwarder }

// UseForward passes applied changes on through f from now on.
func (s *Service) UseForward(f Forwarder) { s.forward.Store(&forwarder{f}) }

// forwarding returns the outbox to pass changes on to, or nil.
func (s *Service) forwarding() Forwarder {
	if f := s.forward.Load(); f != nil && f.Queueing() {
		return f.Forwarder
	}
	return nil
}

// New returns the upstream service.
func New(store Store, patients Patients, rec audit.Recorder, now func() time.Time, logger *slog.Logger) *Service {
	return &Service{store: store, patients: patients, guard: access.New(rec), audit: rec, now: now, logger: logger,
		seen: map[string]time.Time{}}
}

// EnrollmentTTL is how long a one-time code is good for.
const EnrollmentTTL = 24 * time.Hour

// CredentialPrefix starts every node credential, so that one is recognised
// (and never mistaken for a user's token) wherever it turns up.
const CredentialPrefix = "hhn_"

// NewEnrollment is an admin's request for an enrolment code.
type NewEnrollment struct {
	Name      string   `json:"name"`
	DoctorIDs []string `json:"doctor_ids"`
}

// Enrollment is a code made for a node, shown once.
type Enrollment struct {
	Code       string                 `json:"code"`
	Enrollment *domain.SyncEnrollment `json:"enrollment"`
}

// codeAlphabet leaves out 0, 1, I and O, which people mistake for each other.
var codeAlphabet = base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding)

// normalCode is a code as typed, without separators or case.
func normalCode(code string) string {
	code = strings.ToUpper(code)
	return strings.NewReplacer("-", "", " ", "").Replace(code)
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// CreateEnrollment makes a one-time code (an admin's) for a node to enrol
// with, valid for EnrollmentTTL, limited to doctorIDs when given.
func (s *Service) CreateEnrollment(ctx context.Context, in NewEnrollment) (*Enrollment, error) {
	if err := s.guard.Authorize(ctx, policy.Create, policy.Resource{Type: policy.SyncNode}); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(in.Name)
	if len(name) > 100 {
		return nil, domain.Invalid("name", "The name may be at most 100 characters.")
	}
	if len(in.DoctorIDs) > 500 {
		return nil, domain.Invalid("doctor_ids", "At most 500 doctors.")
	}
	for _, id := range in.DoctorIDs {
		if _, err := s.store.DoctorByID(ctx, id); err != nil {
			if domain.IsCode(err, domain.ENOTFOUND) {
				return nil, domain.Invalid("doctor_ids", "There is no doctor with id %q.", truncate(id, 64))
			}
			return nil, err
		}
	}
	raw := make([]byte, 10) // 80 bits, 16 characters
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	code := codeAlphabet.EncodeToString(raw)
	shown := code[0:4] + "-" + code[4:8] + "-" + code[8:12] + "-" + code[12:16]
	now := s.now()
	p := domain.PrincipalFrom(ctx)
	e := &domain.SyncEnrollment{ID: newID(), CodeHash: hashOf(normalCode(code)), Name: name, DoctorIDs: nonNil(in.DoctorIDs),
		CreatedBy: p.UserID, CreatedAt: now, ExpiresAt: now.Add(EnrollmentTTL)}
	if err := s.store.CreateSyncEnrollment(ctx, e); err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: policy.SyncNode, ResourceID: e.ID, Detail: "enrollment_code"}); err != nil {
		return nil, err
	}
	return &Enrollment{Code: shown, Enrollment: e}, nil
}

// EnrollRequest is what a node sends to enrol.
type EnrollRequest struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// Enrolled is the node's identity at the upstream and its credential,
// given once.
type Enrolled struct {
	NodeID     string `json:"node_id"`
	Credential string `json:"credential"`
}

var nodeName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{2,63}$`)

// Enroll enrols a node that presents a valid code; the node's id is the
// name of its checkpoint key. Anyone may try; a wrong code is recorded.
func (s *Service) Enroll(ctx context.Context, in EnrollRequest) (*Enrolled, error) {
	if in.Code == "" {
		return nil, domain.Invalid("code", "Give the enrolment code an administrator made on the upstream server.")
	}
	v, err := note.NewVerifier(in.PublicKey)
	if err != nil {
		return nil, domain.Invalid("public_key", "The public key is not a signed-note verifier key.")
	}
	if !nodeName.MatchString(v.Name()) {
		return nil, domain.Invalid("public_key", "The key's name must be 3 to 64 lowercase letters, digits and hyphens.")
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	cred := CredentialPrefix + base64.RawURLEncoding.EncodeToString(secret)
	n := &domain.SyncNode{ID: v.Name(), Name: truncate(strings.TrimSpace(in.Name), 100), PublicKey: in.PublicKey, CredentialHash: hashOf(cred),
		EnrolledAt: s.now()}
	if err := s.store.EnrollSyncNode(ctx, hashOf(normalCode(in.Code)), n); err != nil {
		if domain.IsCode(err, domain.ENOTFOUND) {
			s.logger.Warn("sync enrolment refused", "reason", "unknown, used or expired code")
			if aerr := s.audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: policy.SyncNode, ResourceID: v.Name(),
				Outcome: domain.OutcomeDenied, Detail: "enrollment_code_invalid", Actor: &domain.Principal{UserID: "node:" + v.Name(), Role: domain.RoleNode}}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: policy.SyncNode, ResourceID: n.ID, Detail: "enrolled",
		Actor: s.principal(n)}); err != nil {
		return nil, err
	}
	s.logger.Info("sync node enrolled", "node", n.ID)
	return &Enrolled{NodeID: n.ID, Credential: cred}, nil
}

// principal is the node as the caller of its requests.
func (s *Service) principal(n *domain.SyncNode) *domain.Principal {
	return &domain.Principal{UserID: "node:" + n.ID, Role: domain.RoleNode, Name: n.Name}
}

// IsCredential reports whether a bearer token is a node credential.
func IsCredential(token string) bool { return strings.HasPrefix(token, CredentialPrefix) }

// Authenticate returns the node whose credential token is, and its
// principal; a revoked node is refused.
func (s *Service) Authenticate(ctx context.Context, token string) (*domain.SyncNode, *domain.Principal, error) {
	n, err := s.store.SyncNodeByCredential(ctx, hashOf(token))
	if domain.IsCode(err, domain.ENOTFOUND) {
		return nil, nil, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "This node credential is not known here; enrol the node again."}
	}
	if err != nil {
		return nil, nil, err
	}
	p := s.principal(n)
	if n.Revoked() {
		s.logger.Warn("revoked sync node refused", "node", n.ID)
		if err := s.audit.Record(domain.WithPrincipal(ctx, p), audit.Event{Action: domain.ActionRead, ResourceType: policy.SyncFeed, ResourceID: n.ID,
			Outcome: domain.OutcomeDenied, Detail: "node_revoked"}); err != nil {
			return nil, nil, err
		}
		return nil, nil, &domain.Error{Code: domain.EFORBIDDEN, Message: "This node's enrolment was revoked by an administrator of the upstream server."}
	}
	s.touch(ctx, n)
	return n, p, nil
}

// touch records when the node was last seen, at most once a minute.
func (s *Service) touch(ctx context.Context, n *domain.SyncNode) {
	now := s.now()
	s.mu.Lock()
	last := s.seen[n.ID]
	if now.Sub(last) < time.Minute {
		s.mu.Unlock()
		return
	}
	s.seen[n.ID] = now
	s.mu.Unlock()
	if err := s.store.TouchSyncNode(ctx, n.ID, now); err != nil {
		s.logger.Warn("record sync node last seen", "node", n.ID, "err", err)
	}
}

// Nodes lists the enrolled nodes (an admin's).
func (s *Service) Nodes(ctx context.Context) ([]*domain.SyncNode, error) {
	if err := s.guard.Authorize(ctx, policy.List, policy.Resource{Type: policy.SyncNode}); err != nil {
		return nil, err
	}
	return s.store.ListSyncNodes(ctx)
}

// Revoke ends a node's enrolment (an admin's): its credential is refused
// from now on.
func (s *Service) Revoke(ctx context.Context, id string) (*domain.SyncNode, error) {
	if err := s.guard.Authorize(ctx, policy.Update, policy.Resource{Type: policy.SyncNode, ID: id}); err != nil {
		return nil, err
	}
	p := domain.PrincipalFrom(ctx)
	if err := s.store.RevokeSyncNode(ctx, id, p.UserID, s.now()); err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: policy.SyncNode, ResourceID: id, Detail: "revoked"}); err != nil {
		return nil, err
	}
	s.logger.Info("sync node revoked", "node", id)
	return s.store.SyncNodeByID(ctx, id)
}

// Alerts is how many security alerts sync raised since the start.
func (s *Service) Alerts() int64 { return s.alerts.Load() }

// alert raises a security matter: logged, counted, recorded in the audit
// log and sent to every admin.
func (s *Service) alert(ctx context.Context, n *domain.SyncNode, kind, message string) {
	s.logger.Warn("sync security alert", "node", n.ID, "kind", kind)
	s.alerts.Add(1)
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionVerify, ResourceType: policy.SyncFeed, ResourceID: n.ID, Outcome: domain.OutcomeFailure,
		Detail: "alert=" + kind}); err != nil {
		s.logger.Error("record sync alert", "err", err)
	}
	admins, err := s.store.ListUsers(ctx, domain.UserFilter{Role: domain.RoleAdmin, Limit: 100})
	if err != nil {
		s.logger.Error("list admins for a sync alert", "err", err)
		return
	}
	now := s.now()
	var notes []*domain.Notification
	for _, a := range admins {
		notes = append(notes, &domain.Notification{UserID: a.ID, Kind: "sync_alert", Subject: "Security alert from sync: node " + n.Name,
			Body: message, CreatedAt: now, DedupeKey: fmt.Sprintf("sync_alert:%s:%s:%s:%d", n.ID, kind, a.ID, now.Unix()/3600)})
	}
	if err := s.store.AddNotifications(ctx, notes); err != nil {
		s.logger.Error("notify admins of a sync alert", "err", err)
	}
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
