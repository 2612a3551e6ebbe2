package fhir_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

func TestCapabilityStatement(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := newServer(t, eng.Open(t))
			cs := s.get("/fhir/R4/metadata", "", 200, "CapabilityStatement")
			if cs["status"] != "active" || cs["kind"] != "instance" || cs["fhirVersion"] != "4.0.1" || fmt.Sprint(cs["format"]) != "[json]" {
				t.Fatalf("statement %v", cs)
			}
			rest := cs["rest"].([]any)[0].(map[string]any)
			if rest["mode"] != "server" {
				t.Fatalf("rest mode %v", rest["mode"])
			}
			got := map[string][]string{}
			for _, r := range rest["resource"].([]any) {
				res := r.(map[string]any)
				var names []string
				sps, _ := res["searchParam"].([]any)
				for _, sp := range sps {
					names = append(names, sp.(map[string]any)["name"].(string))
				}
				for _, in := range res["interaction"].([]any) {
					names = append(names, "#"+in.(map[string]any)["code"].(string))
				}
				got[res["type"].(string)] = names
			}
			want := map[string][]string{
				"Patient":      {"name", "_count", "_offset", "_summary", "#read", "#search-type"},
				"Practitioner": {"name", "specialty", "_count", "_offset", "_summary", "#read", "#search-type"},
				"Schedule":     {"actor", "_count", "_offset", "_summary", "#read", "#search-type"},
				"Slot":         {"schedule", "start", "status", "_count", "_offset", "_summary", "#search-type"},
				"Appointment":  {"patient", "practitioner", "actor", "date", "status", "_count", "_offset", "_summary", "#read", "#search-type", "#create"},
				"AuditEvent":   {"patient", "agent", "date", "_count", "_before", "#search-type"},
			}
			for typ, names := range want {
				if !slices.Equal(got[typ], names) {
					t.Errorf("%s: %v, want %v", typ, got[typ], names)
				}
			}
			if len(got) != len(want) {
				t.Errorf("resources %v", got)
			}
			// Pretty printing and content negotiation.
			res := s.do("GET", "/fhir/R4/metadata?_pretty=true", "", nil)
			if !strings.Contains(string(res.Body), "\n  \"resourceType\"") {
				t.Fatalf("_pretty=true is not indented: %.80s", res.Body)
			}
			s.outcome(s.do("GET", "/fhir/R4/metadata?_format=xml", "", nil), 406, "not-supported")
			s.outcome(s.do("GET", "/fhir/R4/metadata", "", nil, "Accept", "application/fhir+xml"), 406, "not-supported")
			s.get("/fhir/R4/metadata?_format=application/fhir%2Bjson", "", 200, "CapabilityStatement")
			s.outcome(s.do("GET", "/fhir/R4/metadata?mode=full", "", nil), 400, "invalid")
		})
	}
}

func TestPatientReadAndSearch(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := newServer(t, eng.Open(t))
			w := newWorld(t, s)
			own, other := "/fhir/R4/Patient/"+w.ownPatient.ID, "/fhir/R4/Patient/"+w.otherPatient.ID

			s.outcome(s.do("GET", own, "", nil), 401, "security")
			s.outcome(s.do("GET", own, "not-a-token", nil), 401, "security")

			// A patient reads their own record, with identifiers, and the
			// read is audited; another's record is refused, and that too.
			p := s.get(own, w.tokens["patient"], 200, "Patient")
			name := p["name"].([]any)[0].(map[string]any)
			if p["id"] != w.ownPatient.ID || name["text"] != "Alice Own" || name["family"] != "Own" || fmt.Sprint(name["given"]) != "[Alice]" ||
				p["gender"] != "female" || p["birthDate"] != "1985-06-07" {
				t.Fatalf("patient %v", p)
			}
			ident := p["identifier"].([]any)[0].(map[string]any)
			if ident["system"] != "urn:healthhub:insurance-member" || ident["value"] != w.ownPatient.InsuranceMemberNumber ||
				ident["assigner"].(map[string]any)["display"] != "Acme Health" {
				t.Fatalf("identifier %v", ident)
			}
			body, _ := json.Marshal(p)
			for _, want := range []string{`"system":"phone","value":"+1 555 0100"`, `"system":"email"`, `"city":"Springfield"`, `"line":["1 Main St"]`,
				`"text":"sister"`, `"code":"C"`, `"family":"Sister"`} {
				if !strings.Contains(string(body), want) {
					t.Errorf("patient lacks %s: %s", want, body)
				}
			}
			if !s.audited(w.users["patient"].ID, domain.ActionRead, "patient", w.ownPatient.ID, domain.OutcomeSuccess) {
				t.Fatal("the read is not audited")
			}
			s.outcome(s.do("GET", other, w.tokens["patient"], nil), 403, "forbidden")
			if !s.audited(w.users["patient"].ID, "read", "patient", w.otherPatient.ID, domain.OutcomeDenied) {
				t.Fatal("the refusal is not audited")
			}

			// A doctor reads the patients they treat only.
			s.get(own, w.tokens["doctor"], 200, "Patient")
			s.outcome(s.do("GET", other, w.tokens["doctor"], nil), 403, "forbidden")
			// The front desk and admins read everyone.
			s.get(other, w.tokens["staff"], 200, "Patient")
			s.get(other, w.tokens["admin"], 200, "Patient")

			s.outcome(s.do("GET", "/fhir/R4/Patient/0190a0a0-0000-7000-8000-000000000000", w.tokens["staff"], nil), 404, "not-found")
			s.outcome(s.do("GET", "/fhir/R4/Patient/bad_id", w.tokens["staff"], nil), 400, "invalid")
			s.outcome(s.do("GET", "/fhir/R4/Patient/"+strings.Repeat("a", 65), w.tokens["staff"], nil), 400, "invalid")
			s.outcome(s.do("GET", own+"?name=x", w.tokens["staff"], nil), 400, "invalid")

			// Search: patients may not; doctors see their own patients; the
			// front desk everyone. Lists carry no identifiers.
			s.outcome(s.do("GET", "/fhir/R4/Patient", w.tokens["patient"], nil), 403, "forbidden")
			b := s.get("/fhir/R4/Patient", w.tokens["doctor"], 200, "Bundle")
			if total(t, b) != 1 || !slices.Equal(ids(b), []string{w.ownPatient.ID}) {
				t.Fatalf("doctor's patients %v", ids(b))
			}
			if b := s.get("/fhir/R4/Patient?name=bob", w.tokens["doctor"], 200, "Bundle"); total(t, b) != 0 || b["entry"] != nil {
				t.Fatalf("a doctor finds another doctor's patient: %v", b)
			}
			b = s.get("/fhir/R4/Patient", w.tokens["staff"], 200, "Bundle")
			if total(t, b) != 2 || !slices.Equal(ids(b), []string{w.ownPatient.ID, w.otherPatient.ID}) {
				t.Fatalf("staff search %v", ids(b))
			}
			for _, e := range entries(b) {
				if e["identifier"] != nil {
					t.Fatalf("identifier in a search result: %v", e)
				}
			}
			b = s.get("/fhir/R4/Patient?name=BOB", w.tokens["staff"], 200, "Bundle")
			if total(t, b) != 1 || !slices.Equal(ids(b), []string{w.otherPatient.ID}) {
				t.Fatalf("name search %v", ids(b))
			}
			if !s.audited(w.users["staff"].ID, domain.ActionSearch, "patient", "", domain.OutcomeSuccess) {
				t.Fatal("the search is not audited")
			}
		})
	}
}

