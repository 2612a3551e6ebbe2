package fhir

import "time"

// Internals the external tests drive directly.

func ParseDateParam(field, v string) (from, to time.Time, err error) {
	r, err := parseDateParam(field, v)
	return r.From, r.To, err
}

func ParseDateValue(field, v string) (lo, hi time.Time, err error) { return parseDateValue(field, v) }

func ParseReference(field, v, base string, types ...string) (string, string, error) {
	return parseReference(field, v, base, types...)
}

func SlotID(doctorID string, start, end time.Time) string { return slotID(doctorID, start, end) }

func ParseSlotID(id string) (string, time.Time, time.Time, error) { return parseSlotID("slot", id) }

func ValidID(id string) bool { return validID(id) }
