package leader_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/leader"
	"github.com/healthhub/healthhub/backend/store/storetest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSoloAlwaysLeads(t *testing.T) {
	e := leader.Solo()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, func(wctx context.Context) {
			close(started)
			<-wctx.Done()
		})
	}()
	<-started
	if !e.Leading() {
		t.Fatal("a solo process does not lead")
	}
	cancel()
	<-done
	if e.Leading() {
		t.Fatal("still leading after Run returned")
	}
}

// member is one process's elector and what its work saw.
type member struct {
	e       *leader.Elector
	running atomic.Int32 // work calls in progress
	terms   atomic.Int32 // work calls begun
	stopped atomic.Int32 // work calls whose context ended
	done    chan struct{}
	cancel  context.CancelFunc
}

func join(t *testing.T, pool *pgxpool.Pool) *member {
	t.Helper()
	e, err := leader.New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.Retry, e.Check = 50*time.Millisecond, 200*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{e: e, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(m.done)
		e.Run(ctx, func(wctx context.Context) {
			m.terms.Add(1)
			m.running.Add(1)
			<-wctx.Done()
			m.running.Add(-1)
			m.stopped.Add(1)
		})
	}()
	t.Cleanup(func() { cancel(); <-m.done })
	return m
}

func TestOneLeaderAndTakeover(t *testing.T) {
	url := storetest.NewPostgresSchema(t)
	ctx := context.Background()
	newPool := func() *pgxpool.Pool {
		p, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	admin := newPool()
	members := []*member{join(t, newPool()), join(t, newPool()), join(t, newPool())}
	leaders := func() (n int, who *member) {
		for _, m := range members {
			if m.e.Leading() {
				n++
				who = m
			}
		}
		return n, who
	}
	eventually(t, "a leader", func() bool { n, _ := leaders(); return n == 1 })
	// Followers keep trying and stay followers while the leader lives.
	_, first := leaders()
	for _, m := range members {
		if m != first && m.terms.Load() != 0 {
			t.Fatalf("a follower ran the work while another led")
		}
	}

	// The database ends the leader's session, as a restart or an
	// administrator would: its work is stopped and another takes over.
	var key int64
	if err := admin.QueryRow(ctx, leader.LockKeySQL).Scan(&key); err != nil {
		t.Fatal(err)
	}
	var pid int32
	if err := admin.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid = (($1::bigint >> 32) & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid`, key).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the old leader's work to stop", func() bool { return first.stopped.Load() >= 1 })
	eventually(t, "a new leader", func() bool {
		n, who := leaders()
		return n == 1 && who.e.Terms() >= 1 && (who != first || who.e.Terms() >= 2)
	})

	// A leader that stops (shutdown) hands over at once.
	_, cur := leaders()
	cur.cancel()
	<-cur.done
	if cur.running.Load() != 0 {
		t.Fatal("work still running after Run returned")
	}
	eventually(t, "a leader after a shutdown", func() bool { n, who := leaders(); return n == 1 && who != cur })

	total := 0
	for _, m := range members {
		total += int(m.terms.Load())
	}
	if total < 3 {
		t.Fatalf("%d terms in all, want at least 3", total)
	}
}