func TestSearchPaging(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := newServer(t, eng.Open(t))
			w := newWorld(t, s)
			var want []string
			for i := range 5 {
				p, _ := w.patient(fmt.Sprintf("Paging Person%d", i), false)
				want = append(want, p.ID)
			}
			tok := w.tokens["staff"]
			b := s.get("/fhir/R4/Patient?name=paging&_count=2", tok, 200, "Bundle")
			var seen []string
			pages := 0
			for {
				pages++
				if total(t, b) != 5 {
					t.Fatalf("total %d on page %d", total(t, b), pages)
				}
				if self := link(b, "self"); !strings.Contains(self, "_count=2") || !strings.Contains(self, "name=paging") {
					t.Fatalf("self link %q", self)
				}
				if (pages == 1) != (link(b, "previous") == "") {
					t.Fatalf("page %d: previous link %q", pages, link(b, "previous"))
				}
				seen = append(seen, ids(b)...)
				next := link(b, "next")
				if next == "" {
					break
				}
				if pages == 2 {
					// previous leads back to the first page.
					back := s.get(pathOf(t, link(b, "previous")), tok, 200, "Bundle")
					if !slices.Equal(ids(back), seen[:2]) {
						t.Fatalf("previous page %v, want %v", ids(back), seen[:2])
					}
				}
				b = s.get(pathOf(t, next), tok, 200, "Bundle")
			}
			if pages != 3 || len(ids(b)) != 1 || !slices.Equal(seen, want) {
				t.Fatalf("%d pages, ids %v, want %v", pages, seen, want)
			}
			b = s.get("/fhir/R4/Patient?name=paging&_count=2&_offset=10", tok, 200, "Bundle")
			if total(t, b) != 5 || b["entry"] != nil || link(b, "next") != "" || link(b, "previous") == "" {
				t.Fatalf("past the end: %v", b)
			}
			for _, q := range []string{"_count=-1", "_count=201", "_count=x", "_offset=-1", "_count=2&_count=3"} {
				s.outcome(s.do("GET", "/fhir/R4/Patient?"+q, tok, nil), 400, "invalid")
			}
		})
	}
}

