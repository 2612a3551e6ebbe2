package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/store"
)

func testBackupCanary(t *testing.T, db store.DB) {
	ctx := context.Background()
	if _, ok, err := db.NewestCanary(ctx); err != nil || ok {
		t.Fatalf("NewestCanary on an empty store = ok %v, %v; want none", ok, err)
	}
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Minute)
		if err := db.WriteCanary(ctx, at, at.Add(-2*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := db.NewestCanary(ctx)
	if err != nil || !ok || !got.Equal(t0.Add(4*time.Minute).Truncate(time.Microsecond)) {
		t.Fatalf("NewestCanary = %v, %v, %v; want %v", got, ok, err, t0.Add(4*time.Minute))
	}
	// A keepAfter past every canary prunes them all, the new one too.
	if err := db.WriteCanary(ctx, t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := db.NewestCanary(ctx); err != nil || ok {
		t.Fatalf("NewestCanary after pruning = %v, %v, %v; want none", got, ok, err)
	}
}
