// Package node is the node side of sync: a workstation or clinic server
// that sends its appointment changes to its upstream from an outbox, pulls
// the upstream's changes, and ships its audit log with proofs. It keeps
// working offline; a timer retries with back-off, whether or not anything
// new is written locally.
package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/healthhub/healthhub/backend/sync/auditship"
)

// Store is what a node keeps and reads.
type Store interface {
	domain.SyncStore
	PutAvailability(ctx context.Context, a *domain.Availability) error
	ScanAudit(ctx context.Context, afterSeq int64, limit int) ([]*domain.AuditEvent, error)
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
	DoctorByID(ctx context.Context, id string) (*domain.Doctor, error)
	PatientByID(ctx context.Context, id string) (*domain.Patient, error)
	ListAppointments(ctx context.Context, f domain.AppointmentFilter) ([]*domain.Appointment, error)
	AppointmentByID(ctx context.Context, id string) (*domain.Appointment, error)
}

// Patients seals a pulled patient's protected fields with this
// installation's keys.
type Patients interface {
	SealPatient(p *domain.Patient) (*domain.Patient, error)
}

// Options tune the loop; zero values take the defaults.
type Options struct {
	Interval   time.Duration // between rounds when all is well (15 s)
	MinBackoff time.Duration // first retry after a failure (1 s)
	MaxBackoff time.Duration // longest wait between retries (1 min)
	OpBatch    int           // ops per push (200)
	PullBatch  int           // changes per pull (500)
	AuditBatch int           // audit events per batch (500)
	// Transport, when set, carries requests to the upstream (tests put a
	// fault-injecting proxy or a pinned TLS configuration here).
	Transport http.RoundTripper
}

// Keys in the sync values.
const (
	keyUpstream    = "upstream_url"
	keyPinnedCA    = "upstream_ca"
	keyNodeKey     = "node_key"
	keyNodeID      = "node_id"
	keyVerifier    = "node_verifier"
	keyCredential  = "node_credential"
	keyCursor      = "pull_cursor"
	keyLastSuccess = "last_success"
	keyLastAttempt = "last_attempt"
	keyLastError   = "last_error"
	keyState       = "state"
	keyAuditSent   = "audit_shipped"
	keyResync      = "resync" // "1" while a pull from the start replaces an expired cursor
)

// States a node can be in.
const (
	StateNotEnrolled = "not_enrolled"
	StateOK          = "ok"
	StateOffline     = "offline" // the upstream does not answer; retrying
	StateRevoked     = "revoked" // the upstream refuses this node
	StateError       = "error"   // the upstream refused something; see the error
)

// Service runs a node's sync.
type Service struct {
	store    Store
	keys     *secret.Keyring
	patients Patients
	events   domain.Publisher
	opts     Options
	now      func() time.Time
	logger   *slog.Logger
	metrics  *Metrics
	guard    *access.Guard
	audit    audit.Recorder
	purger   purgerRef

	kick chan struct{}
	// round serialises rounds: the timer's, a kick's, "run now".
	round sync.Mutex

	mu       sync.Mutex
	enrolled bool
	nodeID   string
	client   *client
	acked    *auditship.Tree // the tree of the events the upstream holds
	// The checkpoint key, opened once.
	signerCache   note.Signer
	verifierCache string
}