func TestPractitionersAndSchedules(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := newServer(t, eng.Open(t))
			w := newWorld(t, s)
			idle, _ := w.doctor("Erin Idle", "Cardiology")
			if err := s.DB.PutAvailability(context.Background(), &domain.Availability{DoctorID: idle.ID}); err != nil {
				t.Fatal(err)
			}
			// A doctor without any hours settings, as made before every new
			// doctor got their first (empty) hours with the profile.
			noHours := &domain.Doctor{Specialization: "Surgery", CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := s.DB.CreateDoctor(context.Background(), noHours, &domain.User{Email: s.email("doc"), Name: "Fay Nohours", Role: domain.RoleDoctor,
				PasswordHash: "x", CreatedAt: time.Now(), UpdatedAt: time.Now()}, nil); err != nil {
				t.Fatal(err)
			}
			tok := w.tokens["patient"]

			b := s.get("/fhir/R4/Practitioner", tok, 200, "Bundle")
			if total(t, b) != 4 {
				t.Fatalf("practitioners %v", ids(b))
			}
			b = s.get("/fhir/R4/Practitioner?specialty=cardiology", tok, 200, "Bundle")
			if total(t, b) != 2 {
				t.Fatalf("cardiologists %v", ids(b))
			}
			b = s.get("/fhir/R4/Practitioner?name=dan", tok, 200, "Bundle")
			if !slices.Equal(ids(b), []string{w.otherDoctor.ID}) {
				t.Fatalf("by name %v", ids(b))
			}
			pr := s.get("/fhir/R4/Practitioner/"+w.ownDoctor.ID, tok, 200, "Practitioner")
			body, _ := json.Marshal(pr)
			for _, want := range []string{`"family":"Own"`, `"text":"MD"`, `"text":"FACC"`, `"value":"` + w.ownDoctor.LicenseNumber + `"`, `"valueString":"Cardiology"`} {
				if !strings.Contains(string(body), want) {
					t.Errorf("practitioner lacks %s: %s", want, body)
				}
			}
			s.outcome(s.do("GET", "/fhir/R4/Practitioner/0190a0a0-0000-7000-8000-000000000000", tok, nil), 404, "not-found")

			sc := s.get("/fhir/R4/Schedule/"+w.ownDoctor.ID, tok, 200, "Schedule")
			actor := sc["actor"].([]any)[0].(map[string]any)
			if actor["reference"] != "Practitioner/"+w.ownDoctor.ID || sc["active"] != true ||
				sc["specialty"].([]any)[0].(map[string]any)["text"] != "Cardiology" || sc["planningHorizon"] == nil {
				t.Fatalf("schedule %v", sc)
			}
			s.outcome(s.do("GET", "/fhir/R4/Schedule/"+noHours.ID, tok, nil), 404, "not-found")
			b = s.get("/fhir/R4/Schedule", tok, 200, "Bundle")
			if total(t, b) != 3 || slices.Contains(ids(b), noHours.ID) {
				t.Fatalf("schedules %v", ids(b))
			}
			b = s.get("/fhir/R4/Schedule?actor=Practitioner/"+w.otherDoctor.ID, tok, 200, "Bundle")
			if !slices.Equal(ids(b), []string{w.otherDoctor.ID}) {
				t.Fatalf("schedule by actor %v", ids(b))
			}
			b = s.get("/fhir/R4/Schedule?actor="+w.otherDoctor.ID, tok, 200, "Bundle")
			if !slices.Equal(ids(b), []string{w.otherDoctor.ID}) {
				t.Fatalf("schedule by bare actor id %v", ids(b))
			}
			if b := s.get("/fhir/R4/Schedule?actor=Practitioner/nobody", tok, 200, "Bundle"); total(t, b) != 0 {
				t.Fatalf("unknown actor %v", ids(b))
			}
			s.outcome(s.do("GET", "/fhir/R4/Schedule?actor=Patient/"+w.ownPatient.ID, tok, nil), 400, "invalid")
		})
	}
}

// day is a UTC date some days ahead.
func day(days int) time.Time { return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, days) }

func q(v ...string) string {
	vals := url.Values{}
	for i := 0; i+1 < len(v); i += 2 {
		vals.Add(v[i], v[i+1])
	}
	return vals.Encode()
}

func appointmentBody(slot string, participants ...string) map[string]any {
	var ps []map[string]any
	for _, p := range participants {
		ps = append(ps, map[string]any{"actor": map[string]string{"reference": p}, "status": "accepted"})
	}
	body := map[string]any{"resourceType": "Appointment", "status": "booked", "description": "Chest pain", "participant": ps}
	if slot != "" {
		body["slot"] = []map[string]string{{"reference": slot}}
	}
	return body
}

