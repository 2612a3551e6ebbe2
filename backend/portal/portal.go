// Package portal is the clinic's scheduling and records: patients and their
// medical history, doctors and their availability, free slots, and
// appointments that never double-book a doctor.
package portal

import (
	"context"
	"encoding/json"
	"github.com/healthhub/healthhub/backend/access"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // time zones work on every OS, whatever it ships

	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/secret"
)

// Accounts prepares new accounts (validation, password hashing) and makes
// doctors' accounts with their profiles.
type Accounts interface {
	PrepareAccount(ctx context.Context, in auth.NewAccount) (*domain.User, error)
	CreateDoctor(ctx context.Context, in auth.NewAccount) (*domain.User, *domain.Doctor, error)
	DoctorAccountByEmail(ctx context.Context, email string) (*domain.User, error)
	CompleteDoctorProfile(ctx context.Context, userID string, p auth.DoctorProfile) (*domain.Doctor, error)
	ClinicTimeZone(ctx context.Context) (string, error)
	SelfRegistrationOpen(ctx context.Context) (bool, error)
	AllowRegistration(ctx context.Context) error
}

// Service implements the portal.
type Service struct {
	store    Store
	accounts Accounts
	keys     *secret.Keyring
	audit    audit.Recorder
	access   *access.Guard
	events   domain.Publisher
	now      func() time.Time
	logger   *slog.Logger
	zones    sync.Map // time zone name → *time.Location
	outbox   atomic.Pointer[outboxRef]
}

// Outbox sends this installation's appointment changes to its upstream,
// when it is enrolled with one: each change is queued in the transaction
// that makes it, and a booking is pending until the upstream confirms it.
type Outbox interface {
	Queueing() bool
	Queued()
	// Leased reports whether this installation holds a slot lease over the
	// doctor's [start, end): a booking there cannot conflict upstream, so
	// it is booked at once.
	Leased(ctx context.Context, doctorID string, start, end time.Time) bool
}

type outboxRef struct{ Outbox }

// UseOutbox makes appointment changes go through o from now on.
func (s *Service) UseOutbox(o Outbox) { s.outbox.Store(&outboxRef{o}) }

// queueing returns the outbox when changes are queued for an upstream.
func (s *Service) queueing() Outbox {
	if r := s.outbox.Load(); r != nil && r.Queueing() {
		return r.Outbox
	}
	return nil
}

// op is the outbox entry of a change the caller made to a.
func (s *Service) op(ctx context.Context, kind string, a *domain.Appointment) *domain.SyncOp {
	op := &domain.SyncOp{ID: newID(), Entity: domain.ChangeEntityAppointment, EntityID: a.ID, Kind: kind, CreatedAt: s.now()}
	if p := domain.PrincipalFrom(ctx); p != nil {
		op.ActorID, op.ActorRole = p.UserID, string(p.Role)
	}
	return op
}

// New builds the service. events may be nil (no live updates).
func New(store Store, accounts Accounts, keys *secret.Keyring, rec audit.Recorder, events domain.Publisher, now func() time.Time, logger *slog.Logger) *Service {
	return &Service{store: store, accounts: accounts, keys: keys, audit: rec, access: access.New(rec), events: events, now: now, logger: logger}
}

// publish sends a live event after a change has committed. A failure to
// publish does not undo the change: clients also reload on reconnect.
func (s *Service) publish(ctx context.Context, typ, id string, data any, users []string, roles ...domain.Role) {
	if s.events == nil {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		s.logger.Error("encode live event", "type", typ, "err", err)
		return
	}
	var to []string
	for _, u := range users {
		if u != "" {
			to = append(to, u)
		}
	}
	if err := s.events.Publish(ctx, domain.Event{Type: typ, ID: id, At: s.now(), Data: b, UserIDs: to, Roles: roles}); err != nil {
		s.logger.Warn("live event not published", "type", typ, "id", id, "err", err)
	}
}

// Staff and admins see the clinic's whole schedule live.
var scheduleRoles = []domain.Role{domain.RoleStaff, domain.RoleAdmin}

func newID() string { return uuid.Must(uuid.NewV7()).String() }