// New returns the node service; it syncs only once enrolled.
func New(ctx context.Context, store Store, keys *secret.Keyring, patients Patients, rec audit.Recorder, events domain.Publisher, opts Options,
	now func() time.Time, logger *slog.Logger) (*Service, error) {
	if opts.Interval <= 0 {
		opts.Interval = 15 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		// A node that syncs often retries often too, up to a minute apart.
		opts.MaxBackoff = min(time.Minute, max(4*opts.Interval, opts.MinBackoff))
	}
	if opts.MinBackoff > opts.Interval {
		opts.MinBackoff = opts.Interval
	}
	if opts.OpBatch <= 0 {
		opts.OpBatch = 200
	}
	if opts.PullBatch <= 0 {
		opts.PullBatch = 500
	}
	if opts.AuditBatch <= 0 {
		opts.AuditBatch = 500
	}
	s := &Service{store: store, keys: keys, patients: patients, events: events, opts: opts, now: now, logger: logger,
		metrics: &Metrics{}, kick: make(chan struct{}, 1), guard: access.New(rec), audit: rec}
	url, err := store.SyncValue(ctx, keyUpstream)
	if err != nil {
		return nil, err
	}
	if url != "" {
		if err := s.connect(ctx, url); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// connect builds the client to the enrolled upstream.
func (s *Service) connect(ctx context.Context, url string) error {
	ca, err := s.store.SyncValue(ctx, keyPinnedCA)
	if err != nil {
		return err
	}
	sealed, err := s.store.SyncValue(ctx, keyCredential)
	if err != nil {
		return err
	}
	cred, err := s.keys.Open(sealed, "sync:credential")
	if err != nil {
		return fmt.Errorf("the node credential does not open; the keyring may be missing a key: %w", err)
	}
	c, err := newClient(url, ca, string(cred), s.opts.Transport)
	if err != nil {
		return err
	}
	id, err := s.store.SyncValue(ctx, keyNodeID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.client, s.enrolled, s.acked, s.nodeID = c, true, nil, id
	s.mu.Unlock()
	return nil
}

// Queueing reports whether local appointment changes go to an outbox:
// whether this installation is enrolled with an upstream.
func (s *Service) Queueing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enrolled
}

// Queued says a change was queued: the next round starts now.
func (s *Service) Queued() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// signer opens the node's checkpoint key, making one on first use. Its
// name is the node's id.
func (s *Service) signer(ctx context.Context) (note.Signer, string, error) {
	s.mu.Lock()
	signer, vkey := s.signerCache, s.verifierCache
	s.mu.Unlock()
	if signer != nil {
		return signer, vkey, nil
	}
	signer, vkey, err := s.openSigner(ctx)
	if err == nil {
		s.mu.Lock()
		s.signerCache, s.verifierCache = signer, vkey
		s.mu.Unlock()
	}
	return signer, vkey, err
}

// openSigner reads the node's key from the store, making it on first use.
func (s *Service) openSigner(ctx context.Context) (note.Signer, string, error) {
	sealed, err := s.store.SyncValue(ctx, keyNodeKey)
	if err != nil {
		return nil, "", err
	}
	if sealed == "" {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, "", err
		}
		skey, vkey, err := note.GenerateKey(rand.Reader, "hh-"+hex.EncodeToString(b[:]))
		if err != nil {
			return nil, "", err
		}
		if sealed, err = s.keys.Seal([]byte(skey), "sync:node_key"); err != nil {
			return nil, "", err
		}
		if err := s.store.SetSyncValue(ctx, keyVerifier, vkey); err != nil {
			return nil, "", err
		}
		if err := s.store.SetSyncValue(ctx, keyNodeKey, sealed); err != nil {
			return nil, "", err
		}
		s.logger.Info("sync node key made", "verifier", vkey)
	}
	skey, err := s.keys.Open(sealed, "sync:node_key")
	if err != nil {
		return nil, "", fmt.Errorf("the node key does not open; the keyring may be missing a key: %w", err)
	}
	signer, err := note.NewSigner(string(skey))
	if err != nil {
		return nil, "", err
	}
	vkey, err := s.store.SyncValue(ctx, keyVerifier)
	return signer, vkey, err
}

// Run syncs until ctx ends: a round at once, then one each Interval or
// when a change is queued; after a failure, retries with back-off on the
// timer, so a queue never waits for the next local write.
func (s *Service) Run(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		wait := s.opts.Interval
		if s.Queueing() {
			if err := s.RunOnce(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				backoff = nextBackoff(backoff, s.opts.MinBackoff, s.opts.MaxBackoff)
				wait = backoff
			} else {
				backoff = 0
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-s.kick:
			t.Stop()
			if backoff > 0 {
				// A new write does not defeat the back-off, but does not
				// wait longer than it either.
				continue
			}
		}
	}
}

// nextBackoff doubles the wait up to max, with jitter of up to a quarter.
func nextBackoff(cur, lo, hi time.Duration) time.Duration {
	next := cur * 2
	if next < lo {
		next = lo
	}
	if next > hi {
		next = hi
	}
	var b [2]byte
	_, _ = rand.Read(b[:])
	jitter := time.Duration(int64(next) / 4 * int64(b[0]) / 256)
	return next - jitter
}

// RunOnce is one round: push the outbox, pull changes, ship the audit log.
func (s *Service) RunOnce(ctx context.Context) error {
	s.round.Lock()
	defer s.round.Unlock()
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	if c == nil {
		return domain.Errorf(domain.EINVALID, "This installation is not enrolled with an upstream server.")
	}
	start := s.now()
	_ = s.store.SetSyncValue(ctx, keyLastAttempt, start.UTC().Format(time.RFC3339Nano))
	err := s.push(ctx, c)
	if err == nil {
		err = s.pull(ctx, c)
	}
	if err == nil {
		err = s.shipAudit(ctx, c)
	}
	s.metrics.rounds.Add(1)
	if err != nil {
		s.metrics.failures.Add(1)
		state := StateError
		var te *transportError
		switch {
		case errors.As(err, &te):
			state = StateOffline
		case isRevoked(err):
			state = StateRevoked
		}
		s.logger.Warn("sync round failed", "state", state, "err", err)
		s.setState(ctx, state)
		_ = s.store.SetSyncValue(ctx, keyLastError, truncate(err.Error(), 500))
		return err
	}
	s.setState(ctx, StateOK)
	if prev, _ := s.store.SyncValue(ctx, keyLastError); prev != "" {
		_ = s.store.SetSyncValue(ctx, keyLastError, "")
	}
	_ = s.store.SetSyncValue(ctx, keyLastSuccess, s.now().UTC().Format(time.RFC3339Nano))
	return nil
}

// setState records the node's state and, when it changed, tells the
// people watching (the top bar) at once.
func (s *Service) setState(ctx context.Context, state string) {
	prev, _ := s.store.SyncValue(ctx, keyState)
	if prev == state {
		return
	}
	_ = s.store.SetSyncValue(ctx, keyState, state)
	if s.events != nil {
		publish(ctx, s.events, s.now(), EventStatus, state, map[string]string{"state": state}, nil,
			domain.RoleStaff, domain.RoleAdmin, domain.RoleDoctor)
	}
}

// Resync pulls everything again from the start of the upstream's feed, and
// cancels here what the upstream no longer holds.
func (s *Service) Resync(ctx context.Context) error {
	s.round.Lock()
	defer s.round.Unlock()
	if err := s.store.SetSyncValue(ctx, keyResync, "1"); err != nil {
		return err
	}
	return s.store.SetSyncValue(ctx, keyCursor, "")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func parseInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