func TestSlotsAndBooking(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := newServer(t, eng.Open(t))
			w := newWorld(t, s)
			tok := w.tokens["patient"]
			d := day(5)
			search := "/fhir/R4/Slot?" + q("schedule", "Schedule/"+w.ownDoctor.ID, "start", "ge"+d.Add(9*time.Hour).Format(time.RFC3339),
				"start", "lt"+d.Add(12*time.Hour).Format(time.RFC3339), "status", "free")
			b := s.get(search, tok, 200, "Bundle")
			slots := entries(b)
			if total(t, b) != 6 || len(slots) != 6 || slots[0]["start"] != d.Add(9*time.Hour).Format(time.RFC3339) ||
				slots[5]["end"] != d.Add(12*time.Hour).Format(time.RFC3339) {
				t.Fatalf("slots %v", slots)
			}
			for _, sl := range slots {
				if sl["status"] != "free" || sl["schedule"].(map[string]any)["reference"] != "Schedule/"+w.ownDoctor.ID {
					t.Fatalf("slot %v", sl)
				}
			}
			// The same slots with a bare schedule id, a date-only bound and
			// le/gt prefixes.
			b = s.get("/fhir/R4/Slot?"+q("schedule", w.ownDoctor.ID, "start", "gt"+d.Add(8*time.Hour+30*time.Minute).Format(time.RFC3339),
				"start", "le"+d.Add(11*time.Hour+30*time.Minute).Format(time.RFC3339)), tok, 200, "Bundle")
			if !slices.Equal(ids(b), ids(s.get(search, tok, 200, "Bundle"))) || total(t, b) != 6 {
				t.Fatalf("gt/le slots %v", ids(b))
			}
			if b := s.get("/fhir/R4/Slot?"+q("schedule", "Schedule/"+w.ownDoctor.ID, "start", d.Format(time.DateOnly)), tok, 200, "Bundle"); total(t, b) != 47 {
				t.Fatalf("a whole day has %d slots, want 47", total(t, b))
			}
			if b := s.get("/fhir/R4/Slot?schedule=Schedule/"+w.ownDoctor.ID, tok, 200, "Bundle"); total(t, b) < 300 || len(entries(b)) != 50 || link(b, "next") == "" {
				t.Fatalf("a week of slots from now: total %d, %d entries", total(t, b), len(entries(b)))
			}

			// Book the first slot; a retry with the same key gets the same
			// appointment; the slot is no longer free; booking it again is
			// a conflict.
			slot := "Slot/" + slots[0]["id"].(string)
			body := appointmentBody(slot, "Patient/"+w.ownPatient.ID)
			res := s.do("POST", "/fhir/R4/Appointment", tok, body, "Idempotency-Key", "fhir-k1")
			a := s.expect(res, 201, "Appointment")
			if loc := res.Header.Get("Location"); !strings.HasSuffix(loc, "/fhir/R4/Appointment/"+a["id"].(string)) || !strings.HasPrefix(loc, "http") {
				t.Fatalf("Location %q", loc)
			}
			if a["status"] != "booked" || a["start"] != slots[0]["start"] || a["end"] != slots[0]["end"] || a["description"] != "Chest pain" {
				t.Fatalf("appointment %v", a)
			}
			var actors []string
			for _, p := range a["participant"].([]any) {
				actors = append(actors, p.(map[string]any)["actor"].(map[string]any)["reference"].(string))
			}
			if !slices.Equal(actors, []string{"Patient/" + w.ownPatient.ID, "Practitioner/" + w.ownDoctor.ID}) {
				t.Fatalf("participants %v", actors)
			}
			res = s.do("POST", "/fhir/R4/Appointment", tok, body, "Idempotency-Key", "fhir-k1")
			if again := s.expect(res, 200, "Appointment"); again["id"] != a["id"] || res.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay %v", again)
			}
			b = s.get(search, tok, 200, "Bundle")
			if total(t, b) != 5 || slices.Contains(ids(b), slots[0]["id"].(string)) {
				t.Fatalf("the booked slot is still offered: %v", ids(b))
			}
			msg := s.outcome(s.do("POST", "/fhir/R4/Appointment", tok, body, "Idempotency-Key", "fhir-k2"), 409, "conflict")
			if !strings.Contains(msg, "overlaps") {
				t.Fatalf("conflict says %q", msg)
			}
			s.outcome(s.do("POST", "/fhir/R4/Appointment", tok, body), 409, "conflict")
			if !s.audited(w.users["patient"].ID, domain.ActionCreate, "appointment", a["id"].(string), domain.OutcomeSuccess) {
				t.Fatal("the booking is not audited")
			}

			// start/end with a practitioner participant instead of a slot.
			body = appointmentBody("", "Patient/"+w.ownPatient.ID, "Practitioner/"+w.ownDoctor.ID)
			body["start"], body["end"] = slots[1]["start"], slots[1]["end"]
			body["unknownElement"] = map[string]any{"ignored": true}
			body["meta"] = map[string]any{"tag": []any{map[string]any{"code": "x"}}}
			second := s.expect(s.do("POST", "/fhir/R4/Appointment", tok, body), 201, "Appointment")

			// A patient cannot book for someone else.
			s.outcome(s.do("POST", "/fhir/R4/Appointment", tok, appointmentBody("Slot/"+slots[2]["id"].(string), "Patient/"+w.otherPatient.ID)), 403, "forbidden")
			// The front desk can.
			s.expect(s.do("POST", "/fhir/R4/Appointment", w.tokens["staff"], appointmentBody("Slot/"+slots[2]["id"].(string), "Patient/"+w.otherPatient.ID)), 201, "Appointment")

			// Reading: the patient and their doctor, the front desk; not
			// another patient or doctor.
			path := "/fhir/R4/Appointment/" + second["id"].(string)
			for who, status := range map[string]int{"patient": 200, "doctor": 200, "staff": 200, "admin": 200, "otherPatient": 403, "otherDoctor": 403} {
				res := s.do("GET", path, w.tokens[who], nil)
				if status == 200 {
					s.expect(res, 200, "Appointment")
				} else {
					s.outcome(res, status, "forbidden")
				}
			}
			if !s.audited(w.users["doctor"].ID, domain.ActionRead, "appointment", second["id"].(string), domain.OutcomeSuccess) {
				t.Fatal("the read is not audited")
			}
			s.outcome(s.do("GET", "/fhir/R4/Appointment/0190a0a0-0000-7000-8000-000000000000", tok, nil), 404, "not-found")

			// The longest search, 62 days: every slot once, the last one
			// included, less the three booked above.
			from := day(3)
			long := "/fhir/R4/Slot?" + q("schedule", "Schedule/"+w.ownDoctor.ID, "start", "ge"+from.Format(time.DateOnly),
				"start", "lt"+from.AddDate(0, 0, 62).Format(time.DateOnly), "_count", "200", "_offset", "2900")
			b = s.get(long, tok, 200, "Bundle")
			last := entries(b)
			if total(t, b) != 62*47-3 || len(last) != 11 || last[10]["start"] != from.AddDate(0, 0, 61).Add(23*time.Hour).Format(time.RFC3339) {
				t.Fatalf("62 days: total %d, %d on the last page", total(t, b), len(last))
			}
		})
	}
}

