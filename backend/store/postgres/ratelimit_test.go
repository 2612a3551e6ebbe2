package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTakeTokenSharedAcrossConnections: processes taking tokens of one
// bucket at once, on connections of their own, get exactly the burst, and a
// refusal says how long until the next token.
func TestTakeTokenSharedAcrossConnections(t *testing.T) {
	ctx := context.Background()
	db, _ := migrated(ctx, t)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	const burst = 5
	interval := 10 * time.Second
	var allowed, refused atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, wait, err := db.TakeToken(ctx, "login-account:k1", now, interval, (burst-1)*interval)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				allowed.Add(1)
			} else {
				refused.Add(1)
				if wait <= 0 || wait > interval {
					t.Errorf("refused with wait %v, want (0, %v]", wait, interval)
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != burst || refused.Load() != 20-burst {
		t.Fatalf("allowed %d, refused %d; want %d and %d", allowed.Load(), refused.Load(), burst, 20-burst)
	}
	// Other keys have buckets of their own; a token comes back per interval.
	if ok, _, err := db.TakeToken(ctx, "login-account:k2", now, interval, (burst-1)*interval); err != nil || !ok {
		t.Fatalf("another key: %v, %v", ok, err)
	}
	if ok, _, err := db.TakeToken(ctx, "login-account:k1", now.Add(interval), interval, (burst-1)*interval); err != nil || !ok {
		t.Fatalf("after one interval: %v, %v", ok, err)
	}
	if ok, _, err := db.TakeToken(ctx, "login-account:k1", now.Add(interval), interval, (burst-1)*interval); err != nil || ok {
		t.Fatalf("a second token within the interval: %v, %v", ok, err)
	}
	// Long idle: the bucket is full again.
	for i := range burst {
		if ok, _, err := db.TakeToken(ctx, "login-account:k1", now.Add(time.Hour), interval, (burst-1)*interval); err != nil || !ok {
			t.Fatalf("token %d after an hour: %v, %v", i, ok, err)
		}
	}
}
