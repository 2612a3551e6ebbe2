// Package health tells an administrator how the installation is doing:
// which assistant provider answers, whether e-mail goes out, which knowledge
// sources fail, when the audit chain was last checked, and which accounts
// are not ready for use. Each finding names what to fix.
package health

import (
	"context"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/policy"
)

// Authorizer decides access and records refusals (portal.Service).
type Authorizer interface {
	Authorize(ctx context.Context, action string, res policy.Resource) error
}

// Providers lists the assistant's providers in force (assistant.Service).
type Providers interface {
	Providers(ctx context.Context) ([]*domain.LLMProvider, error)
}

// Sources lists the knowledge sources with their counts (knowledge.Service).
type Sources interface {
	Sources(ctx context.Context) ([]knowledge.SourceStatus, error)
}

// Store is what the report reads directly.
type Store interface {
	CountUsers(ctx context.Context, role domain.Role) (int, error)
	ListUsers(ctx context.Context, f domain.UserFilter) ([]*domain.User, error)
	ListDoctors(ctx context.Context, specialization string) ([]*domain.Doctor, error)
	Availability(ctx context.Context, doctorID string) (*domain.Availability, error)
	ListAudit(ctx context.Context, f domain.AuditFilter) ([]*domain.AuditEvent, error)
}

// Options are what the wiring knows and the store does not.
type Options struct {
	// EmailConfigured: an SMTP relay is set, so notifications also go out
	// by e-mail; without one they stay in the app.
	EmailConfigured bool
	// Backup reports the installation's backups; nil reports none set up.
	Backup func(ctx context.Context) (BackupHealth, error)
}

// Service builds the report. Providers and Sources may be nil when the
// server runs without the assistant or the knowledge base.
type Service struct {
	access    Authorizer
	audit     audit.Recorder
	store     Store
	providers Providers
	sources   Sources
	opts      Options
}

// New returns the service.
func New(access Authorizer, rec audit.Recorder, store Store, providers Providers, sources Sources, opts Options) *Service {
	return &Service{access: access, audit: rec, store: store, providers: providers, sources: sources, opts: opts}
}

// InstallationHealth is the report: one part per thing an admin looks after.
type InstallationHealth struct {
	Assistant AssistantHealth `json:"assistant"`
	Email     EmailHealth     `json:"email"`
	Knowledge KnowledgeHealth `json:"knowledge"`
	Audit     AuditHealth     `json:"audit"`
	Accounts  AccountsHealth  `json:"accounts"`
	Backup    BackupHealth    `json:"backup"`
}

// BackupHealth is how the installation is backed up and how recently.
type BackupHealth struct {
	// Methods in force: "replication" (Litestream, continuous),
	// "snapshots" (encrypted hourly copies), "pgbackrest" (WAL archive and
	// base backups); empty when nothing backs the installation up.
	Methods []string `json:"methods"`
	// LastBackup is the newest successful snapshot or base backup.
	LastBackup time.Time `json:"last_backup,omitzero"`
	// LastReplicated is when continuous replication (or the WAL archive)
	// last caught up; LagSeconds how far behind it is now.
	LastReplicated time.Time `json:"last_replicated,omitzero"`
	LagSeconds     float64   `json:"lag_seconds"`
	// Alarm: backups are configured but stale (replication older than
	// AlarmAfter, or no snapshot within the recovery point objective).
	Alarm bool `json:"alarm"`
	// Problem says what is wrong and what to do, when something is.
	Problem   string        `json:"problem,omitempty"`
	LastDrill *DrillSummary `json:"last_drill,omitempty"`
}

// DrillSummary is the newest restore drill (healthhubd drill).
type DrillSummary struct {
	At         time.Time `json:"at"`
	Passed     bool      `json:"passed"`
	Source     string    `json:"source"`
	RPOSeconds float64   `json:"rpo_seconds"`
	RTOSeconds float64   `json:"rto_seconds"`
	Failures   []string  `json:"failures"`
}

// AssistantHealth is the provider that answers when nobody picks one.
type AssistantHealth struct {
	// Offline: no language model; answers quote the knowledge base.
	Offline      bool   `json:"offline"`
	ProviderID   string `json:"provider_id,omitempty"`
	ProviderName string `json:"provider_name,omitempty"`
	Kind         string `json:"kind,omitempty"`
	// External: text sent to it leaves the clinic (identifiers redacted).
	External bool `json:"external"`
	// Enabled counts the providers people can use, the default among them.
	Enabled int `json:"enabled"`
}

// EmailHealth says whether notification e-mails can go out.
type EmailHealth struct {
	Configured bool `json:"configured"`
}

// KnowledgeHealth sums up the knowledge sources.
type KnowledgeHealth struct {
	Sources     int             `json:"sources"`
	Indexed     int             `json:"indexed"`
	FailedFiles int             `json:"failed_files"`
	Problems    []SourceProblem `json:"problems"`
}

// SourceProblem is a source that could not be scanned or has files that
// could not be read.
type SourceProblem struct {
	ID          string `json:"id"`
	Location    string `json:"location"`
	FailedFiles int    `json:"failed_files"`
	LastError   string `json:"last_error,omitempty"`
}