func TestAppointmentSearch(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := newServer(t, eng.Open(t))
			w := newWorld(t, s)
			d1, d2 := day(10), day(11)
			book := func(doc *domain.Doctor, pat *domain.Patient, start time.Time) *domain.Appointment {
				b, err := s.Portal.Book(system, portal.BookRequest{DoctorID: doc.ID, PatientID: pat.ID, Start: start, End: start.Add(30 * time.Minute), Reason: "Follow-up"}, "")
				if err != nil {
					t.Fatal(err)
				}
				return b.Appointment
			}
			a1 := book(w.ownDoctor, w.ownPatient, d1.Add(10*time.Hour))
			a2 := book(w.ownDoctor, w.ownPatient, d2.Add(10*time.Hour))
			a3 := book(w.otherDoctor, w.otherPatient, d1.Add(11*time.Hour))
			staff := w.tokens["staff"]
			search := func(tok string, kv ...string) []string {
				t.Helper()
				return ids(s.get("/fhir/R4/Appointment?"+q(kv...), tok, 200, "Bundle"))
			}
			eq := func(got []string, want ...string) {
				t.Helper()
				if !slices.Equal(got, want) {
					t.Fatalf("found %v, want %v", got, want)
				}
			}
			eq(search(staff, "patient", "Patient/"+w.ownPatient.ID, "date", d1.Format(time.DateOnly)), a1.ID)
			eq(search(staff, "date", d1.Format(time.DateOnly)), a1.ID, a3.ID)
			eq(search(staff, "patient", w.ownPatient.ID, "date", "ge"+d1.Format(time.DateOnly), "date", "lt"+d2.Format(time.DateOnly)), a1.ID)
			eq(search(staff, "actor", "Patient/"+w.ownPatient.ID, "date", "gt"+d1.Format(time.DateOnly)), a2.ID)
			eq(search(staff, "practitioner", "Practitioner/"+w.ownDoctor.ID, "date", "le"+d1.Format(time.DateOnly), "date", "ge"+d1.Format(time.DateOnly)), a1.ID)
			eq(search(staff, "date", "ge"+d1.Add(10*time.Hour+15*time.Minute).Format(time.RFC3339), "date", "lt"+d1.Add(11*time.Hour).Format(time.RFC3339)), a1.ID)
			// A '+' of a time-zone offset that was not encoded arrives as a space.
			b := s.get("/fhir/R4/Appointment?date=ge"+d1.Format("2006-01-02T15:04:05")+"+00:00&date=lt"+d2.Format("2006-01-02")+"&patient="+w.ownPatient.ID, staff, 200, "Bundle")
			eq(ids(b), a1.ID)

			// The patient sees their own; asking for someone else's is refused.
			pat := w.tokens["patient"]
			all := search(pat)
			if len(all) != 3 || !slices.Contains(all, a1.ID) || !slices.Contains(all, a2.ID) || slices.Contains(all, a3.ID) {
				t.Fatalf("patient's appointments %v", all)
			}
			s.outcome(s.do("GET", "/fhir/R4/Appointment?patient=Patient/"+w.otherPatient.ID, pat, nil), 403, "forbidden")
			// The doctor sees their schedule.
			doc := w.tokens["doctor"]
			if got := search(doc, "date", d1.Format(time.DateOnly)); !slices.Equal(got, []string{a1.ID}) {
				t.Fatalf("doctor's day %v", got)
			}
			s.outcome(s.do("GET", "/fhir/R4/Appointment?practitioner=Practitioner/"+w.otherDoctor.ID, doc, nil), 403, "forbidden")
			s.outcome(s.do("GET", "/fhir/R4/Appointment?actor=Practitioner/"+w.otherDoctor.ID, doc, nil), 403, "forbidden")

			// Status, with cancellation reason.
			if _, err := s.Portal.Cancel(system, a2.ID, "Feeling better"); err != nil {
				t.Fatal(err)
			}
			b = s.get("/fhir/R4/Appointment?status=cancelled", staff, 200, "Bundle")
			if got := entries(b); len(got) != 1 || got[0]["id"] != a2.ID || got[0]["cancelationReason"].(map[string]any)["text"] != "Feeling better" {
				t.Fatalf("cancelled %v", got)
			}
			eq(search(staff, "status", "http://hl7.org/fhir/appointmentstatus|cancelled"), a2.ID)
			if n := total(t, s.get("/fhir/R4/Appointment?status=booked&patient=Patient/"+w.ownPatient.ID, staff, 200, "Bundle")); n != 2 {
				t.Fatalf("booked %d", n)
			}

			// Paging keeps the total.
			b = s.get("/fhir/R4/Appointment?_count=2", staff, 200, "Bundle")
			if total(t, b) != 5 || len(entries(b)) != 2 || link(b, "next") == "" {
				t.Fatalf("page 1 %v", b)
			}
			b = s.get(pathOf(t, link(b, "next")), staff, 200, "Bundle")
			b = s.get(pathOf(t, link(b, "next")), staff, 200, "Bundle")
			if total(t, b) != 5 || len(entries(b)) != 1 || link(b, "next") != "" {
				t.Fatalf("page 3 %v", b)
			}
		})
	}
}

