package notify

import (
	"testing"
	"time"
)

func TestDoctorNameHasOneTitle(t *testing.T) {
	for name, want := range map[string]string{
		"Ada Lovelace":    "Dr Ada Lovelace",
		"Dr Ada Lovelace": "Dr Ada Lovelace",
		"Dr. Lee":         "Dr. Lee",
		"dr. lee":         "dr. lee",
		"DR LEE":          "DR LEE",
		"Doctor Who":      "Doctor Who",
		"Drew Barrymore":  "Dr Drew Barrymore",
		"  Dr.Lee  ":      "Dr.Lee",
		"":                "your doctor",
		"Dre Dreyfus":     "Dr Dre Dreyfus",
		"Doctorow Cory":   "Dr Doctorow Cory",
	} {
		if got := DoctorName(name); got != want {
			t.Errorf("DoctorName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestWhenNamesTheZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 8, 8, 30, 0, 0, time.UTC)
	if got, want := When(start, start.Add(30*time.Minute), berlin), "Tuesday 8 December 2026 at 09:30–10:00 (Europe/Berlin)"; got != want {
		t.Errorf("When = %q, want %q", got, want)
	}
	if got, want := When(start, time.Time{}, time.UTC), "Tuesday 8 December 2026 at 08:30 (UTC)"; got != want {
		t.Errorf("When without an end = %q, want %q", got, want)
	}
	if got, want := ShortWhen(start, berlin), "Tue 8 Dec at 09:30 CET"; got != want {
		t.Errorf("ShortWhen = %q, want %q", got, want)
	}
}
