package ratelimit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := New(6, 3) // one every 10 s, three at once
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.Allow(context.Background(), "ip", now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow(context.Background(), "ip", now)
	if ok || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("fourth request: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := l.Allow(context.Background(), "other", now); !ok {
		t.Fatal("keys are not independent")
	}
	if ok, _ := l.Allow(context.Background(), "ip", now.Add(10*time.Second)); !ok {
		t.Fatal("bucket did not refill")
	}
	l.Allow(context.Background(), "ip", now.Add(time.Hour)) // sweeps idle buckets
	if l.Len() != 1 {
		t.Fatalf("idle buckets kept: %d", l.Len())
	}
	if ok, _ := New(0, 0).Allow(context.Background(), "x", now); !ok {
		t.Fatal("disabled limiter refused")
	}
}

// countingStore is a shared store that allows a fixed number of tokens per
// key in all, or fails.
type countingStore struct {
	left map[string]int
	keys []string
	fail bool
}

func (s *countingStore) TakeToken(_ context.Context, key string, _ time.Time, interval, tolerance time.Duration) (bool, time.Duration, error) {
	if s.fail {
		return false, 0, errors.New("database unavailable")
	}
	s.keys = append(s.keys, key)
	if _, ok := s.left[key]; !ok {
		s.left[key] = int(tolerance/interval) + 1
	}
	if s.left[key] == 0 {
		return false, interval, nil
	}
	s.left[key]--
	return true, 0, nil
}

func TestSharedLimiter(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := &countingStore{left: map[string]int{}}
	// Two processes' limiters on one store count together.
	a := New(6, 3).Share(store, "login-account", nil)
	b := New(6, 3).Share(store, "login-account", nil)
	allowed := 0
	for i := range 6 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if ok, _ := l.Allow(ctx, "someone@example.org", now); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("allowed %d of 6 through two processes, want the burst of 3", allowed)
	}
	for _, k := range store.keys {
		if strings.Contains(k, "someone") || !strings.HasPrefix(k, "login-account:") {
			t.Fatalf("shared key %q reveals the key or lacks the limiter's name", k)
		}
	}
	// The store fails: the process's own buckets answer.
	store.fail = true
	for i := range 3 {
		if ok, _ := a.Allow(ctx, "other@example.org", now); !ok {
			t.Fatalf("request %d refused while the store is down and the local bucket is full", i)
		}
	}
	if ok, wait := a.Allow(ctx, "other@example.org", now); ok || wait <= 0 {
		t.Fatalf("local limit not applied while the store is down: ok=%v wait=%v", ok, wait)
	}
}
