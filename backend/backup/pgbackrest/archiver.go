package pgbackrest

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// Querier runs one query; *pgx.Conn and *pgxpool.Pool are Queriers.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Archiver is the live server's WAL archiving state, from pg_stat_archiver.
type Archiver struct {
	// LastArchivedWAL and LastArchivedAt are the newest segment archived
	// and when; LastFailedWAL and LastFailedAt the newest failure.
	LastArchivedWAL string
	LastArchivedAt  time.Time
	LastFailedWAL   string
	LastFailedAt    time.Time
	// CurrentWAL is the segment holding the server's newest WAL.
	CurrentWAL string
	// ReadAt is the server's clock when this was read.
	ReadAt time.Time
}

// Pending reports WAL written since the last archived segment ended: the
// data a lost disk would take with it now.
func (a Archiver) Pending() bool {
	return a.CurrentWAL > a.LastArchivedWAL
}

// Lag is how long WAL has been waiting to be archived: zero when nothing
// is pending, else the time since the last segment was archived (with
// archive_timeout at 60s, a working archiver keeps it near a minute on a
// busy server). A server that never archived has an infinite lag.
func (a Archiver) Lag() time.Duration {
	if !a.Pending() {
		return 0
	}
	if a.LastArchivedAt.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return a.ReadAt.Sub(a.LastArchivedAt)
}

// Failing reports a failure newer than the last success.
func (a Archiver) Failing() bool {
	return !a.LastFailedAt.IsZero() && a.LastFailedAt.After(a.LastArchivedAt)
}

// ReadArchiver reads the archiving state of the server q is connected to.
// Any role may read it.
func ReadArchiver(ctx context.Context, q Querier) (Archiver, error) {
	var a Archiver
	var archWAL, failWAL *string
	var archAt, failAt *time.Time
	err := q.QueryRow(ctx, `SELECT last_archived_wal, last_archived_time, last_failed_wal, last_failed_time,
		pg_walfile_name(pg_current_wal_lsn()), clock_timestamp() FROM pg_stat_archiver`).Scan(&archWAL, &archAt, &failWAL, &failAt, &a.CurrentWAL, &a.ReadAt)
	if err != nil {
		return a, fmt.Errorf("read pg_stat_archiver: %w", err)
	}
	if archWAL != nil {
		a.LastArchivedWAL = *archWAL
	}
	if failWAL != nil {
		a.LastFailedWAL = *failWAL
	}
	if archAt != nil {
		a.LastArchivedAt = archAt.UTC()
	}
	if failAt != nil {
		a.LastFailedAt = failAt.UTC()
	}
	a.ReadAt = a.ReadAt.UTC()
	return a, nil
}

// MakePrivateDir makes a new folder (mode 0700) under parent ("" for the
// system's temporary folder) owned by the cluster's owner, for the socket
// of a restored instance.
func (r *Repo) MakePrivateDir(parent, pattern string) (string, error) {
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", err
	}
	if err := r.own(dir); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}
