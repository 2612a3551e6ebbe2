package node

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/sync/upstream"
)

// Metrics count what the node did, for /metrics.
type Metrics struct {
	rounds, failures, pulled, auditShipped, resyncs, deferred atomic.Int64
	applied, conflicts, rejected                              atomic.Int64
}

func (m *Metrics) answered(outcome string) {
	switch outcome {
	case domain.OutcomeApplied:
		m.applied.Add(1)
	case domain.OutcomeConflict:
		m.conflicts.Add(1)
	default:
		m.rejected.Add(1)
	}
}

// Counts are the metrics' values.
type Counts struct {
	Rounds, Failures, Pulled, AuditShipped, Applied, Conflicts, Rejected, Resyncs int64
}

// Counts reads the metrics.
func (s *Service) Counts() Counts {
	m := s.metrics
	return Counts{Rounds: m.rounds.Load(), Failures: m.failures.Load(), Pulled: m.pulled.Load(), AuditShipped: m.auditShipped.Load(),
		Applied: m.applied.Load(), Conflicts: m.conflicts.Load(), Rejected: m.rejected.Load(), Resyncs: m.resyncs.Load()}
}

// publish sends a live event to the front desks and admins, and to the
// accounts listed.
func publish(ctx context.Context, events domain.Publisher, now time.Time, typ, id string, data any, users []string, roles ...domain.Role) {
	b, err := json.Marshal(data)
	if err != nil {
		return
	}
	if len(roles) == 0 {
		roles = []domain.Role{domain.RoleStaff, domain.RoleAdmin}
	}
	_ = events.Publish(ctx, domain.Event{Type: typ, ID: id, At: now, Data: b, UserIDs: users, Roles: roles})
}

// publishAppointment tells the front desks, and the appointment's doctor
// and patient (their accounts here, when they have one), that it changed.
func (s *Service) publishAppointment(ctx context.Context, a *domain.Appointment) {
	if s.events == nil || a == nil {
		return
	}
	var users []string
	if d, err := s.store.DoctorByID(ctx, a.DoctorID); err == nil && d.UserID != "" {
		users = append(users, d.UserID)
	}
	if p, err := s.store.PatientByID(ctx, a.PatientID); err == nil && p.UserID != "" {
		users = append(users, p.UserID)
	}
	publish(ctx, s.events, s.now(), domain.EventAppointmentChanged, a.ID, a, users)
}

// EventStatus is the live event of the node's sync state changing.
const EventStatus = "sync.status"

// Status is the node's sync as people see it.
type Status struct {
	Enrolled      bool      `json:"enrolled"`
	Upstream      string    `json:"upstream,omitempty"`
	NodeID        string    `json:"node_id,omitempty"`
	State         string    `json:"state"`
	LastSuccess   time.Time `json:"last_success"`
	LastAttempt   time.Time `json:"last_attempt"`
	LastError     string    `json:"last_error,omitempty"`
	Queued        int       `json:"queued"`
	OldestQueued  time.Time `json:"oldest_queued"`
	OpenConflicts int       `json:"open_conflicts"`
	// Deferred counts upstream states of appointments not written here yet
	// (they overlap a booking of this node still waiting for its answer).
	Deferred     int   `json:"deferred"`
	AuditLocal   int64 `json:"audit_local"`
	AuditShipped int64 `json:"audit_shipped"`
}

