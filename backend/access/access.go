// Package access makes every access decision of the services and records
// each refusal. The rules are policy's; what this adds is that a decision
// and its audit event cannot be had apart: a service that asks whether the
// caller may act gets the refusal recorded, with the patient whose record
// it was, before the caller hears of it.
package access

import (
	"context"
	"sync/atomic"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// Guard decides and records. The zero value is not usable; make one with
// New.
type Guard struct {
	audit  audit.Recorder
	grants atomic.Pointer[grantsRef]
}

// Grants finds a clinician's emergency access grant on a patient that is
// in force now; not found (domain.ENOTFOUND) when there is none.
type Grants interface {
	ActiveGrant(ctx context.Context, userID, patientID string) (*domain.EmergencyGrant, error)
}

type grantsRef struct{ Grants }

// UseEmergencyGrants makes the guard honour emergency access grants from
// grants from now on.
func (g *Guard) UseEmergencyGrants(grants Grants) { g.grants.Store(&grantsRef{grants}) }

// DetailEmergency starts the detail of every event of an access that only
// an emergency access grant allowed; the grant's id follows.
const DetailEmergency = "emergency_access grant="

// New returns a guard that records refusals in rec.
func New(rec audit.Recorder) *Guard { return &Guard{audit: rec} }

// DetailHidden marks a refusal answered as "not found", so that the record's
// existence is not revealed to the caller.
const DetailHidden = "hidden_as_not_found"

// Authorize returns nil when the caller in ctx may do action on res. A
// refusal is recorded (actor, role, action, resource, the patient the
// resource belongs to, request id, address and user agent come with the
// event) and returned as the policy's error. A caller who has not signed in
// is refused without a record: there is no one to record, and the request
// never reached a resource. The caller's own account (policy.Self) is not
// patient data and is not recorded either.
func (g *Guard) Authorize(ctx context.Context, action string, res policy.Resource) error {
	p := domain.PrincipalFrom(ctx)
	err := policy.Authorize(p, action, res)
	if err == nil || p == nil || res.Type == policy.Self {
		return err
	}
	if ok, gerr := g.emergency(ctx, p, action, res); gerr != nil || ok {
		return gerr
	}
	if aerr := g.deny(ctx, action, res, ""); aerr != nil {
		return aerr
	}
	return err
}

// emergency allows what the rules refused when the caller holds an
// emergency access grant on the patient that covers the action, and
// records the access as one made under that grant.
func (g *Guard) emergency(ctx context.Context, p *domain.Principal, action string, res policy.Resource) (bool, error) {
	ref := g.grants.Load()
	if ref == nil || !policy.EmergencyCovers(p, action, res) {
		return false, nil
	}
	grant, err := ref.ActiveGrant(ctx, p.UserID, res.PatientID)
	if domain.IsCode(err, domain.ENOTFOUND) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	res.EmergencyGrantID = grant.ID
	if policy.Authorize(p, action, res) != nil {
		return false, nil
	}
	err = g.audit.Record(ctx, audit.Event{Action: action, ResourceType: res.Type, ResourceID: res.ID, PatientID: res.PatientID,
		Detail: DetailEmergency + grant.ID})
	return err == nil, err
}

// Covered reports whether the caller's emergency access grant lets them do
// action on res, recording the access when it does, and records nothing
// when it does not: for a service that widens what it shows (a patient's
// whole appointment list) rather than deciding whether to answer at all.
func (g *Guard) Covered(ctx context.Context, action string, res policy.Resource) (bool, error) {
	p := domain.PrincipalFrom(ctx)
	if p == nil {
		return false, nil
	}
	return g.emergency(ctx, p, action, res)
}

// Self decides whether p may do action on their own account, MFA and API
// keys. It is never recorded: it is no one else's data, and a refusal only
// says that p must sign in or finish two-factor set-up first.
func (g *Guard) Self(p *domain.Principal, action string) error {
	owner := ""
	if p != nil {
		owner = p.UserID
	}
	return policy.Authorize(p, action, policy.Resource{Type: policy.Self, OwnerID: owner})
}

// Hidden records that the caller was refused res, which is answered as not
// found so as not to reveal that it exists (someone else's conversation or
// notification), and returns that answer with message.
func (g *Guard) Hidden(ctx context.Context, action string, res policy.Resource, message string) error {
	if err := g.deny(ctx, action, res, DetailHidden); err != nil {
		return err
	}
	return &domain.Error{Code: domain.ENOTFOUND, Message: message}
}

// Refused records a refusal decided before any resource could be named
// (a setup token that does not match), and returns err.
func (g *Guard) Refused(ctx context.Context, action string, res policy.Resource, err error) error {
	if aerr := g.deny(ctx, action, res, ""); aerr != nil {
		return aerr
	}
	return err
}

func (g *Guard) deny(ctx context.Context, action string, res policy.Resource, detail string) error {
	return g.audit.Record(ctx, audit.Event{Action: action, ResourceType: res.Type, ResourceID: res.ID, PatientID: res.PatientID,
		Outcome: domain.OutcomeDenied, Detail: detail})
}
