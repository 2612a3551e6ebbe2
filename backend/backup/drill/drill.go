// Package drill rehearses a restore and measures it: the installation is
// restored to a point in time into scratch space, the copy is checked
// (database integrity, row counts, the audit chain, and that the copy's
// audit chain is a prefix of the live one), a server is started on it, and
// the recovery point and time actually achieved are compared with the
// targets.
//
// The recovery point (RPO) is the target time less the newest backup canary
// in the copy: the server writes one a minute, so a perfect backup shows an
// RPO under a minute. The recovery time (RTO) runs from the drill's start
// until the server on the restored copy answers /readyz.
package drill

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

// The recovery targets of the clinic's contingency plan.
const (
	DefaultRPO = time.Hour
	DefaultRTO = 4 * time.Hour
)

// Restored is a copy restored by a Source.
type Restored struct {
	// DataDir is the restored data folder: the SQLite database (for
	// SQLite installations) and the files beside it, such as the keyring.
	DataDir string
	// DatabaseURL is the restored PostgreSQL database; empty for SQLite.
	DatabaseURL string
	// Point is the time the source restored to, when it says.
	Point time.Time
	// Notes say how the copy was made up (where the keyring came from, …).
	Notes []string
	// Close stops what the restore started (a PostgreSQL server); may be nil.
	Close func() error
}

// Source restores the installation as it was at a point in time.
type Source interface {
	// Name says what is restored from, for the report.
	Name() string
	// Restore writes the installation as it was at target into dir (an
	// empty folder), refusing a target it cannot reach.
	Restore(ctx context.Context, target time.Time, dir string) (*Restored, error)
}

// Server starts HealthHub on a restored copy with no background work
// (nothing sent, synced or replicated from it) and returns its base URL
// and a function that stops it.
type Server func(ctx context.Context, r *Restored) (baseURL string, stop func() error, err error)

// Options configure one drill.
type Options struct {
	Source Source
	// Target is the point in time restored to.
	Target time.Time
	// Scratch is an empty folder the copy is restored into.
	Scratch string
	// Live is the installation drilled: the restored audit chain must be a
	// prefix of its chain.
	Live audit.Reader
	// Serve starts a server on the copy.
	Serve Server
	// RPO and RTO are the targets; zero means the defaults.
	RPO, RTO time.Duration
	// ReadyWithin bounds the wait for the started server to answer
	// /readyz; zero means the RTO target (a server not ready by then has
	// failed the drill anyway).
	ReadyWithin time.Duration
	Now         func() time.Time
	// Client polls /readyz; nil means a client with a 5 s timeout.
	Client *http.Client
}

// Report is what a drill found. Passed is true only when every check passed
// and both targets were met.
type Report struct {
	Source       string        `json:"source"`
	Target       time.Time     `json:"target"`
	Started      time.Time     `json:"started"`
	RestoredTo   time.Time     `json:"restored_to,omitzero"`
	NewestCanary time.Time     `json:"newest_canary,omitzero"`
	RPO          time.Duration `json:"rpo_ns"`
	RTO          time.Duration `json:"rto_ns"`
	RPOTarget    time.Duration `json:"rpo_target_ns"`
	RTOTarget    time.Duration `json:"rto_target_ns"`
	// RestoreTook, CheckTook and StartTook split the RTO.
	RestoreTook time.Duration `json:"restore_ns"`
	CheckTook   time.Duration `json:"check_ns"`
	StartTook   time.Duration `json:"start_ns"`
	// DatabaseBytes is the size of the restored database.
	DatabaseBytes int64            `json:"database_bytes"`
	Rows          map[string]int64 `json:"rows"`
	Integrity     string           `json:"integrity"`
	AuditEvents   int64            `json:"audit_events"`
	AuditHeadSeq  int64            `json:"audit_head_seq"`
	Notes         []string         `json:"notes,omitempty"`
	Passed        bool             `json:"passed"`
	Failures      []string         `json:"failures,omitempty"`
}

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// Run performs the drill. An error means the drill could not be carried
// out at all (the restore was refused, the scratch folder is not usable);
// a drill that ran and found a problem returns a Report with Passed false.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RPO <= 0 {
		o.RPO = DefaultRPO
	}
	if o.RTO <= 0 {
		o.RTO = DefaultRTO
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if o.Source == nil || o.Serve == nil || o.Live == nil || o.Scratch == "" {
		return nil, errors.New("drill: a source, a server, the live installation and a scratch folder are required")
	}
	if err := os.MkdirAll(o.Scratch, 0o700); err != nil {
		return nil, fmt.Errorf("scratch folder: %w", err)
	}
	if ents, err := os.ReadDir(o.Scratch); err != nil {
		return nil, fmt.Errorf("scratch folder: %w", err)
	} else if len(ents) > 0 {
		return nil, fmt.Errorf("scratch folder %s is not empty: a drill restores into an empty folder", o.Scratch)
	}

	rep := &Report{Source: o.Source.Name(), Target: o.Target.UTC(), Started: o.Now().UTC(), RPOTarget: o.RPO, RTOTarget: o.RTO}
	restored, err := o.Source.Restore(ctx, o.Target, o.Scratch)
	if err != nil {
		return nil, fmt.Errorf("restore from %s to %s: %w", rep.Source, o.Target.UTC().Format(time.RFC3339), err)
	}
	if restored.Close != nil {
		defer restored.Close()
	}
	rep.RestoredTo, rep.Notes = restored.Point.UTC(), restored.Notes
	rep.RestoreTook = o.Now().Sub(rep.Started)

	checkStart := o.Now()
	check(ctx, o, restored, rep)
	rep.CheckTook = o.Now().Sub(checkStart)

	startStart := o.Now()
	base, stop, err := o.Serve(ctx, restored)
	if err != nil {
		rep.fail("the server did not start on the restored copy: %v", err)
	} else {
		within := o.ReadyWithin
		if within <= 0 {
			within = o.RTO
		}
		readyCtx, cancel := context.WithTimeout(ctx, within)
		err = waitReady(readyCtx, o.Client, base)
		cancel()
		rep.StartTook = o.Now().Sub(startStart)
		rep.RTO = o.Now().Sub(rep.Started)
		if err != nil {
			rep.fail("the server on the restored copy never answered /readyz: %v", err)
		}
		if serr := stop(); serr != nil {
			rep.Notes = append(rep.Notes, "stopping the drill's server: "+serr.Error())
		}
	}

	if rep.NewestCanary.IsZero() {
		rep.fail("the restored copy holds no backup canary: the server writes one a minute, so the copy predates any running server or the canary table is lost")
	} else {
		rep.RPO = max(rep.Target.Sub(rep.NewestCanary), 0)
		if rep.RPO > o.RPO {
			rep.fail("recovery point %s is above the target of %s", round(rep.RPO), o.RPO)
		}
	}
	if rep.RTO > o.RTO {
		rep.fail("recovery time %s is above the target of %s", round(rep.RTO), o.RTO)
	}
	rep.Passed = len(rep.Failures) == 0
	return rep, nil
}

