package domain

import (
	"context"
	"time"
)

// CanaryStore keeps the backup canary: a row written every minute so that a
// restored copy tells how recent it is (the newest canary it holds).
type CanaryStore interface {
	// WriteCanary adds a canary written at t and removes those written
	// before keepAfter.
	WriteCanary(ctx context.Context, t, keepAfter time.Time) error
	// NewestCanary is the time of the newest canary; ok is false when there
	// is none.
	NewestCanary(ctx context.Context) (t time.Time, ok bool, err error)
}
