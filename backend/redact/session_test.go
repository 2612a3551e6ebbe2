package redact_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/redact"
)

var clinicPatients = []string{"Maria Gonzalez", "Wei Zhang", "John O'Neil"}

func TestSessionPlaceholdersAreStable(t *testing.T) {
	s := redact.NewDetector(clinicPatients).NewSession()
	first, n := s.Redact("Maria Gonzalez (born 03/14/1985) asks to be called on 555-214-8830 or (555) 214-8830.")
	if n != 4 {
		t.Fatalf("replaced %d identifiers, want 4: %q", n, first)
	}
	want := "[PATIENT_1] (born [DATE_1]) asks to be called on [PHONE_1] or [PHONE_1]."
	if first != want {
		t.Fatalf("got  %q\nwant %q", first, want)
	}
	// Later turns reuse the placeholders; another form of the same name
	// is the same patient.
	second, _ := s.Redact("Maria says 555.214.8830 is fine; Wei Zhang's e-mail is wei@example.org.")
	if second != "[PATIENT_1] says [PHONE_1] is fine; [PATIENT_2]'s e-mail is [EMAIL_1]." {
		t.Fatalf("second turn: %q", second)
	}
	if got := s.Restore("Thank you [PATIENT_1], we will call [PHONE_1] and write to [EMAIL_1]; [PHONE_9] stays."); got != "Thank you Maria Gonzalez, we will call 555-214-8830 and write to wei@example.org; [PHONE_9] stays." {
		t.Fatalf("restored %q", got)
	}
	if s.Replaced() != 8 || !s.Aliased() {
		t.Fatalf("Replaced() = %d, want 8; Aliased() = %t, want true (Maria and Maria Gonzalez)", s.Replaced(), s.Aliased())
	}
}

func TestNothingToRedact(t *testing.T) {
	s := redact.NewDetector(clinicPatients).NewSession()
	for _, text := range []string{
		"Take 500 mg twice a day; blood pressure was 120/80 at 9:30.",
		"Dr. Patel sees patients from 8 to 18, room 12, since 2019.",
		"Half a tablet (1/2) with food; HbA1c 7.2%, code E11.9, app version 2.3.1.",
		"Please bring photo ID; the fingerprint reader on the staff door is broken and registration opens at 8.",
		"The serial number is printed under the battery cover; the plate camera at the gate reads plates by itself.",
		"Diabetic retinal screening photos take 20 minutes; we do not keep fingerprints or face scans of patients.",
		"Staff headshots for the website are taken on the first Monday; clinical photos of wounds go in the record.",
	} {
		if got, n := s.Redact(text); n != 0 || got != text {
			t.Errorf("%q became %q", text, got)
		}
	}
}

// TestStreamedRestore: a placeholder split anywhere across deltas is
// restored whole, and text that only looks like the start of one is not
// held back at the end.
func TestStreamedRestore(t *testing.T) {
	s := redact.NewDetector(clinicPatients).NewSession()
	s.Redact("Call Wei Zhang on 555-214-8830.")
	answer := "We will call [PATIENT_1] on [PHONE_1] [today]. See [1] and [PHONE_"
	want := "We will call Wei Zhang on 555-214-8830 [today]. See [1] and [PHONE_"
	for size := 1; size <= len(answer); size++ {
		if got := restoreInDeltas(s, answer, size); got != want {
			t.Fatalf("deltas of %d bytes: %q", size, got)
		}
	}
	// Text after a bracket that cannot become a placeholder is passed on at once.
	r := s.Restorer()
	if got := r.Write("Note [see"); got != "Note [see" {
		t.Fatalf("held back %q", got)
	}
	if got := r.Write(" [PAT"); got != " " {
		t.Fatalf("passed on %q before the placeholder was whole", got)
	}
}

// restoreInDeltas restores answer streamed in deltas of size bytes.
func restoreInDeltas(s *redact.Session, answer string, size int) string {
	r := s.Restorer()
	var b strings.Builder
	for i := 0; i < len(answer); i += size {
		b.WriteString(r.Write(answer[i:min(i+size, len(answer))]))
	}
	b.WriteString(r.Flush())
	return b.String()
}

