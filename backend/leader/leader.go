// Package leader elects the one server process of a deployment that runs
// its background work: the notification worker, scanning knowledge sources,
// sync with an upstream, slot-lease expiry and change-log compaction, and
// taking over assistant answers a stopped process left unfinished. Replicas
// behind a load balancer share one PostgreSQL database, and whichever holds
// an advisory lock on a connection of its own leads; when that process dies
// or loses the database, PostgreSQL releases the lock and another takes over.
// An SQLite database has one server process, which always leads.
//
// The work itself must stay safe if two processes briefly both believe they
// lead (a leader cut off from the database learns it only when its next
// check fails): the jobs claim rows with leases or apply operations once by
// id, so the election saves duplicated effort, and correctness never rests
// on it alone.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthhub/healthhub/backend/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ApplicationName is the leader connection's application_name, as shown in
// pg_stat_activity.
const ApplicationName = "healthhub-leader"

// LockKeySQL computes the advisory lock the leader holds: one per schema, so
// deployments (or tests) sharing a database in schemas of their own elect
// their own leaders.
const LockKeySQL = `SELECT hashtextextended('healthhub-leader/' || current_schema(), 0)`

// Elector runs work while this process leads.
type Elector struct {
	pool   *pgxpool.Pool // nil: always leads
	logger *slog.Logger

	// Retry is how long a follower waits before trying for the lock again
	// (2 s); Check is how long a leader's connection may stay quiet before
	// it is checked (2 s).
	Retry, Check time.Duration

	leading atomic.Bool
	changes atomic.Int64
}

// Solo returns an elector that always leads: the only process on its
// database.
func Solo() *Elector { return &Elector{logger: slog.New(slog.DiscardHandler)} }

// New returns an elector among the processes sharing pool's database.
func New(pool *pgxpool.Pool, logger *slog.Logger) (*Elector, error) {
	if pool == nil {
		return nil, errors.New("leader election needs a PostgreSQL pool")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Elector{pool: pool, logger: logger, Retry: 2 * time.Second, Check: 2 * time.Second}, nil
}

// Shared reports whether processes share the database and elect a leader.
func (e *Elector) Shared() bool { return e.pool != nil }

// Leading reports whether this process leads now.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Terms counts the times this process became leader.
func (e *Elector) Terms() int64 { return e.changes.Load() }

// Run calls work each time this process becomes leader, with a context that
// ends when it stops leading, and returns once ctx ends and work has
// returned. Each job in work must return when its context ends.
func (e *Elector) Run(ctx context.Context, work func(ctx context.Context)) {
	if e.pool == nil {
		e.lead(ctx, work, nil)
		return
	}
	backoff := e.Retry
	for ctx.Err() == nil {
		err := e.term(ctx, work)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.logger.Warn("leader: lost or could not reach the database; trying again", "err", err, "retry_in", backoff)
			backoff = min(2*backoff, 30*time.Second)
		} else {
			backoff = e.Retry
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
}

// lead runs work until ctx ends or lost fires.
func (e *Elector) lead(ctx context.Context, work func(context.Context), lost <-chan error) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.leading.Store(true)
	e.changes.Add(1)
	defer e.leading.Store(false)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		work(wctx)
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-lost:
	}
	cancel()
	wg.Wait()
	return err
}

// term connects, tries for the lock until it is held, leads until the
// connection fails or ctx ends, and returns why it stopped.
func (e *Elector) term(ctx context.Context, work func(context.Context)) error {
	// The database notices a leader that vanished without closing its
	// connection (a partition, a powered-off host) in about 25 s, and
	// releases the lock.
	conn, err := postgres.Dedicated(ctx, e.pool, map[string]string{"application_name": ApplicationName,
		"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn.Close(cctx) // ends the session, which releases the lock
	}()
	var key int64
	if err := conn.QueryRow(ctx, LockKeySQL).Scan(&key); err != nil {
		return fmt.Errorf("leader lock key: %w", err)
	}
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
			return fmt.Errorf("try the leader lock: %w", err)
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(e.Retry):
		}
	}
	e.logger.Info("leader: this process now runs the background work", "pid", conn.PgConn().PID())
	lost := make(chan error, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		lost <- e.watch(watchCtx, conn, key)
	}()
	err = e.lead(ctx, work, lost)
	stopWatch()
	wg.Wait()
	if ctx.Err() == nil {
		e.logger.Warn("leader: this process stopped running the background work", "err", err)
	}
	return err
}

// watch returns when the connection holding the lock fails: a closed socket
// (the database restarted or ended the session) is noticed at once by the
// blocked read; a quiet connection is pinged every Check.
func (e *Elector) watch(ctx context.Context, conn *pgx.Conn, key int64) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, e.Check)
		_, err := conn.WaitForNotification(wctx)
		idle := wctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !idle {
			return fmt.Errorf("leader connection: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var held bool
		err = conn.QueryRow(pctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
			AND granted AND objid = ($1::bigint & 4294967295)::oid AND classid = (($1::bigint >> 32) & 4294967295)::oid)`, key).Scan(&held)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("check the leader connection: %w", err)
		}
		if !held {
			return errors.New("the leader lock is no longer held")
		}
	}
}
