package health_test

import (
	"context"
	"testing"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/health"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/policy"
)

type allow struct{}

func (allow) Authorize(ctx context.Context, action string, res policy.Resource) error {
	return policy.Authorize(domain.PrincipalFrom(ctx), action, res)
}

type records struct{ events []audit.Event }

func (r *records) Record(_ context.Context, ev audit.Event) error {
	r.events = append(r.events, ev)
	return nil
}

type providers []*domain.LLMProvider

func (p providers) Providers(context.Context) ([]*domain.LLMProvider, error) { return p, nil }

type sources []knowledge.SourceStatus

func (s sources) Sources(context.Context) ([]knowledge.SourceStatus, error) { return s, nil }

// emptyStore has no accounts and no audit events.
type emptyStore struct{}

func (emptyStore) CountUsers(context.Context, domain.Role) (int, error) { return 0, nil }
func (emptyStore) ListUsers(context.Context, domain.UserFilter) ([]*domain.User, error) {
	return nil, nil
}
func (emptyStore) ListDoctors(context.Context, string) ([]*domain.Doctor, error) { return nil, nil }
func (emptyStore) Availability(context.Context, string) (*domain.Availability, error) {
	return nil, domain.Errorf(domain.ENOTFOUND, "none")
}
func (emptyStore) ListAudit(context.Context, domain.AuditFilter) ([]*domain.AuditEvent, error) {
	return nil, nil
}

func TestReportNamesTheProviderInUseAndFailingSources(t *testing.T) {
	ctx := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: "u-ada", Role: domain.RoleAdmin})
	offline := &domain.LLMProvider{ID: "offline", Name: "Offline", Kind: domain.ProviderOffline, Enabled: true}
	cloud := &domain.LLMProvider{ID: "p1", Name: "OpenAI", Kind: domain.ProviderOpenAI, Enabled: true, Default: true, External: true}
	off := &domain.LLMProvider{ID: "p2", Name: "Old", Kind: domain.ProviderOpenAI, Enabled: false, Default: true}
	folder := knowledge.SourceStatus{KnowledgeSource: domain.KnowledgeSource{ID: "s1"}, Location: "/srv/docs", SourceCounts: domain.SourceCounts{Indexed: 10, Failed: 2}}
	gone := knowledge.SourceStatus{KnowledgeSource: domain.KnowledgeSource{ID: "s2", LastError: "the folder does not exist"}, Location: "/srv/gone"}
	fine := knowledge.SourceStatus{KnowledgeSource: domain.KnowledgeSource{ID: "s3"}, Location: "/srv/ok", SourceCounts: domain.SourceCounts{Indexed: 5}}

	for _, c := range []struct {
		name      string
		providers providers
		offline   bool
		id        string
	}{
		{"no providers at all", nil, true, ""},
		{"the offline mode alone", providers{offline}, true, "offline"},
		{"the default of the enabled ones", providers{offline, off, cloud}, false, "p1"},
		{"a disabled default does not count", providers{off, offline}, true, "offline"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &records{}
			rep, err := health.New(allow{}, rec, emptyStore{}, c.providers, sources{folder, gone, fine}, health.Options{EmailConfigured: true}).Report(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Assistant.Offline != c.offline || rep.Assistant.ProviderID != c.id {
				t.Errorf("assistant = %+v; want offline %v, provider %q", rep.Assistant, c.offline, c.id)
			}
			if k := rep.Knowledge; k.Sources != 3 || k.Indexed != 15 || k.FailedFiles != 2 || len(k.Problems) != 2 ||
				k.Problems[0].Location != "/srv/docs" || k.Problems[1].LastError != "the folder does not exist" {
				t.Errorf("knowledge = %+v", k)
			}
			if !rep.Email.Configured || rep.Audit.Verified {
				t.Errorf("e-mail %+v, audit %+v", rep.Email, rep.Audit)
			}
			if len(rec.events) != 1 || rec.events[0].Action != domain.ActionRead {
				t.Errorf("audited = %+v", rec.events)
			}
		})
	}
}

func TestReportIsForAdminsOnly(t *testing.T) {
	for _, role := range []domain.Role{domain.RolePatient, domain.RoleDoctor, domain.RoleStaff} {
		ctx := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: "u", Role: role})
		rec := &records{}
		_, err := health.New(allow{}, rec, emptyStore{}, nil, nil, health.Options{}).Report(ctx)
		if domain.ErrorCode(err) != domain.EFORBIDDEN || len(rec.events) != 0 {
			t.Errorf("%s: err %v, audited %+v", role, err, rec.events)
		}
	}
}
