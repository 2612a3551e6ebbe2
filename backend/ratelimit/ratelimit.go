// Package ratelimit limits how often a key (an IP address, an account) may do
// something, with token buckets that are forgotten once idle.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter keeps one token bucket per key.
type Limiter struct {
	mu      sync.Mutex
	perMin  float64
	burst   int
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New allows perMinute events per key on average, and burst at once.
// perMinute <= 0 disables the limit.
func New(perMinute float64, burst int) *Limiter {
	return &Limiter{perMin: perMinute, burst: max(burst, 1), buckets: map[string]*bucket{}}
}

// Allow reports whether the key may act at now; when not, it also returns
// how long until it may.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.perMin <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Minute {
		l.sweepLocked(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.perMin/60), l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweepLocked forgets buckets that have refilled completely.
func (l *Limiter) sweepLocked(now time.Time) {
	full := time.Duration(math.Ceil(float64(l.burst)/l.perMin*60)) * time.Second
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
	l.sweep = now
}

// Len is the number of keys tracked, for metrics and tests.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
