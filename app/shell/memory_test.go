package shell

import (
	"context"
	"runtime"
	"testing"
	"time"
)

var sink []byte

// heldBytes is what the heap holds from the system: in use (live or
// garbage not yet collected) and idle but not returned.
func heldBytes() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.HeapIdle - m.HeapReleased
}

func TestReturnIdleMemoryGivesBackWhatAHashLeft(t *testing.T) {
	before := heldBytes()
	// What a password hash leaves behind: 64 MiB, used once, not yet
	// collected.
	sink = make([]byte, 64<<20)
	for i := range sink {
		sink[i] = byte(i)
	}
	sink = nil
	if held := heldBytes(); held < before+32<<20 {
		t.Fatalf("the hash's memory is not held: %d MiB before, %d MiB after", before>>20, held>>20)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ReturnIdleMemory(ctx, 20*time.Millisecond, 16<<20); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for heldBytes() > before+16<<20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if held := heldBytes(); held > before+16<<20 {
		t.Fatalf("%d MiB held after trimming, %d MiB before the hash", held>>20, before>>20)
	}
}
