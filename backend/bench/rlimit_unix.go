//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package bench

import (
	"fmt"
	"syscall"
)

// ensureOpenFiles raises the soft limit on open files towards the hard
// limit when it is below need, and reports an error when even the hard
// limit is too low.
func ensureOpenFiles(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read the open-file limit: %w", err)
	}
	if uint64(lim.Cur) >= need {
		return nil
	}
	if uint64(lim.Max) > uint64(lim.Cur) {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		}
	}
	if uint64(lim.Cur) < need {
		return fmt.Errorf("the open-file limit is %d but about %d are needed; raise it (ulimit -n) or use fewer clients", uint64(lim.Cur), need)
	}
	return nil
}
