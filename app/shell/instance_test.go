package shell

import (
	"errors"
	"os"
	"os/exec"
	"testing"
)

// One instance per settings folder: a second lock, even from another
// process, is refused until the first is released.
func TestInstanceLock(t *testing.T) {
	dir := t.TempDir()
	if os.Getenv("HEALTHHUB_LOCK_CHILD") != "" {
		if _, err := LockInstance(os.Getenv("HEALTHHUB_LOCK_CHILD")); errors.Is(err, ErrRunning) {
			os.Exit(3)
		}
		os.Exit(0)
	}
	first, err := LockInstance(dir)
	if err != nil {
		t.Fatal(err)
	}
	child := func() int {
		cmd := exec.Command(os.Args[0], "-test.run=^TestInstanceLock$")
		cmd.Env = append(os.Environ(), "HEALTHHUB_LOCK_CHILD="+dir)
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	if code := child(); code != 3 {
		t.Fatalf("another process took the lock (exit %d)", code)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if code := child(); code != 0 {
		t.Fatalf("the lock was not released (exit %d)", code)
	}
}
