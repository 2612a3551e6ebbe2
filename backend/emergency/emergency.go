// Package emergency is emergency access to a patient's record ("break-glass"):
// a clinician the rules refuse asks for access to one patient, gives a
// reason and signs in again, and holds a grant for a few hours that lets
// them read and add to that record. access.Guard honours the grant and
// records every access under it as emergency access; privacy officers are
// told at once and decide afterwards whether each grant was justified; a
// clinician who uses it repeatedly is flagged. Grants made on a node reach
// the upstream with its audit log, which raises them to its own privacy
// officers once.
package emergency

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// Store is what the service keeps and reads.
type Store interface {
	domain.EmergencyStore
	PatientByID(ctx context.Context, id string) (*domain.Patient, error)
	UserByID(ctx context.Context, id string) (*domain.User, error)
	DoctorByUserID(ctx context.Context, userID string) (*domain.Doctor, error)
	TreatsPatient(ctx context.Context, doctorID, patientID string) (bool, error)
	ListUsers(ctx context.Context, f domain.UserFilter) ([]*domain.User, error)
	AddNotifications(ctx context.Context, notes []*domain.Notification) error
	ListAudit(ctx context.Context, f domain.AuditFilter) ([]*domain.AuditEvent, error)
	Setting(ctx context.Context, key string) (value string, ok bool, err error)
	PutSetting(ctx context.Context, key, value string) error
}

// Reauthenticator checks the password or authenticator code of the
// signed-in account holder (auth.Service).
type Reauthenticator interface {
	Reauthenticate(ctx context.Context, p *domain.Principal, password, totpCode string) error
}

// Reasons a clinician may give, in the order they are offered.
var Reasons = []ReasonChoice{
	{Code: "life_threatening", Label: "Life-threatening emergency"},
	{Code: "urgent_treatment", Label: "Urgent treatment; the treating doctor cannot be reached"},
	{Code: "covering_colleague", Label: "Covering for an absent colleague"},
	{Code: "patient_request", Label: "The patient asked for care and cannot wait"},
	{Code: "other", Label: "Other (explain in the details)"},
}

// ReasonChoice is one of the fixed reasons for emergency access.
type ReasonChoice struct {
	Code  string `json:"code"`
	Label string `json:"label"`
}

func reasonLabel(code string) (string, bool) {
	for _, r := range Reasons {
		if r.Code == code {
			return r.Label, true
		}
	}
	return "", false
}

// Limits of a grant and of escalation.
const (
	DefaultDuration   = 4 * time.Hour
	defaultMax        = 8 * time.Hour
	minDuration       = 15 * time.Minute
	ceiling           = 24 * time.Hour
	maxDetails        = 1000
	maxNote           = 2000
	EscalateAfter     = 3 // grants by one clinician within EscalationWindow
	EscalationWindow  = 7 * 24 * time.Hour
	settingMaxMinutes = "emergency_access.max_minutes"
)

// Service grants, lists and reviews emergency access.
type Service struct {
	store  Store
	reauth Reauthenticator
	audit  audit.Recorder
	guard  *access.Guard
	events domain.Publisher
	now    func() time.Time
	logger *slog.Logger
}

// New returns the service. events may be nil (no live updates).
func New(store Store, reauth Reauthenticator, rec audit.Recorder, events domain.Publisher, now func() time.Time, logger *slog.Logger) *Service {
	return &Service{store: store, reauth: reauth, audit: rec, guard: access.New(rec), events: events, now: now, logger: logger}
}

var _ access.Grants = (*Service)(nil)

// ActiveGrant is the user's grant on the patient in force now (access.Grants).
func (s *Service) ActiveGrant(ctx context.Context, userID, patientID string) (*domain.EmergencyGrant, error) {
	return s.store.ActiveEmergencyGrant(ctx, userID, patientID, s.now())
}

// GrantRequest is a clinician's request for emergency access.
type GrantRequest struct {
	PatientID string `json:"patient_id"`
	Reason    string `json:"reason"`
	Details   string `json:"details"`
	// Minutes the grant lasts; 0 means the default (four hours).
	Minutes  int    `json:"minutes,omitempty"`
	Password string `json:"password,omitempty"`
	TOTPCode string `json:"totp_code,omitempty"`
}

