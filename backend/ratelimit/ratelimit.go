// Package ratelimit limits how often a key (an IP address, an account) may do
// something, with token buckets that are forgotten once idle. Server
// processes sharing a database share their buckets through it (Share), so a
// limit holds for the deployment, not for each replica.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Store keeps buckets for every server process of a deployment.
type Store interface {
	// TakeToken spends one token of key's bucket, which refills one token
	// every interval and holds up to tolerance/interval+1 tokens (the
	// generic cell rate algorithm: the bucket is its theoretical arrival
	// time). When the bucket is empty it returns false and how long until a
	// token is back.
	TakeToken(ctx context.Context, key string, now time.Time, interval, tolerance time.Duration) (bool, time.Duration, error)
}

// Limiter keeps one token bucket per key.
type Limiter struct {
	mu      sync.Mutex
	perMin  float64
	burst   int
	buckets map[string]*bucket
	sweep   time.Time

	shared     Store
	name       string
	logger     *slog.Logger
	sharedDown atomic.Bool // the last shared call failed: said once in the log
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

// Share keeps the buckets in store under name (which tells this limiter's
// buckets from others'), so every process sharing the store counts toward
// one limit. Keys are stored hashed: addresses and e-mail addresses do not
// reach the database. When the store fails, the process's own buckets
// answer until it is back, so an outage neither lifts the limit nor locks
// everyone out.
func (l *Limiter) Share(store Store, name string, logger *slog.Logger) *Limiter {
	if l == nil {
		return nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l.shared, l.name, l.logger = store, name, logger
	return l
}

// Allow reports whether the key may act at now; when not, it also returns
// how long until it may.
func (l *Limiter) Allow(ctx context.Context, key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.perMin <= 0 {
		return true, 0
	}
	if l.shared != nil {
		interval := time.Duration(float64(time.Minute) / l.perMin)
		ok, wait, err := l.shared.TakeToken(ctx, l.sharedKey(key), now, interval, time.Duration(l.burst-1)*interval)
		if err == nil {
			if l.sharedDown.Swap(false) {
				l.logger.Info("rate limit: shared buckets are answering again", "limiter", l.name)
			}
			return ok, wait
		}
		if !l.sharedDown.Swap(true) {
			l.logger.Warn("rate limit: shared buckets unavailable; this process counts alone until they are back", "limiter", l.name, "err", err)
		}
	}
	return l.allowLocal(key, now)
}

// sharedKey names key's bucket in the shared store without revealing it.
func (l *Limiter) sharedKey(key string) string {
	h := sha256.Sum256([]byte(l.name + "\x00" + key))
	return l.name + ":" + hex.EncodeToString(h[:16])
}

func (l *Limiter) allowLocal(key string, now time.Time) (bool, time.Duration) {
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