// FuzzRedact: any text (a message is outside input) is redacted without a
// crash, spans are inside the text and in order, and restoring the redacted
// text gives the original back (unless one placeholder stood for a person
// written two ways, which restores as the first).
func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"Maria Gonzalez, 742 Evergreen Terrace, Springfield, IL 62704, 555-214-8830",
		"SSN 123-45-6789, MRN 00482913, member ID XJH123456789, account 4400-1289-77",
		"https://portal.example.org/x?y=1 from 192.0.2.4 and 2001:db8::1, born March 14, 1985",
		"Mrs. Kowalski's fax: (312) 555-0199 ext. 22 on 14.03.1985 [PATIENT_1] [",
		"\xff\xfe broken utf-8 555-214-8830",
		"plate KX19 LMN, VIN 1HGCM82633A004352, serial no. SN-4471-XK9, MAC 00:1A:2B:3C:4D:5E, passport X4412907",
		"Maria's fingerprint template FP-20931 is on file; the full-face photo of wei-zhang IMG_2291.jpg [BIOMETRIC_",
		"UDI (01)00643169007222(17)260128(21)BLC200461H, registration B-MW 2291 I, licence plate ABC-4471-",
	} {
		f.Add(s)
	}
	d := redact.NewDetector(clinicPatients)
	f.Fuzz(func(t *testing.T, text string) {
		spans := d.Find(text)
		last := 0
		for _, sp := range spans {
			if sp.Start < last || sp.End <= sp.Start || sp.End > len(text) {
				t.Fatalf("span %+v out of order or bounds (text %d bytes)", sp, len(text))
			}
			last = sp.End
		}
		s := d.NewSession()
		red, _ := s.Redact(text)
		if strings.Contains(text, "[") || s.Aliased() {
			return // placeholder-like text of its own, or one person written two ways
		}
		if got := s.Restore(red); got != text {
			t.Fatalf("restore(%q) = %q, want %q", red, got, text)
		}
		if utf8.ValidString(text) && !utf8.ValidString(red) {
			t.Fatalf("redaction broke UTF-8: %q", red)
		}
	})
}

// TestSharedAndSingleNames: a first name two patients share and a
// one-word name are still redacted.
func TestSharedAndSingleNames(t *testing.T) {
	s := redact.NewDetector([]string{"John Smithers", "John Okafor", "Cherilyn"}).NewSession()
	got, n := s.Redact("John called; Cherilyn and Okafor too.")
	if n != 3 || strings.Contains(got, "John") || strings.Contains(got, "Cherilyn") || strings.Contains(got, "Okafor") {
		t.Fatalf("%q (%d replaced)", got, n)
	}
}

// TestThingsAPersonOwnsOrIs: vehicles, devices, licences, biometrics and
// photos are redacted; one plate written two ways is one placeholder, and
// the longest placeholders are restored even when split across deltas.
func TestThingsAPersonOwnsOrIs(t *testing.T) {
	s := redact.NewDetector(clinicPatients).NewSession()
	got, _ := s.Redact("Wei Zhang's fingerprint is on file; his car KX19 LMN (VIN 1HGCM82633A004352) is parked, plate KX19-LMN. " +
		"Pump serial number SN-4471-XK9, driving licence ZHANG751209WZ9IJ, and the full-face photo of Maria Gonzalez is attached.")
	want := "[PATIENT_1]'s [BIOMETRIC_1] is on file; his car [VEHICLE_1] (VIN [VEHICLE_2]) is parked, plate [VEHICLE_1]. " +
		"Pump serial number [DEVICE_1], driving licence [LICENSE_1], and the [PHOTO_1] of [PATIENT_2] is attached."
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	answer := "[BIOMETRIC_1] and [VEHICLE_1] of [PATIENT_1]."
	for size := 1; size <= len(answer); size++ {
		if got := restoreInDeltas(s, answer, size); got != "fingerprint and KX19 LMN of Wei Zhang." {
			t.Fatalf("deltas of %d bytes: %q", size, got)
		}
	}
}

// TestNamesInsideWords: a name joined by hyphens or underscores, as in a
// document's file name, is still a name, and the same person's placeholder.
func TestNamesInsideWords(t *testing.T) {
	s := redact.NewDetector(clinicPatients).NewSession()
	got, _ := s.Redact("[2] wei-zhang-referral › maria_gonzalez_consent; Mrs O'Neil's MRI is booked, then Wei Zhang's.")
	if want := "[2] [PATIENT_1]-referral › [PATIENT_2]_consent; Mrs [PATIENT_3]'s MRI is booked, then [PATIENT_1]'s."; got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