// Grant gives the caller emergency access to one patient after checking the
// reason and their password or code, records it, and tells the privacy
// officers.
func (s *Service) Grant(ctx context.Context, in GrantRequest) (*domain.EmergencyGrant, error) {
	p := domain.PrincipalFrom(ctx)
	if err := s.guard.Authorize(ctx, policy.Create, policy.Resource{Type: policy.EmergencyAccess, PatientID: in.PatientID}); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.PatientID) == "" {
		return nil, domain.Invalid("patient_id", "Say which patient's record you need.")
	}
	label, ok := reasonLabel(in.Reason)
	if !ok {
		return nil, domain.Invalid("reason", "Choose the reason you need emergency access from the list.")
	}
	details := strings.TrimSpace(in.Details)
	if in.Reason == "other" && details == "" {
		return nil, domain.Invalid("details", "Explain in the details why you need emergency access.")
	}
	if utf8.RuneCountInString(details) > maxDetails || !utf8.ValidString(details) {
		return nil, domain.Invalid("details", "Keep the details to at most %d characters.", maxDetails)
	}
	max, err := s.MaxDuration(ctx)
	if err != nil {
		return nil, err
	}
	d := min(DefaultDuration, max) // an admin may allow less than the default
	if in.Minutes != 0 {
		if in.Minutes < int(minDuration/time.Minute) || in.Minutes > int(max/time.Minute) {
			return nil, domain.Invalid("minutes", "Emergency access lasts between %d and %d minutes.", int(minDuration/time.Minute), int(max/time.Minute))
		}
		d = time.Duration(in.Minutes) * time.Minute
	}
	if _, err := s.store.PatientByID(ctx, in.PatientID); err != nil {
		if domain.IsCode(err, domain.ENOTFOUND) {
			return nil, domain.Invalid("patient_id", "There is no patient with that id.")
		}
		return nil, err
	}
	if treats, err := s.treats(ctx, p, in.PatientID); err != nil || treats {
		if err == nil {
			err = domain.Errorf(domain.ECONFLICT, "You already treat this patient and can open their record; emergency access is not needed.")
		}
		return nil, err
	}
	if err := s.reauth.Reauthenticate(ctx, p, in.Password, in.TOTPCode); err != nil {
		if domain.IsCode(err, domain.EFORBIDDEN) {
			// A failed attempt on this patient's record is in their trail.
			if aerr := s.audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: policy.EmergencyAccess, PatientID: in.PatientID,
				Outcome: domain.OutcomeFailure, Detail: "reauthentication_failed"}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	now := s.now()
	recent, err := s.store.ListEmergencyGrants(ctx, domain.EmergencyFilter{UserID: p.UserID, Since: now.Add(-EscalationWindow), Limit: EscalateAfter})
	if err != nil {
		return nil, err
	}
	g := &domain.EmergencyGrant{ID: uuid.Must(uuid.NewV7()).String(), UserID: p.UserID, UserRole: string(p.Role), PatientID: in.PatientID,
		Reason: in.Reason, Details: details, CreatedAt: now, ExpiresAt: now.Add(d),
		Escalated: len(recent)+1 >= EscalateAfter, ReviewStatus: domain.ReviewPending}
	if _, err := s.store.CreateEmergencyGrant(ctx, g); err != nil {
		return nil, err
	}
	// The grant is recorded before anyone can use it: the event is what
	// travels upstream, and what the upstream raises to its officers.
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: policy.EmergencyAccess, ResourceID: g.ID,
		PatientID: g.PatientID, Detail: grantDetail(g)}); err != nil {
		return nil, err
	}
	if err := s.tell(ctx, g, p.Name, label, ""); err != nil {
		// The grant stands: the clinician needs the record now, and the
		// event in the audit log still shows the grant to any review.
		s.logger.Error("notify privacy officers of emergency access", "grant", g.ID, "err", err)
	}
	return s.store.EmergencyGrant(ctx, g.ID)
}

// treats reports whether the calling doctor already treats the patient.
func (s *Service) treats(ctx context.Context, p *domain.Principal, patientID string) (bool, error) {
	d, err := s.store.DoctorByUserID(ctx, p.UserID)
	if domain.IsCode(err, domain.ENOTFOUND) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.store.TreatsPatient(ctx, d.ID, patientID)
}

// grantDetail is the audit detail of a grant: codes and times only, never
// the clinician's free text.
func grantDetail(g *domain.EmergencyGrant) string {
	return fmt.Sprintf("%s%s reason=%s expires=%s escalated=%t", access.DetailEmergency, g.ID, g.Reason,
		g.ExpiresAt.UTC().Format(time.RFC3339Nano), g.Escalated)
}

// GrantEvent is what a grant's audit event says of it.
type GrantEvent struct {
	GrantID   string
	Reason    string
	ExpiresAt time.Time
	Escalated bool
}

