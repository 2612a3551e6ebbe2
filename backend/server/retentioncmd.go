package server

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/retention"
)

const retentionUsage = `usage: healthhubd retention run [--dry-run] [--json]
  retention run       apply the retention policy now: purge patients past their period after
                      the last contact (not on legal hold), pseudonymise their audit events, and
                      remove audit events older than the audit period (never under six years)
  --dry-run           count what would be purged, remove nothing (the run is still audited)
  --json              print the report as JSON`

// retentionService applies the retention policy of this installation.
func (s *System) retentionService() *retention.Service {
	return retention.New(retention.Options{Store: s.Store, Guard: access.New(s.Audit), Audit: s.Audit, Keys: s.Keys, Blobs: blobDeleter{s.Blobs},
		Now: s.Now, Logger: s.Logger, AuditKeptFrom: s.auditKeptFrom})
}

// auditKeptFrom holds the whole audit log back from retention while this
// installation ships it to an upstream: shipping rebuilds its proofs from
// the log's first event. The upstream keeps the copy.
func (s *System) auditKeptFrom(ctx context.Context) (int64, error) {
	st, err := s.Node.Status(ctx)
	if err != nil {
		return 0, err
	}
	if st.Enrolled {
		return 1, nil
	}
	return 0, nil
}

// The leader applies the retention policy retentionAfter its start (not
// in the rush of starting, and not at every restart of a process that
// restarts often), then every retentionEvery.
const (
	retentionAfter = 10 * time.Minute
	retentionEvery = 24 * time.Hour
)

// applyRetention applies the retention policy as the system.
func (s *System) applyRetention(ctx context.Context) {
	svc := s.retentionService()
	t := time.NewTimer(retentionAfter)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := svc.Run(ctx, false); err != nil && ctx.Err() == nil {
			s.Logger.Warn("retention run failed; next try in a day", "err", err)
		}
		t.Reset(retentionEvery)
	}
}

// runRetention is "healthhubd retention …".
func runRetention(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		return &ExitError{Code: 2, Err: errors.New(retentionUsage)}
	}
	var dryRun, asJSON bool
	extra := func(fs *flag.FlagSet) {
		fs.BoolVar(&dryRun, "dry-run", false, "count what would be purged; remove nothing")
		fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	}
	cfg, rest, err := parseCommand("retention run", args[1:], getenv, stderr, extra)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("unexpected argument %q\n%s", rest[0], retentionUsage)}
	}
	sys, err := openSystem(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer sys.Close()
	rep, err := sys.retentionService().Run(cliContext(ctx), dryRun)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	verb := "purged"
	if dryRun {
		verb = "would purge"
	}
	fmt.Fprintf(stdout, "policy: clinical records %d years after the last contact, audit events %d years\n",
		rep.Policy.ClinicalRecordsYears, rep.Policy.AuditEventsYears)
	fmt.Fprintf(stdout, "%s %d patients (%d appointments, %d clinical entries, %d conversations); %d audit events pseudonymised\n",
		verb, rep.Patients, rep.Appointments, rep.ClinicalEntries, rep.Conversations, rep.AuditPseudonymised)
	fmt.Fprintf(stdout, "audit events removed from the start of the log: %d (anchor at %d); legal holds in force: %d\n",
		rep.AuditEventsDeleted, rep.AuditAnchorSeq, rep.LegalHolds)
	return nil
}
