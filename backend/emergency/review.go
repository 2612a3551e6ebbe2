package emergency

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// Limits are the limits an admin sets.
type Limits struct {
	DefaultMinutes int `json:"default_minutes"`
	MaxMinutes     int `json:"max_minutes"`
	// PrivacyOfficer: the caller reviews emergency access (an admin, or
	// an account given the capability), for the UI to show the way there.
	PrivacyOfficer bool `json:"privacy_officer"`
}

// MaxDuration is the longest grant this installation allows.
func (s *Service) MaxDuration(ctx context.Context) (time.Duration, error) {
	v, ok, err := s.store.Setting(ctx, settingMaxMinutes)
	if err != nil || !ok {
		return defaultMax, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return defaultMax, nil
	}
	return time.Duration(n) * time.Minute, nil
}

// Limits returns the limits of emergency access to any clinician (they
// decide what the request form offers).
func (s *Service) Limits(ctx context.Context) (Limits, error) {
	p := domain.PrincipalFrom(ctx)
	if p == nil {
		return Limits{}, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "Sign in first."}
	}
	max, err := s.MaxDuration(ctx)
	if err != nil {
		return Limits{}, err
	}
	res, err := s.reviewResource(ctx, nil)
	if err != nil {
		return Limits{}, err
	}
	return Limits{DefaultMinutes: int(min(DefaultDuration, max) / time.Minute), MaxMinutes: int(max / time.Minute),
		PrivacyOfficer: policy.Authorize(p, policy.List, res) == nil}, nil
}

// SetMaxMinutes changes the longest grant (admins).
func (s *Service) SetMaxMinutes(ctx context.Context, minutes int) (Limits, error) {
	if err := s.guard.Authorize(ctx, policy.Update, policy.Resource{Type: policy.Settings}); err != nil {
		return Limits{}, err
	}
	if minutes < int(minDuration/time.Minute) || minutes > int(ceiling/time.Minute) {
		return Limits{}, domain.Invalid("max_minutes", "Choose between %d and %d minutes.", int(minDuration/time.Minute), int(ceiling/time.Minute))
	}
	if err := s.store.PutSetting(ctx, settingMaxMinutes, strconv.Itoa(minutes)); err != nil {
		return Limits{}, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: policy.Settings, ResourceID: settingMaxMinutes,
		Detail: "max_minutes=" + strconv.Itoa(minutes)}); err != nil {
		return Limits{}, err
	}
	return s.Limits(ctx)
}

// Mine lists the caller's own grants, newest first; with patientID, only
// those on that patient.
func (s *Service) Mine(ctx context.Context, patientID string) ([]*domain.EmergencyGrant, error) {
	p := domain.PrincipalFrom(ctx)
	if err := s.guard.Authorize(ctx, policy.List, policy.Resource{Type: policy.EmergencyAccess, PatientID: patientID}); err != nil {
		return nil, err
	}
	gs, err := s.store.ListEmergencyGrants(ctx, domain.EmergencyFilter{UserID: p.UserID, PatientID: patientID, Limit: 50})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(gs))
	for _, g := range gs {
		ids = append(ids, g.PatientID)
	}
	return gs, s.recordSearch(ctx, policy.EmergencyAccess, ids)
}

// isOfficer reports whether the caller holds the privacy officer's
// capability (admins hold it by their role).
func (s *Service) isOfficer(ctx context.Context, p *domain.Principal) (bool, error) {
	if p == nil {
		return false, nil
	}
	ids, err := s.store.PrivacyOfficers(ctx)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		if id == p.UserID {
			return true, nil
		}
	}
	return false, nil
}

// reviewResource is the review list as the policy sees it for the caller.
func (s *Service) reviewResource(ctx context.Context, g *domain.EmergencyGrant) (policy.Resource, error) {
	officer, err := s.isOfficer(ctx, domain.PrincipalFrom(ctx))
	res := policy.Resource{Type: policy.EmergencyReview, PrivacyOfficer: officer}
	if g != nil {
		res.ID, res.PatientID = g.ID, g.PatientID
	}
	return res, err
}

