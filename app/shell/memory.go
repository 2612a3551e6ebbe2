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

// ReturnIdleMemory gives memory the heap no longer uses back to the system
// every interval, when there is more than slack of it, until ctx ends. Go
// does this by itself, but slowly; a desktop app should not keep the
// memory of a sign-in's password hash or a finished import for minutes.
func ReturnIdleMemory(ctx context.Context, interval time.Duration, slack uint64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if IdleBytes() > slack {
			debug.FreeOSMemory()
		}
	}
}

// IdleBytes is heap memory held from the system but not in use.
func IdleBytes() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapIdle - m.HeapReleased
}