// ParseGrantDetail reads the detail of a grant's audit event (grantDetail);
// the detail comes from another installation's log, so anything else is an
// error.
func ParseGrantDetail(detail string) (GrantEvent, error) {
	var ge GrantEvent
	rest, ok := strings.CutPrefix(detail, access.DetailEmergency)
	if !ok {
		return ge, fmt.Errorf("not an emergency access grant")
	}
	fields := strings.Fields(rest)
	if len(fields) != 4 {
		return ge, fmt.Errorf("emergency access grant detail has %d fields, want 4", len(fields))
	}
	ge.GrantID = fields[0]
	if _, err := uuid.Parse(ge.GrantID); err != nil {
		return ge, fmt.Errorf("grant id: %w", err)
	}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "reason":
			if _, ok := reasonLabel(v); !ok {
				return ge, fmt.Errorf("unknown reason %q", v)
			}
			ge.Reason = v
		case "expires":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return ge, fmt.Errorf("expires: %w", err)
			}
			ge.ExpiresAt = t.UTC()
		case "escalated":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return ge, fmt.Errorf("escalated: %w", err)
			}
			ge.Escalated = b
		default:
			return ge, fmt.Errorf("unknown field %q", k)
		}
	}
	if ge.Reason == "" || ge.ExpiresAt.IsZero() {
		return ge, fmt.Errorf("emergency access grant detail lacks its reason or end")
	}
	return ge, nil
}

// tell notifies every privacy officer of a grant (in the app, and by e-mail
// where the installation sends e-mail), and again of an escalated one. The
// notices name the clinician and the reason, never the patient: e-mail is
// no place for whose record it was. Dedupe keys make a repeated notice (a
// grant delivered again by sync) a no-op.
func (s *Service) tell(ctx context.Context, g *domain.EmergencyGrant, clinician, label, where string) error {
	officers, err := s.officers(ctx)
	if err != nil {
		return err
	}
	if clinician == "" {
		clinician = "A clinician"
	}
	var notes []*domain.Notification
	body := fmt.Sprintf("%s used emergency access to a patient's record%s.\nReason: %s\nUntil: %s UTC\n\nEvery view under it is recorded. Decide whether it was justified under Emergency access review in HealthHub.\n",
		clinician, where, label, g.ExpiresAt.UTC().Format("2006-01-02 15:04"))
	for _, id := range officers {
		if id == g.UserID {
			continue // nobody reviews their own use
		}
		notes = append(notes, &domain.Notification{UserID: id, Kind: "emergency_access", Subject: "Emergency access used: review needed",
			Body: body, CreatedAt: s.now(), DedupeKey: "emergency_access:" + g.ID + ":" + id})
		if g.Escalated {
			notes = append(notes, &domain.Notification{UserID: id, Kind: "emergency_access_escalated",
				Subject: "Repeated emergency access by one person",
				Body: fmt.Sprintf("%s has used emergency access %d or more times in %d days. Review these uses together under Emergency access review.\n",
					clinician, EscalateAfter, int(EscalationWindow/(24*time.Hour))),
				CreatedAt: s.now(), DedupeKey: "emergency_access_escalated:" + g.ID + ":" + id})
		}
	}
	if len(notes) == 0 {
		return nil
	}
	if err := s.store.AddNotifications(ctx, notes); err != nil {
		return err
	}
	s.publish(ctx, notes)
	return nil
}

func (s *Service) publish(ctx context.Context, notes []*domain.Notification) {
	if s.events == nil {
		return
	}
	for _, n := range notes {
		if n.ID == "" {
			continue // already there
		}
		b, err := json.Marshal(n)
		if err != nil {
			continue
		}
		if err := s.events.Publish(ctx, domain.Event{Type: domain.EventNotification, ID: n.ID, At: s.now(), Data: b, UserIDs: []string{n.UserID}}); err != nil {
			s.logger.Warn("live event not published", "type", domain.EventNotification, "err", err)
		}
	}
}

// officers are the accounts that review emergency access: admins and
// holders of the privacy officer's capability, without disabled accounts.
func (s *Service) officers(ctx context.Context) ([]string, error) {
	admins, err := s.store.ListUsers(ctx, domain.UserFilter{Role: domain.RoleAdmin, Limit: 200})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, u := range admins {
		if !u.Disabled && !seen[u.ID] {
			seen[u.ID] = true
			out = append(out, u.ID)
		}
	}
	ids, err := s.store.PrivacyOfficers(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		u, err := s.store.UserByID(ctx, id)
		if err != nil || u.Disabled {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out, nil
}
