package shell

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrRunning says another instance of the app holds the lock.
var ErrRunning = errors.New("HealthHub is already running for this user")

// InstanceLock is held by the one running instance of the app for a
// settings folder, so that a second launch never opens the same data.
type InstanceLock struct{ f *os.File }

// LockInstance takes the lock in dir, or returns ErrRunning at once.
func LockInstance(dir string) (*InstanceLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "instance.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, ErrRunning
		}
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return &InstanceLock{f: f}, nil
}

// Release lets the next instance start.
func (l *InstanceLock) Release() error { return l.f.Close() }

var errLocked = errors.New("locked")
