package shell

import (
	"fmt"
	"os"
	"path/filepath"
)

// MinFreeBytes is the space a standalone data folder needs free to start:
// the database grows with every booking and document, and SQLite needs
// room for its journal to change anything safely.
const MinFreeBytes = 64 << 20

// CheckDataDir makes sure dir can hold the standalone server's data before
// anything is opened in it: it exists (or is made), it can be written, and
// the disk has MinFreeBytes free. It changes nothing already there.
func CheckDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("the data folder %s cannot be created: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("the data folder %s cannot be written to: %w", dir, err)
	}
	name := probe.Name()
	_, werr := probe.Write([]byte("ok"))
	serr := probe.Sync()
	probe.Close()
	os.Remove(name)
	if werr != nil || serr != nil {
		return fmt.Errorf("the data folder %s cannot be written to: %w", dir, firstErr(werr, serr))
	}
	free, err := freeBytes(filepath.Clean(dir))
	if err != nil {
		return nil // unknown: SQLite reports a full disk itself
	}
	if free < MinFreeBytes {
		return fmt.Errorf("the disk of the data folder %s is full: %d MB free, HealthHub needs at least %d MB", dir, free>>20, MinFreeBytes>>20)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