// AuditHealth is the last check of the audit chain, from the log itself.
type AuditHealth struct {
	// Verified: the chain was checked at least once; the fields below
	// describe the latest check.
	Verified   bool      `json:"verified"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
	// OK: that check found the chain intact.
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	By     string `json:"by,omitempty"`
}

// AccountsHealth counts accounts by role and names the doctors who cannot
// be booked yet.
type AccountsHealth struct {
	ByRole map[string]int `json:"by_role"`
	// DoctorsWithoutProfile are doctor accounts with no doctor profile (no
	// specialization, not listed for booking).
	DoctorsWithoutProfile []Person `json:"doctors_without_profile"`
	// DoctorsWithoutHours are doctors with no bookable weekly hours.
	DoctorsWithoutHours []Person `json:"doctors_without_hours"`
}

// Person names an account or a doctor profile.
type Person struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	Name   string `json:"name"`
}

// maxListed bounds the doctor lists the report names; counts stay exact.
const maxListed = 500

// Report gathers the installation's health for an administrator. It is
// refused (and the refusal audited) for anyone else, and reading it is
// audited like other administrative reads.
func (s *Service) Report(ctx context.Context) (*InstallationHealth, error) {
	if err := s.access.Authorize(ctx, policy.Read, policy.Resource{Type: policy.Installation}); err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: "installation_health"}); err != nil {
		return nil, err
	}
	out := &InstallationHealth{Email: EmailHealth{Configured: s.opts.EmailConfigured}}
	var err error
	if out.Assistant, err = s.assistant(ctx); err != nil {
		return nil, err
	}
	if out.Knowledge, err = s.knowledge(ctx); err != nil {
		return nil, err
	}
	if out.Audit, err = s.lastVerify(ctx); err != nil {
		return nil, err
	}
	if out.Accounts, err = s.accounts(ctx); err != nil {
		return nil, err
	}
	out.Backup.Methods = []string{}
	if s.opts.Backup != nil {
		if out.Backup, err = s.opts.Backup(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Service) assistant(ctx context.Context) (AssistantHealth, error) {
	h := AssistantHealth{Offline: true}
	if s.providers == nil {
		return h, nil
	}
	all, err := s.providers.Providers(ctx)
	if err != nil {
		return h, err
	}
	var chosen *domain.LLMProvider
	for _, p := range all {
		if !p.Enabled {
			continue
		}
		h.Enabled++
		if chosen == nil || p.Default && !chosen.Default {
			chosen = p
		}
	}
	if chosen != nil {
		h = AssistantHealth{Offline: chosen.Kind == domain.ProviderOffline, ProviderID: chosen.ID, ProviderName: chosen.Name,
			Kind: chosen.Kind, External: chosen.External, Enabled: h.Enabled}
	}
	return h, nil
}

func (s *Service) knowledge(ctx context.Context) (KnowledgeHealth, error) {
	h := KnowledgeHealth{Problems: []SourceProblem{}}
	if s.sources == nil {
		return h, nil
	}
	all, err := s.sources.Sources(ctx)
	if err != nil {
		return h, err
	}
	h.Sources = len(all)
	for _, src := range all {
		h.Indexed += src.Indexed
		h.FailedFiles += src.Failed
		if src.Failed > 0 || src.LastError != "" {
			h.Problems = append(h.Problems, SourceProblem{ID: src.ID, Location: src.Location, FailedFiles: src.Failed, LastError: src.LastError})
		}
	}
	return h, nil
}

// lastVerify reads the latest check of the chain from the log: the API
// and the command line both record one.
func (s *Service) lastVerify(ctx context.Context) (AuditHealth, error) {
	evs, err := s.store.ListAudit(ctx, domain.AuditFilter{Action: domain.ActionVerify, ResourceType: audit.ResourceAuditEvent, Limit: 1})
	if err != nil || len(evs) == 0 {
		return AuditHealth{}, err
	}
	e := evs[0]
	by := e.ActorName
	if by == "" {
		by = e.ActorID
	}
	return AuditHealth{Verified: true, VerifiedAt: e.Time, OK: e.Outcome == domain.OutcomeSuccess, Detail: e.Detail, By: by}, nil
}

func (s *Service) accounts(ctx context.Context) (AccountsHealth, error) {
	h := AccountsHealth{ByRole: map[string]int{}, DoctorsWithoutProfile: []Person{}, DoctorsWithoutHours: []Person{}}
	for _, r := range domain.Roles {
		n, err := s.store.CountUsers(ctx, r)
		if err != nil {
			return h, err
		}
		h.ByRole[string(r)] = n
	}
	doctors, err := s.store.ListDoctors(ctx, "")
	if err != nil {
		return h, err
	}
	profiled := make(map[string]bool, len(doctors))
	for _, d := range doctors {
		profiled[d.UserID] = true
		av, err := s.store.Availability(ctx, d.ID)
		if err != nil && !domain.IsCode(err, domain.ENOTFOUND) {
			return h, err
		}
		if (av == nil || len(av.Weekly) == 0) && len(h.DoctorsWithoutHours) < maxListed {
			h.DoctorsWithoutHours = append(h.DoctorsWithoutHours, Person{ID: d.ID, UserID: d.UserID, Name: d.Name})
		}
	}
	accounts, err := s.store.ListUsers(ctx, domain.UserFilter{Role: domain.RoleDoctor, Limit: maxListed})
	if err != nil {
		return h, err
	}
	for _, u := range accounts {
		if !profiled[u.ID] && !u.Disabled {
			h.DoctorsWithoutProfile = append(h.DoctorsWithoutProfile, Person{UserID: u.ID, Name: u.Name})
		}
	}
	return h, nil
}
