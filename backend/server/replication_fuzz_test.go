package server

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseRestoreTarget: any --to is a time, latest, or an error that
// says what to write; never a panic, never a time after now from "ago".
func FuzzParseRestoreTarget(f *testing.F) {
	for _, s := range []string{"latest", "2026-12-07T15:30:00Z", "2026-12-07T15:30:00.123456789+01:00", "90m ago", "1h30m ago",
		" 5s ago ", "-5m ago", "0s ago", "yesterday", "", "2026-13-40T99:99:99Z", "9999999h ago", "ago", "1e9h ago"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		at, err := parseRestoreTarget(s, now)
		if err != nil {
			if !strings.Contains(err.Error(), "--to must be") {
				t.Fatalf("%q: error %v does not say what to write", s, err)
			}
			return
		}
		if strings.HasSuffix(strings.TrimSpace(s), " ago") && !at.Before(now) {
			t.Fatalf("%q is %v, not before now", s, at)
		}
		if strings.TrimSpace(s) == "latest" != at.IsZero() {
			t.Fatalf("%q is %v", s, at)
		}
	})
}

func TestParseRestoreTarget(t *testing.T) {
	now := time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"latest":                 {},
		"2026-12-07T15:30:00Z":   time.Date(2026, 12, 7, 15, 30, 0, 0, time.UTC),
		"2026-12-07T15:30:00.5Z": time.Date(2026, 12, 7, 15, 30, 0, 5e8, time.UTC),
		"90m ago":                now.Add(-90 * time.Minute),
	} {
		got, err := parseRestoreTarget(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-5m ago", "0s ago", "2026-12-07 15:30", "1999-01-01T00:00:00Z"} {
		if _, err := parseRestoreTarget(in, now); err == nil {
			t.Errorf("%q was accepted", in)
		}
	}
}