func TestAuditEvents(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := newServer(t, eng.Open(t))
			w := newWorld(t, s)
			s.get("/fhir/R4/Patient/"+w.ownPatient.ID, w.tokens["patient"], 200, "Patient")
			admin := w.tokens["admin"]
			for _, who := range []string{"patient", "doctor", "staff"} {
				s.outcome(s.do("GET", "/fhir/R4/AuditEvent", w.tokens[who], nil), 403, "forbidden")
			}

			b := s.get("/fhir/R4/AuditEvent", admin, 200, "Bundle")
			es := entries(b)
			if len(es) < 10 || es[0]["entity"] == nil || !strings.Contains(fmt.Sprint(es[0]["entity"]), "audit_event") {
				t.Fatalf("the newest event is not the read of the log: %v", es[0])
			}
			if !s.audited(w.users["admin"].ID, domain.ActionRead, "audit_event", "", domain.OutcomeSuccess) {
				t.Fatal("reading the audit log is not audited")
			}

			// By patient and agent.
			b = s.get("/fhir/R4/AuditEvent?patient=Patient/"+w.ownPatient.ID, admin, 200, "Bundle")
			if len(entries(b)) == 0 {
				t.Fatal("no events about the patient")
			}
			for _, e := range entries(b) {
				if js, _ := json.Marshal(e); !strings.Contains(string(js), "Patient/"+w.ownPatient.ID) {
					t.Fatalf("event not about the patient: %s", js)
				}
			}
			b = s.get("/fhir/R4/AuditEvent?agent="+w.users["patient"].ID, admin, 200, "Bundle")
			if total(t, b) == 0 {
				t.Fatal("no events by the patient")
			}
			for _, e := range entries(b) {
				who := e["agent"].([]any)[0].(map[string]any)["who"].(map[string]any)["identifier"].(map[string]any)["value"]
				if who != w.users["patient"].ID {
					t.Fatalf("event by %v", who)
				}
			}
			// By date.
			if b := s.get("/fhir/R4/AuditEvent?date=lt2000-01-01", admin, 200, "Bundle"); total(t, b) != 0 || b["entry"] != nil {
				t.Fatalf("events before 2000: %v", b)
			}
			since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
			if b := s.get("/fhir/R4/AuditEvent?"+q("date", "ge"+since, "date", "lt"+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), admin, 200, "Bundle"); len(entries(b)) == 0 {
				t.Fatal("no events in the last hour")
			}

			// Paging by cursor: no event twice, newest first.
			b = s.get("/fhir/R4/AuditEvent?_count=3", admin, 200, "Bundle")
			seen := map[string]bool{}
			var last time.Time
			for page := 0; ; page++ {
				if page > 0 && b["total"] != nil {
					t.Fatalf("a later page claims a total: %v", b["total"])
				}
				for _, e := range entries(b) {
					id := e["id"].(string)
					if seen[id] {
						t.Fatalf("event %s on two pages", id)
					}
					seen[id] = true
					at, _ := time.Parse(time.RFC3339Nano, e["recorded"].(string))
					if !last.IsZero() && at.After(last) {
						t.Fatalf("events out of order")
					}
					last = at
				}
				next := link(b, "next")
				if next == "" || page == 3 {
					break
				}
				if !strings.Contains(next, "_before=") {
					t.Fatalf("next link %q", next)
				}
				b = s.get(pathOf(t, next), admin, 200, "Bundle")
			}
			if len(seen) != 12 {
				t.Fatalf("%d events on 4 pages of 3", len(seen))
			}
			for _, bad := range []string{"agent=Patient/x", "_before=0", "_before=x", "_offset=3", "action=R", "date=2026-13-01"} {
				s.outcome(s.do("GET", "/fhir/R4/AuditEvent?"+bad, admin, nil), 400, "invalid")
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := newServer(t, eng.Open(t))
			w := newWorld(t, s)
			staff := w.tokens["staff"]
			d := day(6)
			slotsOf := func() []map[string]any {
				return entries(s.get("/fhir/R4/Slot?"+q("schedule", "Schedule/"+w.ownDoctor.ID, "start", d.Format(time.DateOnly)), staff, 200, "Bundle"))
			}
			free := slotsOf()[3]
			slotRef := "Slot/" + free["id"].(string)
			sched := "schedule=Schedule/" + w.ownDoctor.ID
			before, err := s.DB.ListAppointments(context.Background(), domain.AppointmentFilter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			pid := "Patient/" + w.ownPatient.ID

			withBody := func(mod func(m map[string]any)) map[string]any {
				m := appointmentBody(slotRef, pid)
				mod(m)
				return m
			}
			cases := []struct {
				name, method, path string
				body               any
				headers            []string
				status             int
				code, contains     string
			}{
				{"unknown parameter", "GET", "/fhir/R4/Patient?foo=bar", nil, nil, 400, "invalid", `"foo" is not supported for Patient`},
				{"unsupported _ parameter", "GET", "/fhir/R4/Patient?_sort=name", nil, nil, 400, "invalid", `"_sort"`},
				{"modifier", "GET", "/fhir/R4/Patient?name:exact=Alice", nil, nil, 400, "invalid", "modifiers"},
				{"comma values", "GET", "/fhir/R4/Appointment?status=booked,cancelled", nil, nil, 400, "invalid", "commas"},
				{"unknown status", "GET", "/fhir/R4/Appointment?status=done", nil, nil, 400, "invalid", "Unknown appointment status"},
				{"foreign status system", "GET", "/fhir/R4/Appointment?status=http://example.org|booked", nil, nil, 400, "invalid", "code system"},
				{"wrong reference type", "GET", "/fhir/R4/Appointment?patient=Practitioner/" + w.ownDoctor.ID, nil, nil, 400, "invalid", "must refer to a Patient"},
				{"untyped actor", "GET", "/fhir/R4/Appointment?actor=" + w.ownDoctor.ID, nil, nil, 400, "invalid", "typed reference"},
				{"malformed reference id", "GET", "/fhir/R4/Appointment?patient=Patient/a_b", nil, nil, 400, "invalid", "malformed id"},
				{"foreign server", "GET", "/fhir/R4/Appointment?patient=https://elsewhere.example/fhir/Patient/1", nil, nil, 400, "invalid", "another server"},
				{"conflicting actor", "GET", "/fhir/R4/Appointment?patient=Patient/a&actor=Patient/b", nil, nil, 400, "invalid", "different patients"},
				{"month 13", "GET", "/fhir/R4/Appointment?date=2026-13-01", nil, nil, 400, "invalid", "not a real date"},
				{"february 30", "GET", "/fhir/R4/Appointment?date=2026-02-30", nil, nil, 400, "invalid", "not a real date"},
				{"time without zone", "GET", "/fhir/R4/Appointment?date=ge2026-03-01T09:00:00", nil, nil, 400, "invalid", "time zone"},
				{"garbage date", "GET", "/fhir/R4/Appointment?date=soon", nil, nil, 400, "invalid", "prefix"},
				{"unknown prefix", "GET", "/fhir/R4/Appointment?date=xx2026-03-01", nil, nil, 400, "invalid", "Unknown prefix"},
				{"unsupported prefix", "GET", "/fhir/R4/Appointment?date=ne2026-03-01", nil, nil, 400, "invalid", "not supported"},
				{"empty range", "GET", "/fhir/R4/Appointment?date=ge2026-03-02&date=lt2026-03-01", nil, nil, 400, "invalid", "leave no time"},
				{"slot without schedule", "GET", "/fhir/R4/Slot?start=ge2026-03-01", nil, nil, 400, "invalid", "schedule=Schedule/{id}"},
				{"busy slots", "GET", "/fhir/R4/Slot?" + sched + "&status=busy", nil, nil, 400, "invalid", "Only free slots"},
				{"unknown slot status", "GET", "/fhir/R4/Slot?" + sched + "&status=open", nil, nil, 400, "invalid", "only status=free"},
				{"slot range too long", "GET", "/fhir/R4/Slot?" + sched + "&start=ge2030-01-01&start=lt2030-03-15", nil, nil, 400, "invalid", "62 days"},
				{"practitioner name too long", "GET", "/fhir/R4/Practitioner?name=" + strings.Repeat("x", 201), nil, nil, 400, "invalid", "at most 200"},
				{"bad _pretty", "GET", "/fhir/R4/Patient?_pretty=yes", nil, nil, 400, "invalid", "_pretty"},

				{"not JSON", "POST", "/fhir/R4/Appointment", `{"resourceType":`, nil, 400, "invalid", "ends too early"},
				{"empty body", "POST", "/fhir/R4/Appointment", ``, nil, 400, "invalid", "empty"},
				{"two objects", "POST", "/fhir/R4/Appointment", `{"resourceType":"Appointment"} {}`, nil, 400, "invalid", "exactly one"},
				{"not an object", "POST", "/fhir/R4/Appointment", `[1]`, nil, 400, "invalid", "JSON object"},
				{"a Patient", "POST", "/fhir/R4/Appointment", map[string]any{"resourceType": "Patient"}, nil, 400, "invalid", `"Patient"`},
				{"no resourceType", "POST", "/fhir/R4/Appointment", withBody(func(m map[string]any) { delete(m, "resourceType") }), nil, 400, "invalid", "resourceType"},
				{"wrong type", "POST", "/fhir/R4/Appointment", withBody(func(m map[string]any) { m["start"] = 5 }), nil, 400, "invalid", "Appointment.start has the wrong type"},
				{"proposed", "POST", "/fhir/R4/Appointment", withBody(func(m map[string]any) { m["status"] = "proposed" }), nil, 400, "invalid", "as booked"},
				{"unknown status", "POST", "/fhir/R4/Appointment", withBody(func(m map[string]any) { m["status"] = "done" }), nil, 400, "invalid", "Unknown appointment status"},
				{"no patient", "POST", "/fhir/R4/Appointment", appointmentBody(slotRef), nil, 400, "invalid", "Name the patient"},
				{"two patients", "POST", "/fhir/R4/Appointment", appointmentBody(slotRef, pid, "Patient/"+w.otherPatient.ID), nil, 400, "invalid", "one patient"},
				{"location actor", "POST", "/fhir/R4/Appointment", appointmentBody(slotRef, pid, "Location/1"), nil, 400, "invalid", "Patient or Practitioner"},
				{"participant without actor", "POST", "/fhir/R4/Appointment", withBody(func(m map[string]any) {
					m["participant"] = []any{map[string]any{"status": "accepted"}}
				}), nil, 400, "invalid", "actor.reference"},
				{"declined", "POST", "/fhir/R4/Appointment", withBody(func(m map[string]any) {
					m["participant"] = []any{map[string]any{"status": "declined", "actor": map[string]any{"reference": pid}}}
				}), nil, 400, "invalid", "declined"},
				{"no slot, no times", "POST", "/fhir/R4/Appointment", appointmentBody("", pid, "Practitioner/"+w.ownDoctor.ID), nil, 400, "invalid", "Give the slot"},
				{"times without practitioner", "POST", "/fhir/R4/Appointment", func() any {
					m := appointmentBody("", pid)
					m["start"], m["end"] = free["start"], free["end"]
					return m
				}(), nil, 400, "invalid", "Name the practitioner"},
				{"times without zone", "POST", "/fhir/R4/Appointment", func() any {
					m := appointmentBody("", pid, "Practitioner/"+w.ownDoctor.ID)
					m["start"], m["end"] = "2030-01-01T09:00:00", "2030-01-01T09:30:00"
					return m
				}(), nil, 400, "invalid", "time zone"},
				{"slot and other times", "POST", "/fhir/R4/Appointment", withBody(func(m map[string]any) { m["start"] = "2030-01-01T09:00:00Z" }), nil, 400, "invalid", "differ from the slot"},
				{"slot of another practitioner", "POST", "/fhir/R4/Appointment", appointmentBody(slotRef, pid, "Practitioner/"+w.otherDoctor.ID), nil, 400, "invalid", "not the practitioner of the slot"},
				{"two slots", "POST", "/fhir/R4/Appointment", withBody(func(m map[string]any) {
					m["slot"] = []any{map[string]any{"reference": slotRef}, map[string]any{"reference": slotRef}}
				}), nil, 400, "invalid", "one slot"},
				{"garbage slot id", "POST", "/fhir/R4/Appointment", appointmentBody("Slot/nonsense", pid), nil, 400, "invalid", "not a HealthHub slot id"},
				{"slot id with leading zero", "POST", "/fhir/R4/Appointment", appointmentBody("Slot/"+w.ownDoctor.ID+".0"+strings.SplitN(free["id"].(string)[len(w.ownDoctor.ID)+1:], ".", 2)[0]+".1", pid), nil, 400, "invalid", "slot id"},
				{"nine-hour slot", "POST", "/fhir/R4/Appointment", appointmentBody(fmt.Sprintf("Slot/%s.%d.%d", w.ownDoctor.ID, d.Unix(), d.Add(9*time.Hour).Unix()), pid), nil, 400, "invalid", "slot id"},
				{"slot of an unknown doctor", "POST", "/fhir/R4/Appointment", appointmentBody(fmt.Sprintf("Slot/nobody.%d.%d", d.Unix(), d.Add(30*time.Minute).Unix()), pid), nil, 400, "invalid", "no doctor"},
				{"slot outside the hours", "POST", "/fhir/R4/Appointment", appointmentBody(fmt.Sprintf("Slot/%s.%d.%d", w.ownDoctor.ID, d.Add(23*time.Hour+30*time.Minute).Unix(), d.Add(24*time.Hour).Unix()), pid), nil, 400, "invalid", "bookable slots"},
				{"conditional create", "POST", "/fhir/R4/Appointment", appointmentBody(slotRef, pid), []string{"If-None-Exist", "identifier=x"}, 400, "invalid", "Idempotency-Key"},
				{"XML", "POST", "/fhir/R4/Appointment", `<Appointment/>`, []string{"Content-Type", "application/fhir+xml"}, 415, "not-supported", "JSON"},
				{"too large", "POST", "/fhir/R4/Appointment", withBody(func(m map[string]any) { m["comment"] = strings.Repeat("x", 1<<20) }), nil, 413, "too-long", "larger than"},
				{"reason too long", "POST", "/fhir/R4/Appointment", withBody(func(m map[string]any) { m["description"] = strings.Repeat("x", 501) }), nil, 400, "invalid", "at most 500"},
				{"query on create", "POST", "/fhir/R4/Appointment?patient=x", appointmentBody(slotRef, pid), nil, 400, "invalid", "no parameters"},
			}
			for _, c := range cases {
				res := s.do(c.method, c.path, staff, c.body, c.headers...)
				if res.Status != c.status {
					t.Errorf("%s: status %d, want %d: %s", c.name, res.Status, c.status, res.Body)
					continue
				}
				if msg := s.outcome(res, c.status, c.code); !strings.Contains(msg, c.contains) {
					t.Errorf("%s: diagnostics %q lack %q", c.name, msg, c.contains)
				}
			}
			after, err := s.DB.ListAppointments(context.Background(), domain.AppointmentFilter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Fatalf("bad input booked something: %d appointments, were %d", len(after), len(before))
			}
			if !slices.Contains(ids(s.get("/fhir/R4/Slot?"+q("schedule", "Schedule/"+w.ownDoctor.ID, "start", d.Format(time.DateOnly)), staff, 200, "Bundle")), free["id"].(string)) {
				t.Fatal("the slot was taken")
			}
		})
	}
}

func TestOutcomeNamesTheElement(t *testing.T) {
	s := newServer(t, storetest.OpenSQLite(t))
	w := newWorld(t, s)
	res := s.do("POST", "/fhir/R4/Appointment", w.tokens["staff"], appointmentBody("", "Patient/"+w.ownPatient.ID, "Patient/"+w.otherPatient.ID))
	m := s.expect(res, 400, "OperationOutcome")
	expr := m["issue"].([]any)[0].(map[string]any)["expression"]
	if fmt.Sprint(expr) != "[Appointment.participant[1].actor]" {
		t.Fatalf("expression %v", expr)
	}
	// Unknown parameters are named in a stable order.
	for range 5 {
		if msg := s.outcome(s.do("GET", "/fhir/R4/Patient?zeta=1&alpha=2", w.tokens["staff"], nil), 400, "invalid"); !strings.Contains(msg, `"alpha"`) {
			t.Fatalf("diagnostics %q", msg)
		}
	}
}
