package notify

import (
	"context"
	"strings"
	"time"
	"unicode"
)

// DoctorName is how messages name a doctor: with "Dr" before the name,
// unless the name already begins with a title (Dr, Dr., Doctor), so a
// doctor entered as "Dr. Lee" is never "Dr Dr. Lee".
func DoctorName(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return "your doctor"
	}
	if HasDoctorTitle(name) {
		return name
	}
	return "Dr " + name
}

// HasDoctorTitle reports whether a name already begins with a doctor's title.
func HasDoctorTitle(name string) bool {
	first := strings.FieldsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || r == '.' })
	if len(first) == 0 {
		return false
	}
	switch strings.ToLower(first[0]) {
	case "dr", "doctor":
		return true
	}
	return false
}

// When states an appointment's time in loc and names the zone, so that a
// reader in another zone (or a mail client that shows times in its own)
// cannot misread it: "Tuesday 8 December 2026 at 09:30–10:00 (Europe/Berlin)".
func When(start, end time.Time, loc *time.Location) string {
	s, e := start.In(loc), end.In(loc)
	out := s.Format("Monday 2 January 2006 at 15:04")
	if !e.IsZero() && e.After(s) {
		if e.YearDay() == s.YearDay() && e.Year() == s.Year() {
			out += "–" + e.Format("15:04")
		} else {
			out += " to " + e.Format("Monday 2 January 2006 at 15:04")
		}
	}
	return out + " (" + ZoneName(loc) + ")"
}

// ShortWhen is the start of an appointment for a subject line, with the zone
// abbreviation: "Tue 8 Dec at 09:30 CET".
func ShortWhen(start time.Time, loc *time.Location) string {
	return start.In(loc).Format("Mon 2 Jan at 15:04 MST")
}

// ZoneName is the IANA name of loc ("UTC" for UTC).
func ZoneName(loc *time.Location) string {
	if loc == nil || loc == time.UTC {
		return "UTC"
	}
	return loc.String()
}

// Location is the zone messages about a doctor's appointments state times
// in: the doctor's own (zone, from their hours), else the clinic's, else UTC.
func Location(ctx context.Context, zone string, clinic func(context.Context) (string, error)) *time.Location {
	if zone == "" && clinic != nil {
		zone, _ = clinic(ctx)
	}
	if zone == "" || zone == "Local" {
		return time.UTC
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.UTC
	}
	return loc
}
