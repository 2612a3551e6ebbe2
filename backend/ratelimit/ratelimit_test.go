package ratelimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := New(6, 3) // one every 10 s, three at once
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.Allow("ip", now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("ip", now)
	if ok || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("fourth request: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := l.Allow("other", now); !ok {
		t.Fatal("keys are not independent")
	}
	if ok, _ := l.Allow("ip", now.Add(10*time.Second)); !ok {
		t.Fatal("bucket did not refill")
	}
	l.Allow("ip", now.Add(time.Hour)) // sweeps idle buckets
	if l.Len() != 1 {
		t.Fatalf("idle buckets kept: %d", l.Len())
	}
	if ok, _ := New(0, 0).Allow("x", now); !ok {
		t.Fatal("disabled limiter refused")
	}
}