// GrantUse is one access made under a grant, from the audit log.
type GrantUse struct {
	Time         time.Time `json:"time"`
	Action       string    `json:"action"`
	ResourceType string    `json:"resource_type"`
	ResourceID   string    `json:"resource_id,omitempty"`
}

// ReviewedGrant is a grant as a privacy officer sees it: with the accesses
// made under it (those recorded here; a grant made on a node has its uses
// in that node's log).
type ReviewedGrant struct {
	*domain.EmergencyGrant
	ReasonLabel string     `json:"reason_label"`
	Uses        []GrantUse `json:"uses"`
}

// ReviewList lists grants for privacy officers, newest first: status
// "pending" (the default) those awaiting a decision, "all" every one.
func (s *Service) ReviewList(ctx context.Context, status string) ([]*ReviewedGrant, error) {
	res, err := s.reviewResource(ctx, nil)
	if err != nil {
		return nil, err
	}
	if err := s.guard.Authorize(ctx, policy.List, res); err != nil {
		return nil, err
	}
	f := domain.EmergencyFilter{Limit: 200}
	switch status {
	case "", domain.ReviewPending:
		f.ReviewStatus = domain.ReviewPending
	case "all":
	case domain.ReviewJustified, domain.ReviewNotJustified:
		f.ReviewStatus = status
	default:
		return nil, domain.Invalid("status", "Status is pending, justified, not_justified or all.")
	}
	gs, err := s.store.ListEmergencyGrants(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]*ReviewedGrant, 0, len(gs))
	for _, g := range gs {
		r, err := s.reviewed(ctx, g)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	// Listing grants shows which clinician opened which patient's record.
	ids := make([]string, 0, len(gs))
	for _, g := range gs {
		ids = append(ids, g.PatientID)
	}
	if err := s.recordSearch(ctx, policy.EmergencyReview, ids); err != nil {
		return nil, err
	}
	return out, nil
}

// recordSearch records a listing of grants of resourceType: one event for
// each patient named, or one naming none when the list is empty.
func (s *Service) recordSearch(ctx context.Context, resourceType string, patientIDs []string) error {
	detail := "results=" + strconv.Itoa(len(patientIDs))
	var evs []audit.Event
	seen := map[string]bool{}
	for _, id := range patientIDs {
		if !seen[id] {
			seen[id] = true
			evs = append(evs, audit.Event{Action: domain.ActionSearch, ResourceType: resourceType, PatientID: id, Detail: detail})
		}
	}
	if len(evs) == 0 {
		evs = []audit.Event{{Action: domain.ActionSearch, ResourceType: resourceType, Detail: detail}}
	}
	return audit.RecordEach(ctx, s.audit, evs)
}

// reviewed adds the reason's words and the uses recorded under g.
func (s *Service) reviewed(ctx context.Context, g *domain.EmergencyGrant) (*ReviewedGrant, error) {
	label, _ := reasonLabel(g.Reason)
	r := &ReviewedGrant{EmergencyGrant: g, ReasonLabel: label, Uses: []GrantUse{}}
	if g.NodeID != "" {
		return r, nil
	}
	evs, err := s.store.ListAudit(ctx, domain.AuditFilter{PatientID: g.PatientID, ActorID: g.UserID, From: g.CreatedAt, To: g.ExpiresAt, Limit: 500})
	if err != nil {
		return nil, err
	}
	marker := access.DetailEmergency + g.ID
	for i := len(evs) - 1; i >= 0; i-- { // oldest first
		e := evs[i]
		if e.Detail == marker {
			r.Uses = append(r.Uses, GrantUse{Time: e.Time, Action: e.Action, ResourceType: e.ResourceType, ResourceID: e.ResourceID})
		}
	}
	return r, nil
}

// ReviewDecision is a privacy officer's verdict on a grant.
type ReviewDecision struct {
	Decision string `json:"decision"` // justified or not_justified
	Note     string `json:"note"`
}

