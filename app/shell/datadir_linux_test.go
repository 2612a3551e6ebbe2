package shell

import (
	"strings"
	"testing"
)

// A folder on a read-only file system (here /proc, which refuses new files
// even to root) is refused with the reason before anything is opened.
func TestCheckDataDirReadOnly(t *testing.T) {
	if err := CheckDataDir("/proc/self"); err == nil || !strings.Contains(err.Error(), "cannot be written to") {
		t.Fatalf("read-only folder: %v", err)
	}
}
