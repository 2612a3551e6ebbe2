package fhir_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/fhir"
)

// refusal checks that err is invalid input with a short, readable message.
func refusal(t *testing.T, what, v string, err error) {
	t.Helper()
	msg := domain.ErrorMessage(err)
	if domain.ErrorCode(err) != domain.EINVALID || msg == "" || !utf8.ValidString(msg) || len(msg) > 400 {
		t.Fatalf("%s %q: refused with %v (%q)", what, v, err, msg)
	}
}

// FuzzSearchParams drives the parsing of search parameters and slot ids with
// any input: nothing panics, refusals are invalid input with a message, and
// what is accepted is well formed (date ranges non-empty and in UTC,
// references to an allowed type with a valid id, slot ids canonical).
func FuzzSearchParams(f *testing.F) {
	for _, s := range []string{"2026", "2026-03", "2026-03-01", "ge2026-03-01T09:00:00Z", "lt2026-03-01T09:00+01:00", "le2026-03-01T09:00:00.123456789-05:30",
		"gt2026-03-01T09:00:00 01:00", "eq2026-02-29", "ne2026-01-01", "xx2026", "2026-13-01", "9999-12-31T23:59:59Z", "0000-01-01", "ge2026-03-01T24:00:00Z",
		"Patient/abc", "Practitioner/0190a0a0-0000-7000-8000-000000000000", "https://h.example/fhir/R4/Patient/1", "https://evil.example/Patient/1",
		"Patient/", "/1", "Patient/a/_history/1", "Location/1", "abc",
		"0190a0a0-0000-7000-8000-000000000000.1795737600.1795739400", "d.1.2", "d.01.2", "d.2.1", "d.0.28801", "d..1.2", ".1.2", "a.b.c.1.2", "d.253402300799.253402300800",
		"0001-01-01T00:00:00.01 00:10", "9999-12-31T23:59:00-01:00"} {
		f.Add(s, int64(1795737600), uint16(30))
	}
	f.Fuzz(func(t *testing.T, v string, unix int64, minutes uint16) {
		if from, to, err := fhir.ParseDateParam("date", v); err != nil {
			refusal(t, "date", v, err)
		} else {
			if from.IsZero() && to.IsZero() {
				t.Fatalf("date %q: no bound", v)
			}
			if !from.IsZero() && !to.IsZero() && !from.Before(to) {
				t.Fatalf("date %q: empty range %v..%v", v, from, to)
			}
			if (!from.IsZero() && from.Location() != time.UTC) || (!to.IsZero() && to.Location() != time.UTC) {
				t.Fatalf("date %q: not UTC", v)
			}
		}
		if lo, hi, err := fhir.ParseDateValue("date", v); err == nil {
			if !lo.Before(hi) {
				t.Fatalf("date value %q: range %v..%v", v, lo, hi)
			}
			again, _, err := fhir.ParseDateValue("date", lo.Format(time.RFC3339Nano))
			if err != nil || !again.Equal(lo) {
				t.Fatalf("date value %q: %v does not read back (%v, %v)", v, lo, again, err)
			}
		}

		if typ, id, err := fhir.ParseReference("patient", v, "https://h.example/fhir/R4", "Patient", "Practitioner"); err != nil {
			refusal(t, "reference", v, err)
		} else if (typ != "Patient" && typ != "Practitioner") || !fhir.ValidID(id) {
			t.Fatalf("reference %q: accepted as %s/%s", v, typ, id)
		}
		if typ, id, err := fhir.ParseReference("schedule", v, "", "Schedule"); err != nil {
			refusal(t, "reference", v, err)
		} else if typ != "Schedule" || !fhir.ValidID(id) || (!strings.Contains(v, "/") && id != v) {
			t.Fatalf("reference %q: accepted as %s/%s", v, typ, id)
		}

		if doctor, start, end, err := fhir.ParseSlotID(v); err != nil {
			refusal(t, "slot id", v, err)
		} else {
			if got := fhir.SlotID(doctor, start, end); got != v {
				t.Fatalf("slot id %q reads as %s %v %v, which is %q", v, doctor, start, end, got)
			}
			if !end.After(start) || end.Sub(start) > 8*time.Hour || !fhir.ValidID(doctor) {
				t.Fatalf("slot id %q: %s %v %v", v, doctor, start, end)
			}
		}
		// Every slot the server can offer round-trips through its id.
		if fhir.ValidID(v) && len(v) <= 40 {
			start := time.Unix(1+(unix&0x7fffffff)%253402300000, 0).UTC()
			end := start.Add(time.Duration(1+minutes%480) * time.Minute)
			id := fhir.SlotID(v, start, end)
			doctor, s, e, err := fhir.ParseSlotID(id)
			if err != nil || doctor != v || !s.Equal(start) || !e.Equal(end) {
				t.Fatalf("slot %s %v %v: id %q reads as %s %v %v (%v)", v, start, end, id, doctor, s, e, err)
			}
		}
	})
}
