package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

// AuditResult is the audit append scenario's outcome, with the check of the
// chain written during it.
type AuditResult struct {
	Engine string
	Stats
	Chain audit.Report
}

// BenchAudit has o.Clients goroutines append events to an audit log on a
// fresh database of e, then verifies the hash chain. A broken chain, or one
// holding fewer events than were acknowledged, is an error.
func BenchAudit(ctx context.Context, e Engine, o Options) (res AuditResult, err error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return AuditResult{}, err
	}
	db, err := e.fresh(ctx, o.TempDir)
	if err != nil {
		return AuditResult{}, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer func() {
		if cerr := db.Close(ctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", e.Name, cerr))
		}
	}()
	res, err = benchAudit(ctx, db, o)
	res.Engine = e.Name
	if err != nil {
		return res, fmt.Errorf("%s audit append: %w", e.Name, err)
	}
	return res, nil
}

func benchAudit(ctx context.Context, db *database, o Options) (res AuditResult, err error) {
	st, err := store.Open(ctx, db.URL, db.DataDir)
	if err != nil {
		return res, fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
		}
	}()
	if _, err := st.Migrate(ctx); err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}

	auditLog := audit.NewLog(st, time.Now, o.logger())
	ctx = domain.WithPrincipal(ctx, domain.System)
	ctx = domain.WithRequestMeta(ctx, domain.RequestMeta{RequestID: "bench", SourceIP: "127.0.0.1", UserAgent: "healthhub-bench"})
	res.Stats, err = load(ctx, o.Clients, o.Warmup, o.Duration, func(ctx context.Context) func() error {
		ev := audit.Event{Action: domain.ActionRead, ResourceType: "bench", ResourceID: "bench-record", Detail: "benchmark"}
		return func() error { return auditLog.Record(ctx, ev) }
	})
	// Every acknowledged event is durable; Close only stops the writer.
	auditLog.Close()
	if err != nil {
		return res, err
	}

	res.Chain, err = audit.Verify(ctx, st)
	if err != nil {
		return res, fmt.Errorf("verify chain: %w", err)
	}
	if !res.Chain.OK {
		return res, fmt.Errorf("audit chain broken at event %d: %s", res.Chain.BrokenAt, res.Chain.Problem)
	}
	if res.Chain.Events < res.Total {
		return res, fmt.Errorf("audit chain holds %d events but %d appends were acknowledged", res.Chain.Events, res.Total)
	}
	return res, nil
}