// check opens the copy and fills in the integrity findings.
func check(ctx context.Context, o Options, r *Restored, rep *Report) {
	size, integrity, rows, err := inspect(ctx, r)
	rep.DatabaseBytes, rep.Integrity, rep.Rows = size, integrity, rows
	if err != nil {
		rep.fail("reading the restored database: %v", err)
		return
	}
	if integrity != "ok" {
		rep.fail("integrity check of the restored database: %s", integrity)
	}
	db, err := store.Open(ctx, r.DatabaseURL, r.DataDir)
	if err != nil {
		rep.fail("opening the restored database: %v", err)
		return
	}
	defer db.Close()
	if t, ok, err := db.NewestCanary(ctx); err != nil {
		rep.fail("reading the backup canary: %v", err)
	} else if ok {
		rep.NewestCanary = t
		if t.After(rep.Target) {
			rep.fail("the copy holds a canary written at %s, after the target %s: it was not restored to the point asked for",
				t.Format(time.RFC3339), rep.Target.Format(time.RFC3339))
		}
	}
	vr, err := audit.Verify(ctx, db)
	if err != nil {
		rep.fail("verifying the restored audit chain: %v", err)
		return
	}
	rep.AuditEvents, rep.AuditHeadSeq = vr.Events, vr.HeadSeq
	if !vr.OK {
		rep.fail("the restored audit chain is broken at event %d: %s", vr.BrokenAt, vr.Problem)
		return
	}
	if err := isPrefix(ctx, db, o.Live, vr); err != nil {
		rep.fail("%v", err)
	}
}

// isPrefix checks that the copy's chain is where the live chain was: the
// live event at the copy's head sequence has the copy's head hash.
func isPrefix(ctx context.Context, copyDB audit.Reader, live audit.Reader, vr audit.Report) error {
	if vr.HeadSeq == 0 {
		return nil
	}
	page, err := live.ScanAudit(ctx, vr.HeadSeq-1, 1)
	if err != nil {
		return fmt.Errorf("reading the live audit chain: %w", err)
	}
	if len(page) == 0 || page[0].Seq != vr.HeadSeq {
		return fmt.Errorf("the restored audit chain ends at event %d, which the live chain does not hold", vr.HeadSeq)
	}
	if page[0].Hash != vr.HeadHash {
		return fmt.Errorf("the restored audit chain differs from the live chain at event %d: the copy is not this installation's past", vr.HeadSeq)
	}
	return nil
}

// waitReady polls base/readyz until it answers 200 or ctx ends.
func waitReady(ctx context.Context, c *http.Client, base string) error {
	delay := 20 * time.Millisecond
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("/readyz answered %s", resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}

func round(d time.Duration) time.Duration { return d.Round(time.Second) }

// AuditEvent is the drill's audit event: figures only, never data.
func AuditEvent(rep *Report) audit.Event {
	ev := audit.Event{Action: domain.ActionVerify, ResourceType: "backup", ResourceID: "drill", Outcome: domain.OutcomeSuccess,
		Detail: fmt.Sprintf("drill rpo_s=%.0f rto_s=%.1f db_bytes=%d audit_events=%d failures=%d",
			rep.RPO.Seconds(), rep.RTO.Seconds(), rep.DatabaseBytes, rep.AuditEvents, len(rep.Failures))}
	if !rep.Passed {
		ev.Outcome = domain.OutcomeFailure
	}
	return ev
}
