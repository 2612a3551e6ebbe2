package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWhole(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "folder")
	name := filepath.Join(dir, "keyring.json")
	if err := Write(name, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(name, []byte("second, longer"), 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(name)
	if err != nil || string(got) != "second, longer" {
		t.Fatalf("content %q %v", got, err)
	}
	if info, _ := os.Stat(name); info.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", info.Mode())
	}
	if info, _ := os.Stat(dir); info.Mode().Perm() != 0o700 {
		t.Fatalf("folder mode %v", info.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

// A write that cannot finish leaves the old file as it was.
func TestFailedWriteKeepsTheOldFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "settings.json")
	if err := Write(name, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A folder where the file's temporary twin would be renamed to makes
	// the rename fail.
	blocked := filepath.Join(dir, "blocked")
	os.MkdirAll(filepath.Join(blocked, "inside"), 0o700)
	if err := Write(blocked, []byte("new"), 0o600); err == nil {
		t.Fatal("renamed over a folder")
	}
	if got, _ := os.ReadFile(name); string(got) != "old" {
		t.Fatalf("old file now %q", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("temporary files left: %v", entries)
	}
}
