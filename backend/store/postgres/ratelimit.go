package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// rateLimitPruneEvery is how often spent buckets are deleted.
const rateLimitPruneEvery = 5 * time.Minute

var lastRateLimitPrune atomic.Int64

// TakeToken spends one token of a shared rate-limit bucket (ratelimit.Store).
// The bucket is one row, read and changed by one statement that holds the
// row's lock, so processes taking tokens of one key at once take turns and
// none is counted twice or missed.
func (db *DB) TakeToken(ctx context.Context, key string, now time.Time, interval, tolerance time.Duration) (bool, time.Duration, error) {
	nowUS, step, tol := now.UnixMicro(), interval.Microseconds(), tolerance.Microseconds()
	var tat int64
	err := db.pool.QueryRow(ctx, `
		INSERT INTO rate_limits AS r (key, tat_us) VALUES ($1, $2::bigint + $3::bigint)
		ON CONFLICT (key) DO UPDATE SET tat_us = GREATEST(r.tat_us, $2::bigint) + $3::bigint
		WHERE GREATEST(r.tat_us, $2::bigint) <= $2::bigint + $4::bigint
		RETURNING tat_us`, key, nowUS, step, tol).Scan(&tat)
	if errors.Is(err, pgx.ErrNoRows) {
		// Refused: the bucket is empty until tat - tolerance.
		err = db.pool.QueryRow(ctx, `SELECT tat_us FROM rate_limits WHERE key = $1`, key).Scan(&tat)
		if errors.Is(err, pgx.ErrNoRows) { // pruned in between: full again
			return db.TakeToken(ctx, key, now, interval, tolerance)
		}
		if err != nil {
			return false, 0, fmt.Errorf("read rate limit: %w", err)
		}
		return false, max(time.Duration(tat-tol-nowUS)*time.Microsecond, time.Millisecond), nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("take rate limit token: %w", err)
	}
	db.pruneRateLimits(ctx, now)
	return true, 0, nil
}

// pruneRateLimits deletes buckets that have refilled completely, at most
// every rateLimitPruneEvery per process.
func (db *DB) pruneRateLimits(ctx context.Context, now time.Time) {
	last := lastRateLimitPrune.Load()
	if now.UnixMicro()-last < rateLimitPruneEvery.Microseconds() || !lastRateLimitPrune.CompareAndSwap(last, now.UnixMicro()) {
		return
	}
	// A bucket whose arrival time has passed is full; deleting it changes
	// nothing a later TakeToken would decide.
	_, _ = db.pool.Exec(ctx, `DELETE FROM rate_limits WHERE tat_us < $1::bigint`, now.UnixMicro())
}
