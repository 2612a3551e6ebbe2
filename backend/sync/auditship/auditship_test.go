package auditship

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/healthhub/healthhub/backend/domain"
)

func keys(t testing.TB, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// nodeLog is a node's chained audit log of n events and its tree.
func nodeLog(t testing.TB, n int) ([]*domain.AuditEvent, *Tree) {
	t.Helper()
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	evs := make([]*domain.AuditEvent, n)
	for i := range evs {
		evs[i] = &domain.AuditEvent{ID: fmt.Sprintf("ev-%d", i), Time: start.Add(time.Duration(i) * time.Second), ActorID: "u1", ActorRole: "staff",
			Action: "read", ResourceType: "patient", ResourceID: fmt.Sprintf("p-%d", i%7), PatientID: fmt.Sprintf("p-%d", i%7), Outcome: "success",
			SourceIP: "10.0.0.2", UserAgent: "HealthHub", RequestID: fmt.Sprintf("r-%d", i)}
	}
	domain.Chain(0, "", evs)
	tree := &Tree{}
	for _, e := range evs {
		if err := tree.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	return evs, tree
}

// batch is the batch of evs[since:since+max] for an upstream holding the
// first since events.
func batch(t testing.TB, evs []*domain.AuditEvent, since, max int, s note.Signer) *Batch {
	t.Helper()
	acked := &Tree{}
	for _, e := range evs[:since] {
		if err := acked.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	b, _, err := NewBatch(acked, evs[since:min(len(evs), since+max)], s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upstream holds what an upstream keeps of one node: its events, the
// tree's hashes in a store and the last accepted checkpoint. Each batch
// loads the tree from the store, as a server does.
type upstream struct {
	hashes hashStore
	size   int64
	head   string
	last   Checkpoint
	stored map[int64]*domain.AuditEvent
	reads  int // stored hashes read
}

type hashStore map[int64]tlog.Hash

func (u *upstream) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := u.hashes[x]
		if !ok {
			return nil, fmt.Errorf("no hash %d", x)
		}
		out[i] = h
	}
	u.reads += len(indexes)
	return out, nil
}

func newUpstream() *upstream {
	return &upstream{hashes: hashStore{}, stored: map[int64]*domain.AuditEvent{}}
}

func (u *upstream) Size() int64 { return u.size }

func (u *upstream) accept(b *Batch, v note.Verifier) (Accepted, error) {
	tree := LoadTree(u.size, u.head, u)
	got, err := Accept(tree, u.last, b, v, func(seq int64) (*domain.AuditEvent, error) {
		e, ok := u.stored[seq]
		if !ok {
			return nil, fmt.Errorf("no event %d", seq)
		}
		return e, nil
	})
	if err != nil {
		return got, err
	}
	for _, e := range b.Events {
		if _, ok := u.stored[e.Seq]; !ok {
			c := *e
			u.stored[e.Seq] = &c
		}
	}
	for _, h := range tree.Added() {
		if _, ok := u.hashes[h.Index]; ok {
			return got, fmt.Errorf("hash %d stored twice", h.Index)
		}
		u.hashes[h.Index] = h.Hash
	}
	if int64(len(u.hashes)) != tlog.StoredHashCount(tree.Size()) {
		return got, fmt.Errorf("%d hashes stored for %d events", len(u.hashes), tree.Size())
	}
	u.size, u.head, u.last = tree.Size(), tree.HeadHash(), got.Checkpoint
	return got, nil
}

// copyEvents copies events so that a test can tamper with them.
func copyEvents(evs []*domain.AuditEvent) []*domain.AuditEvent {
	out := make([]*domain.AuditEvent, len(evs))
	for i, e := range evs {
		c := *e
		out[i] = &c
	}
	return out
}

func TestShippingInBatchesReachesTheSameTree(t *testing.T) {
	s, v := keys(t, "clinic-ws-1")
	evs, tree := nodeLog(t, 1000)
	up := newUpstream()
	for up.Size() < tree.Size() {
		b := batch(t, evs, int(up.Size()), 30, s)
		up.reads = 0
		got, err := up.accept(b, v)
		if err != nil {
			t.Fatalf("batch from %d: %v", b.Since, err)
		}
		if got.New != len(b.Events) || got.Redelivery != 0 {
			t.Fatalf("batch from %d: %+v", b.Since, got)
		}
	}
	want, _ := tree.Root()
	if up.last.Size != 1000 || up.last.Root != want || up.last.Node != "clinic-ws-1" {
		t.Fatalf("accepted %+v, want 1000 events with the node's root", up.last)
	}
	// Accepting a batch reads the few stored hashes its leaves and proof
	// need, not the whole tree.
	if all := tlog.StoredHashCount(1000); up.reads*2 > int(all) {
		t.Fatalf("the last batch read %d of %d stored hashes", up.reads, all)
	}

	// A batch sent again after its answer was lost changes nothing.
	b := batch(t, evs, 970, 30, s)
	got, err := up.accept(b, v)
	if err != nil || got.New != 0 || got.Redelivery != 30 || up.Size() != 1000 {
		t.Fatalf("redelivery: %+v, %v", got, err)
	}
}

func TestTamperedLogsAreRefused(t *testing.T) {
	s, v := keys(t, "clinic-ws-1")
	evs, _ := nodeLog(t, 60)
	base := func(t *testing.T) *upstream {
		up := newUpstream()
		b := batch(t, evs, 0, 30, s)
		if _, err := up.accept(b, v); err != nil {
			t.Fatal(err)
		}
		return up
	}
	next := func(t *testing.T) *Batch {
		b := batch(t, evs, 30, 30, s)
		b.Events = copyEvents(b.Events)
		return b
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, b *Batch)
		want   error
	}{
		{"an event edited", func(t *testing.T, b *Batch) { b.Events[5].Detail = "nothing to see" }, ErrBrokenChain},
		{"an event edited and rehashed", func(t *testing.T, b *Batch) {
			b.Events[5].Detail = "nothing to see"
			b.Events[5].Hash = b.Events[5].ComputeHash()
		}, ErrBrokenChain},
		{"an event deleted", func(t *testing.T, b *Batch) { b.Events = append(b.Events[:5], b.Events[6:]...) }, ErrGap},
		{"two events swapped", func(t *testing.T, b *Batch) { b.Events[3], b.Events[4] = b.Events[4], b.Events[3] }, ErrGap},
		{"an event received before sent again changed", func(t *testing.T, b *Batch) {
			old := copyEvents(evs[25:30])
			old[2].Outcome = "denied"
			old[2].Hash = old[2].ComputeHash()
			b.Events = append(old, b.Events...)
		}, ErrDivergent},
		{"signed with another key", func(t *testing.T, b *Batch) {
			other, _ := keys(t, "clinic-ws-1")
			c, _ := Open(b.Checkpoint, v)
			b.Checkpoint, _ = Sign(c, other)
		}, ErrBadSignature},
		{"a checkpoint of another tree", func(t *testing.T, b *Batch) {
			c, _ := Open(b.Checkpoint, v)
			c.Root[0] ^= 1
			b.Checkpoint, _ = Sign(c, s)
		}, ErrWrongRoot},
		{"a proof that does not hold", func(t *testing.T, b *Batch) { b.Proof[0][0] ^= 1 }, ErrBadProof},
		{"events missing at the end", func(t *testing.T, b *Batch) { b.Events = b.Events[:20] }, ErrGap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := base(t)
			before := up.Size()
			b := next(t)
			tt.tamper(t, b)
			if _, err := up.accept(b, v); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if up.Size() != before || up.last.Size != 30 {
				t.Fatalf("a refused batch changed the upstream: %d events, checkpoint %d", up.Size(), up.last.Size)
			}
			// The untampered batch is still accepted after the refusal.
			if _, err := up.accept(next(t), v); err != nil {
				t.Fatalf("the good batch after a refusal: %v", err)
			}
		})
	}

	// A node that rewrote its history after shipping it: a new chain from
	// an early event on, signed with its own key.
	t.Run("history rewritten and shipped on", func(t *testing.T) {
		up := base(t)
		forked := copyEvents(evs)
		forked[9].Detail = "rewritten"
		domain.Chain(9, forked[8].Hash, forked[9:])
		b := batch(t, forked, 30, 30, s)
		if _, err := up.accept(b, v); !errors.Is(err, ErrBrokenChain) {
			t.Fatalf("err %v, want %v", err, ErrBrokenChain)
		}
		// Its proof from the old checkpoint would not hold either.
		b.Events = copyEvents(evs[30:60])
		if _, err := up.accept(b, v); !errors.Is(err, ErrWrongRoot) && !errors.Is(err, ErrBadProof) {
			t.Fatalf("the forked checkpoint with the old events: %v", err)
		}
	})
}

func TestCheckpointsRoundTrip(t *testing.T) {
	s, v := keys(t, "clinic-server")
	_, tree := nodeLog(t, 7)
	c, err := tree.Checkpoint("clinic-server")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := Sign(c, s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(msg, v)
	if err != nil || got != c {
		t.Fatalf("opened %+v, %v; want %+v", got, err, c)
	}
	if _, err := Sign(Checkpoint{Node: "someone-else", Size: 1}, s); err == nil {
		t.Fatal("a node signed another node's checkpoint")
	}
}

// Checkpoints come from outside: any bytes are refused cleanly or read.
func FuzzOpen(f *testing.F) {
	s, v := keys(f, "clinic-ws-1")
	_, tree := nodeLog(f, 3)
	c, _ := tree.Checkpoint("clinic-ws-1")
	msg, _ := Sign(c, s)
	f.Add(msg)
	f.Add([]byte("clinic-ws-1\n3\nAAAA\n\n— clinic-ws-1 AAAA\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Open(b, v)
		if err == nil && (got.Node != "clinic-ws-1" || got.Size < 0) {
			t.Fatalf("read %+v from %q", got, b)
		}
	})
}
