package shell

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// DesktopMemoryLimit is the Go heap's soft limit in the desktop app: a
// workstation runs other programs, and the bundled server's work comes in
// bursts (a password hash takes 64 MiB for a moment, an import reads files).
const DesktopMemoryLimit = 96 << 20

// LimitMemory sets the soft memory limit unless GOMEMLIMIT chose one.
func LimitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(DesktopMemoryLimit)
	}
}

// ReturnIdleMemory gives memory back to the system every interval, when
// the heap grew by more than slack since the last time or holds more than
// slack unused, until ctx ends. Go does this by itself, but lazily: the
// 64 MiB a sign-in's password hash took would stay with the app until the
// heap next doubles. A collection of the app's small live heap costs a few
// milliseconds.
func ReturnIdleMemory(ctx context.Context, interval time.Duration, slack uint64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var live uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapAlloc > live+slack || m.HeapIdle-m.HeapReleased > slack {
			debug.FreeOSMemory()
			runtime.ReadMemStats(&m)
			live = m.HeapAlloc
		}
	}
}

// IdleBytes is heap memory held from the system but not in use.
func IdleBytes() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapIdle - m.HeapReleased
}