// Review records a privacy officer's decision on a grant. A decision that
// it was not justified needs a note; nobody decides on their own grant.
func (s *Service) Review(ctx context.Context, id string, d ReviewDecision) (*ReviewedGrant, error) {
	g, err := s.store.EmergencyGrant(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := s.reviewResource(ctx, g)
	if err != nil {
		return nil, err
	}
	if err := s.guard.Authorize(ctx, policy.Update, res); err != nil {
		return nil, err
	}
	p := domain.PrincipalFrom(ctx)
	if g.UserID == p.UserID {
		return nil, s.guard.Refused(ctx, policy.Update, res,
			domain.Errorf(domain.EFORBIDDEN, "You cannot review your own use of emergency access; another privacy officer decides on it."))
	}
	note := strings.TrimSpace(d.Note)
	switch d.Decision {
	case domain.ReviewJustified:
	case domain.ReviewNotJustified:
		if note == "" {
			return nil, domain.Invalid("note", "Say why this use was not justified; the note is kept with the decision.")
		}
	default:
		return nil, domain.Invalid("decision", "Decide whether the use was justified: justified or not_justified.")
	}
	if utf8.RuneCountInString(note) > maxNote || !utf8.ValidString(note) {
		return nil, domain.Invalid("note", "Keep the note to at most %d characters.", maxNote)
	}
	done, err := s.store.ReviewEmergencyGrant(ctx, id, d.Decision, note, p.UserID, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: policy.EmergencyReview, ResourceID: id,
		PatientID: g.PatientID, Detail: "review=" + d.Decision}); err != nil {
		return nil, err
	}
	return s.reviewed(ctx, done)
}

// Officers lists the accounts given the privacy officer's capability
// (admins hold it by their role and are not listed).
func (s *Service) Officers(ctx context.Context) ([]string, error) {
	if err := s.guard.Authorize(ctx, policy.List, policy.Resource{Type: policy.PrivacyOfficers}); err != nil {
		return nil, err
	}
	return s.store.PrivacyOfficers(ctx)
}

// SetOfficer gives an account the privacy officer's capability or takes it
// away (admins). Patients' accounts never hold it.
func (s *Service) SetOfficer(ctx context.Context, userID string, on bool) error {
	if err := s.guard.Authorize(ctx, policy.Update, policy.Resource{Type: policy.PrivacyOfficers, ID: userID}); err != nil {
		return err
	}
	if on {
		u, err := s.store.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if u.Role == domain.RolePatient || u.Role == domain.RoleNode {
			return domain.Invalid("user_id", "Only clinic staff accounts can be privacy officers.")
		}
	}
	if err := s.store.SetPrivacyOfficer(ctx, userID, on, s.now()); err != nil {
		return err
	}
	return s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: policy.PrivacyOfficers, ResourceID: userID,
		Detail: "privacy_officer=" + strconv.FormatBool(on)})
}

// AuditShipped takes in the grants among audit events a node has shipped,
// before they are stored: each grant joins the review list here and is
// raised to this installation's privacy officers. A batch delivered again
// changes nothing and raises nothing again.
func (s *Service) AuditShipped(ctx context.Context, n *domain.SyncNode, events []*domain.AuditEvent) error {
	for _, e := range events {
		if e.ResourceType != policy.EmergencyAccess || e.Action != domain.ActionCreate || e.Outcome != domain.OutcomeSuccess {
			continue
		}
		ge, err := ParseGrantDetail(e.Detail)
		if err != nil {
			s.logger.Warn("unreadable emergency access event from a node", "node", n.ID, "seq", e.Seq, "err", err)
			continue
		}
		g := &domain.EmergencyGrant{ID: ge.GrantID, UserID: e.ActorID, UserRole: e.ActorRole, PatientID: e.PatientID, Reason: ge.Reason,
			CreatedAt: e.Time, ExpiresAt: ge.ExpiresAt, NodeID: n.ID, Escalated: ge.Escalated, ReviewStatus: domain.ReviewPending}
		if !g.ExpiresAt.After(g.CreatedAt) {
			s.logger.Warn("emergency access event from a node ends before it starts", "node", n.ID, "seq", e.Seq)
			continue
		}
		if _, err := s.store.CreateEmergencyGrant(ctx, g); err != nil {
			return err
		}
		stored, err := s.store.EmergencyGrant(ctx, g.ID)
		if err != nil {
			return err
		}
		label, _ := reasonLabel(g.Reason)
		if err := s.tell(ctx, stored, stored.UserName, label, " on "+n.Name); err != nil {
			return err
		}
	}
	return nil
}
