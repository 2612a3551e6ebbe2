//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package bench

// ensureOpenFiles does nothing where there is no RLIMIT_NOFILE to raise.
func ensureOpenFiles(uint64) error { return nil }
