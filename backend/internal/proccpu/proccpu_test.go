package proccpu

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	// A command name may hold spaces and parentheses: the fields start
	// after the last ")".
	line := []byte("4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 100 0 0\n")
	if d, ok := parse(line); !ok || d != 3250*time.Millisecond {
		t.Fatalf("parse = %v, %v; want 3.25s", d, ok)
	}
	for _, bad := range []string{"", "4242 no paren", "4242 (x) S 1 2"} {
		if _, ok := parse([]byte(bad)); ok {
			t.Fatalf("parse(%q) took it", bad)
		}
	}
	if _, ok := Of(0); !ok {
		t.Fatal("this process's own CPU time cannot be read")
	}
}
