package shell

import (
	"context"
	"runtime"
	"testing"
	"time"
)

var sink []byte

func TestReturnIdleMemoryGivesBackWhatAHashLeft(t *testing.T) {
	// What a password hash leaves behind: 64 MiB, used once.
	sink = make([]byte, 64<<20)
	for i := range sink {
		sink[i] = byte(i)
	}
	sink = nil
	runtime.GC()
	if IdleBytes() < 32<<20 {
		t.Fatalf("expected the freed 64 MiB to be idle, not yet returned; %d bytes idle", IdleBytes())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ReturnIdleMemory(ctx, 20*time.Millisecond, 16<<20); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for IdleBytes() > 16<<20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if idle := IdleBytes(); idle > 16<<20 {
		t.Fatalf("%d MiB idle after trimming", idle>>20)
	}
}