// Status reads the node's sync state from the store, so that the command
// line sees what the server process did.
func (s *Service) Status(ctx context.Context) (*Status, error) {
	get := func(k string) string { v, _ := s.store.SyncValue(ctx, k); return v }
	st := &Status{Upstream: get(keyUpstream), NodeID: get(keyNodeID), State: get(keyState), LastError: get(keyLastError),
		AuditShipped: parseInt(get(keyAuditSent))}
	st.Enrolled = st.Upstream != ""
	if !st.Enrolled {
		st.State = StateNotEnrolled
	} else if st.State == "" {
		st.State = StateOffline
	}
	st.LastSuccess, _ = time.Parse(time.RFC3339Nano, get(keyLastSuccess))
	st.LastAttempt, _ = time.Parse(time.RFC3339Nano, get(keyLastAttempt))
	var err error
	if st.Queued, st.OldestQueued, err = s.store.OutboxStats(ctx); err != nil {
		return nil, err
	}
	open, err := s.store.ListSyncConflicts(ctx, true, 1000)
	if err != nil {
		return nil, err
	}
	st.OpenConflicts = len(open)
	st.Deferred = s.Deferred(ctx)
	if st.AuditLocal, _, err = s.store.AuditHead(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

// EnrollOptions say where the upstream is and how to trust it.
type EnrollOptions struct {
	Upstream string `json:"upstream"`
	Code     string `json:"code"`
	// Fingerprint pins the upstream's certificate authority (the
	// SHA-256 a clinic server prints); empty trusts the system's
	// authorities (the hosted service).
	Fingerprint string `json:"fingerprint"`
	Name        string `json:"name"`
}

// Enroll enrols this installation with an upstream using the one-time code
// an admin made there, and starts syncing with it.
func (s *Service) Enroll(ctx context.Context, in EnrollOptions) (*Status, error) {
	s.round.Lock()
	defer s.round.Unlock()
	if s.Queueing() {
		return nil, domain.Errorf(domain.ECONFLICT, "This installation is already enrolled with an upstream.")
	}
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(in.Upstream), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, domain.Invalid("upstream", "The upstream address must be an http:// or https:// URL, such as https://clinic-server:8443.")
	}
	if strings.TrimSpace(in.Code) == "" {
		return nil, domain.Invalid("code", "Give the enrolment code an administrator made on the upstream server.")
	}
	caPEM := ""
	if in.Fingerprint != "" {
		if u.Scheme != "https" {
			return nil, domain.Invalid("fingerprint", "A fingerprint pins an https:// upstream.")
		}
		if caPEM, err = pinnedAuthority(ctx, u, in.Fingerprint); err != nil {
			return nil, err
		}
	}
	_, vkey, err := s.signer(ctx)
	if err != nil {
		return nil, err
	}
	// Without a name, the upstream names the node as its admin named the code.
	name := in.Name
	c, err := newClient(u.String(), caPEM, "", s.opts.Transport)
	if err != nil {
		return nil, err
	}
	var out upstream.Enrolled
	if err := c.call(ctx, "POST", "/api/v1/sync/enroll", upstream.EnrollRequest{Code: in.Code, Name: name, PublicKey: vkey}, &out); err != nil {
		if r, ok := err.(*refusal); ok {
			return nil, &domain.Error{Code: domain.EINVALID, Field: "code", Message: "The upstream refused the enrolment: " + r.Message}
		}
		return nil, domain.Errorf(domain.EUNAVAILABLE, "The upstream could not be reached: %v", err)
	}
	sealed, err := s.keys.Seal([]byte(out.Credential), "sync:credential")
	if err != nil {
		return nil, err
	}
	for _, kv := range [][2]string{{keyPinnedCA, caPEM}, {keyCredential, sealed}, {keyNodeID, out.NodeID}, {keyCursor, ""}, {keyUpstream, u.String()}} {
		if err := s.store.SetSyncValue(ctx, kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	if err := s.connect(ctx, u.String()); err != nil {
		return nil, err
	}
	s.logger.Info("enrolled with upstream", "upstream", u.String(), "node", out.NodeID)
	s.Queued()
	return s.Status(ctx)
}

// pinnedAuthority reads the upstream's chain and returns the certificate
// (PEM) whose SHA-256 fingerprint is fp.
func pinnedAuthority(ctx context.Context, u *url.URL, fp string) (string, error) {
	want := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(fp))
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{
		// The chain is read only to find the authority a person confirmed
		// by its fingerprint; only that one is trusted afterwards.
		InsecureSkipVerify: true, //nolint:gosec
		ServerName:         u.Hostname(),
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", domain.Errorf(domain.EUNAVAILABLE, "The upstream could not be reached: %v", err)
	}
	defer conn.Close()
	for _, c := range conn.(*tls.Conn).ConnectionState().PeerCertificates {
		sum := sha256.Sum256(c.Raw)
		if hex.EncodeToString(sum[:]) == want {
			return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})), nil
		}
	}
	return "", domain.Invalid("fingerprint", "The upstream's certificate does not match this fingerprint; check the address and the fingerprint its administrator gave.")
}
