package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/superfly/ltx"
	_ "modernc.org/sqlite" // the database/sql driver of the integrity check
)

// Errors of a restore target the replica cannot give.
var (
	ErrEmpty        = errors.New("the replica holds nothing yet")
	ErrBeforeOldest = errors.New("the time is before the oldest point the replica can restore")
	ErrAfterNewest  = errors.New("the time is after the newest point the replica holds")
)

// RestoreOptions say which replica to restore from, to when, and into what.
type RestoreOptions struct {
	// Config names the replica: Restore reads the file replica when there
	// is one, else the bucket.
	Config Config
	// FromS3 reads the bucket even when a file replica is configured.
	FromS3 bool
	// Target is the point in time to restore (zero: the newest the replica
	// holds). A time outside the replica's window is refused, never
	// replaced by another.
	Target time.Time
	// OutputPath is the database file to create; it must not exist.
	OutputPath string
}

// Window is the span of time a replica can restore.
type Window struct {
	// Oldest is the earliest point a restore can give; Newest the latest.
	Oldest, Newest time.Time
}

// RestoreResult says what was restored.
type RestoreResult struct {
	// Source names the replica read.
	Source string
	// RestoredAt is the point in time restored: the database as it was
	// when its newest change restored here was replicated (within about a
	// second of its commit). It is at or before the target.
	RestoredAt time.Time
	// TXID is the newest transaction in the restored database.
	TXID uint64
	// Window is the span the replica could restore.
	Window Window
	Took   time.Duration
}

// source is the client Restore reads, initialised.
func (o RestoreOptions) source(ctx context.Context) (litestream.ReplicaClient, string, error) {
	c := o.Config
	if o.FromS3 {
		if c.S3 == nil || c.S3.Bucket == "" {
			return nil, "", errors.New("no S3 replica is configured to restore from")
		}
		c.Dir = ""
	}
	primary, _, err := c.clients()
	if err != nil {
		return nil, "", err
	}
	primary.SetLogger(slog.New(slog.DiscardHandler))
	if err := primary.Init(ctx); err != nil {
		return nil, "", fmt.Errorf("open the replica: %w", err)
	}
	return primary, c.Targets()[0], nil
}

// Bounds reports the window the replica of o can restore.
func Bounds(ctx context.Context, o RestoreOptions) (Window, error) {
	client, _, err := o.source(ctx)
	if err != nil {
		return Window{}, err
	}
	return window(ctx, client)
}

// window is the span the replica can restore, with the files' own times.
func window(ctx context.Context, client litestream.ReplicaClient) (Window, error) {
	w, _, err := held(ctx, client, true)
	if err == nil && w.Oldest.IsZero() {
		err = ErrEmpty
	}
	return w, err
}

// Restore writes the database as it was at o.Target (or as the replica
// last holds it) into the new file o.OutputPath, checks it whole (PRAGMA
// integrity_check) and says which point in time it is. The file holds
// no WAL: open it as any database.
func Restore(ctx context.Context, o RestoreOptions) (RestoreResult, error) {
	start := time.Now()
	if o.OutputPath == "" {
		return RestoreResult{}, errors.New("restore needs the path of the database file to create")
	}
	if _, err := os.Lstat(o.OutputPath); err == nil {
		return RestoreResult{}, fmt.Errorf("%s already exists: restore into a new file", o.OutputPath)
	} else if !errors.Is(err, os.ErrNotExist) {
		return RestoreResult{}, err
	}
	client, name, err := o.source(ctx)
	if err != nil {
		return RestoreResult{}, err
	}
	res := RestoreResult{Source: name}
	if res.Window, err = window(ctx, client); err != nil {
		return res, fmt.Errorf("%s: %w", name, err)
	}
	w := res.Window
	var before time.Time // files created before this time
	if !o.Target.IsZero() {
		switch {
		case o.Target.Before(w.Oldest):
			return res, fmt.Errorf("%w: %s is before %s, the oldest point %s can restore (it holds %s to %s)",
				ErrBeforeOldest, stamp(o.Target), stamp(w.Oldest), name, stamp(w.Oldest), stamp(w.Newest))
		case o.Target.After(w.Newest):
			return res, fmt.Errorf("%w: %s is after %s, the newest point %s holds (it holds %s to %s); restore to that time or to the latest",
				ErrAfterNewest, stamp(o.Target), stamp(w.Newest), name, stamp(w.Oldest), stamp(w.Newest))
		}
		// Replica times are in milliseconds: a file of the target's own
		// millisecond is part of the state at the target.
		before = o.Target.Truncate(time.Millisecond).Add(time.Millisecond)
	}
	plan, err := litestream.CalcRestorePlan(ctx, client, 0, before, slog.New(slog.DiscardHandler))
	if err != nil {
		return res, fmt.Errorf("plan the restore from %s: %w", name, err)
	}
	if plan[0].MinTXID != 1 {
		return res, fmt.Errorf("%w: %s no longer holds the history that leads to %s", ErrBeforeOldest, name, stamp(o.Target))
	}
	last := plan[len(plan)-1]
	res.TXID = uint64(last.MaxTXID)
	for _, f := range plan {
		if f.CreatedAt.After(res.RestoredAt) {
			res.RestoredAt = f.CreatedAt
		}
	}
	// Restore the transaction the plan reaches, so that the result is the
	// state named above even if the replica changes meanwhile.
	r := litestream.NewReplicaWithClient(nil, client)
	opt := litestream.NewRestoreOptions()
	opt.OutputPath, opt.TXID = o.OutputPath, ltx.TXID(res.TXID)
	if err := r.Restore(ctx, opt); err != nil {
		return res, fmt.Errorf("restore from %s: %w", name, err)
	}
	if err := integrityCheck(ctx, o.OutputPath); err != nil {
		for _, p := range []string{"", "-wal", "-shm"} {
			os.Remove(o.OutputPath + p)
		}
		return res, fmt.Errorf("the database restored from %s is damaged, and was deleted: %w", name, err)
	}
	res.Took = time.Since(start)
	return res, nil
}

// integrityCheck runs PRAGMA integrity_check on the database at path.
func integrityCheck(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
