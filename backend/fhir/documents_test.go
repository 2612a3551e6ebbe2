package fhir_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/consult"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/fhir"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/healthhub/healthhub/backend/store"
)

// newDocServer is newServer with consultations served, through a real
// consultation service on the same store, portal and audit log; patients
// may read their signed notes.
func newDocServer(t *testing.T, db store.DB) (*server, *consult.Service) {
	t.Helper()
	var svc *consult.Service
	s := newServerWith(t, db, func(h *fhir.Handlers, p *portal.Service, log *audit.Log) {
		keys := secret.NewEphemeral()
		blobs, err := blob.NewLocal(t.TempDir(), keys)
		if err != nil {
			t.Fatal(err)
		}
		svc = consult.New(consult.Options{Store: db, Records: p, Guard: access.New(log), Audit: log, Blobs: blobs, Keys: keys,
			Defaults: consult.Settings{Engine: consult.EngineNone, PatientsSeeNotes: true}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		h.UseConsultations(svc)
	})
	return s, svc
}

// as is a context with u as the caller.
func as(u *domain.User) context.Context {
	return domain.WithPrincipal(context.Background(), &domain.Principal{UserID: u.ID, Role: u.Role, Account: u})
}

// consultation is a consultation of the doctor with the patient (for the
// appointment when given) whose note is saved, and signed when asked.
func consultation(t *testing.T, svc *consult.Service, doctor *domain.User, patientID, appointmentID string, note domain.VisitNote, sign bool) *domain.Consultation {
	t.Helper()
	ctx := as(doctor)
	c, _, err := svc.Create(ctx, consult.CreateInput{PatientID: patientID, AppointmentID: appointmentID, Consent: true, ConsentHow: "verbal"})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = svc.SaveNote(ctx, c.ID, c.NoteVersion, note); err != nil {
		t.Fatal(err)
	}
	if sign {
		if c, err = svc.Sign(ctx, c.ID, c.NoteVersion); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// auditedAbout reports whether the audit log holds an event of the action
// on the resource type by the user, with the outcome, naming the patient.
func (s *server) auditedAbout(userID, action, resourceType, patientID, outcome string) bool {
	s.t.Helper()
	evs, err := s.DB.ListAudit(context.Background(), domain.AuditFilter{ActorID: userID, Action: action, ResourceType: resourceType, PatientID: patientID, Limit: 1000})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, e := range evs {
		if e.PatientID == patientID && e.Outcome == outcome {
			return true
		}
	}
	return false
}

// attachmentText decodes a DocumentReference's note and checks its size
// and hash.
func attachmentText(t *testing.T, doc map[string]any) string {
	t.Helper()
	att := doc["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)
	if att["contentType"] != "text/plain; charset=utf-8" {
		t.Fatalf("contentType %v", att["contentType"])
	}
	data, err := base64.StdEncoding.DecodeString(att["data"].(string))
	if err != nil {
		t.Fatalf("attachment data: %v", err)
	}
	sum := sha1.Sum(data)
	if att["size"] != float64(len(data)) || att["hash"] != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("attachment size %v, hash %v for %d bytes", att["size"], att["hash"], len(data))
	}
	return string(data)
}

func TestDocumentReferenceAndEncounter(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s, svc := newDocServer(t, eng.Open(t))
			w := newWorld(t, s)
			doctor, patient := w.users["doctor"], w.users["patient"]
			appt := w.book(w.ownDoctor, w.ownPatient)
			note := domain.VisitNote{Reason: "Cough for three days.", History: "No fever. Non-smoker.", Findings: "Chest clear; Größe 1,70 m.", Plan: "Rest and fluids; return if worse."}
			signed := consultation(t, svc, doctor, w.ownPatient.ID, appt.ID, note, true)
			draft := consultation(t, svc, doctor, w.ownPatient.ID, "", domain.VisitNote{Reason: "Follow-up", Plan: "Draft plan"}, false)
			elsewhere := consultation(t, svc, w.users["otherDoctor"], w.otherPatient.ID, "", domain.VisitNote{Reason: "Rash"}, true)
			docOf, encOf := "/fhir/R4/DocumentReference/", "/fhir/R4/Encounter/"
			own := "patient=Patient/" + w.ownPatient.ID

			// The treating doctor finds and reads the signed note; the
			// draft is not a document.
			b := s.get("/fhir/R4/DocumentReference?"+own, w.tokens["doctor"], 200, "Bundle")
			if total(t, b) != 1 || !slices.Equal(ids(b), []string{signed.ID}) {
				t.Fatalf("doctor's documents %v", ids(b))
			}
			doc := s.get(docOf+signed.ID, w.tokens["doctor"], 200, "DocumentReference")
			signedAt := signed.SignedAt.UTC().Format(time.RFC3339)
			checks := map[string]any{
				"status": "current", "docStatus": "final", "date": signedAt,
				"type":          `{"coding":[{"code":"11506-3","display":"Progress note","system":"http://loinc.org"}],"text":"Visit note"}`,
				"category":      `[{"coding":[{"code":"clinical-note","display":"Clinical Note","system":"http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"}]}]`,
				"subject":       `{"display":"Alice Own","reference":"Patient/` + w.ownPatient.ID + `"}`,
				"author":        `[{"display":"Carol Own","reference":"Practitioner/` + w.ownDoctor.ID + `"}]`,
				"authenticator": `{"display":"Carol Own","reference":"Practitioner/` + w.ownDoctor.ID + `"}`,
				"context":       `{"encounter":[{"reference":"Encounter/` + signed.ID + `"}],"period":{"end":"` + signedAt + `","start":"` + signed.CreatedAt.UTC().Format(time.RFC3339) + `"}}`,
			}
			for k, want := range checks {
				got := doc[k]
				if _, isStr := got.(string); !isStr {
					js, _ := json.Marshal(got)
					got = string(js)
				}
				if got != want {
					t.Errorf("DocumentReference.%s = %v, want %v", k, got, want)
				}
			}
			wantText := "Reason for visit\nCough for three days.\n\nHistory\nNo fever. Non-smoker.\n\nFindings\nChest clear; Größe 1,70 m.\n\nPlan\nRest and fluids; return if worse.\n"
			if got := attachmentText(t, doc); got != wantText {
				t.Fatalf("attachment %q, want %q", got, wantText)
			}
			att := doc["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)
			if att["creation"] != signedAt || att["title"] != "Visit note of "+signed.SignedAt.UTC().Format(time.DateOnly) {
				t.Fatalf("attachment %v", att)
			}
			s.outcome(s.do("GET", docOf+draft.ID, w.tokens["doctor"], nil), 404, "not-found")
			s.outcome(s.do("GET", docOf+"0190a0a0-0000-7000-8000-000000000000", w.tokens["doctor"], nil), 404, "not-found")
			if !s.auditedAbout(doctor.ID, domain.ActionRead, consult.ResourceConsultation, w.ownPatient.ID, domain.OutcomeSuccess) {
				t.Fatal("the doctor's read is not audited with the patient")
			}
			if !s.auditedAbout(doctor.ID, domain.ActionSearch, consult.ResourceConsultation, w.ownPatient.ID, domain.OutcomeSuccess) {
				t.Fatal("the doctor's search is not audited with the patient")
			}
			// Without a patient, the doctor's own consultations.
			if b := s.get("/fhir/R4/DocumentReference", w.tokens["doctor"], 200, "Bundle"); !slices.Equal(ids(b), []string{signed.ID}) {
				t.Fatalf("doctor's own documents %v", ids(b))
			}

			// Encounters: one per consultation, finished once signed.
			b = s.get("/fhir/R4/Encounter?"+own, w.tokens["doctor"], 200, "Bundle")
			if got := ids(b); total(t, b) != 2 || !slices.Contains(got, signed.ID) || !slices.Contains(got, draft.ID) {
				t.Fatalf("doctor's encounters %v", got)
			}
			enc := s.get(encOf+signed.ID, w.tokens["doctor"], 200, "Encounter")
			js, _ := json.Marshal(enc)
			for _, want := range []string{`"status":"finished"`, `"class":{"code":"AMB","display":"ambulatory","system":"http://terminology.hl7.org/CodeSystem/v3-ActCode"}`,
				`"subject":{"display":"Alice Own","reference":"Patient/` + w.ownPatient.ID + `"}`, `"reference":"Practitioner/` + w.ownDoctor.ID + `"`, `"code":"PPRF"`,
				`"appointment":[{"reference":"Appointment/` + appt.ID + `"}]`, `"end":"` + signedAt + `"`, `"reasonCode":[{"text":"Cough for three days."}]`} {
				if !strings.Contains(string(js), want) {
					t.Errorf("encounter lacks %s: %s", want, js)
				}
			}
			enc = s.get(encOf+draft.ID, w.tokens["doctor"], 200, "Encounter")
			if p := enc["period"].(map[string]any); enc["status"] != "in-progress" || p["end"] != nil || p["start"] == nil || enc["appointment"] != nil || enc["reasonCode"] != nil {
				t.Fatalf("draft encounter %v", enc)
			}

			// Dates: the note's signature, the encounter's period (open
			// while unsigned).
			yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
			for path, want := range map[string]int{
				"/fhir/R4/DocumentReference?" + own + "&date=ge" + yesterday:                                 1,
				"/fhir/R4/DocumentReference?" + own + "&date=lt" + yesterday:                                 0,
				"/fhir/R4/DocumentReference?" + own + "&date=" + signed.SignedAt.UTC().Format(time.DateOnly): 1,
				"/fhir/R4/Encounter?" + own + "&date=ge" + yesterday:                                         2,
				"/fhir/R4/Encounter?" + own + "&date=lt2000-01-01":                                           0,
				"/fhir/R4/Encounter?" + own + "&date=ge2999-01-01":                                           1, // the unsigned one goes on
			} {
				if b := s.get(path, w.tokens["doctor"], 200, "Bundle"); total(t, b) != want {
					t.Errorf("%s: total %d, want %d", path, total(t, b), want)
				}
			}
			// Paging and the total alone.
			b = s.get("/fhir/R4/Encounter?"+own+"&_count=1", w.tokens["doctor"], 200, "Bundle")
			if total(t, b) != 2 || len(ids(b)) != 1 || link(b, "next") == "" {
				t.Fatalf("first page %v", b)
			}
			if next := s.get(pathOf(t, link(b, "next")), w.tokens["doctor"], 200, "Bundle"); len(ids(next)) != 1 || ids(next)[0] == ids(b)[0] {
				t.Fatalf("second page %v", ids(next))
			}
			if b := s.get("/fhir/R4/DocumentReference?"+own+"&_summary=count", w.tokens["doctor"], 200, "Bundle"); total(t, b) != 1 || b["entry"] != nil {
				t.Fatalf("count %v", b)
			}

			// A doctor who does not treat the patient is refused, and the
			// refusal recorded.
			s.outcome(s.do("GET", docOf+elsewhere.ID, w.tokens["doctor"], nil), 403, "forbidden")
			s.outcome(s.do("GET", "/fhir/R4/Encounter?patient=Patient/"+w.otherPatient.ID, w.tokens["doctor"], nil), 403, "forbidden")
			if !s.auditedAbout(doctor.ID, domain.ActionRead, "consultation", w.otherPatient.ID, domain.OutcomeDenied) {
				t.Fatal("the refusal is not audited")
			}

			// The patient reads their own signed note, not the draft.
			b = s.get("/fhir/R4/DocumentReference?"+own, w.tokens["patient"], 200, "Bundle")
			if !slices.Equal(ids(b), []string{signed.ID}) {
				t.Fatalf("patient's documents %v", ids(b))
			}
			doc = s.get(docOf+signed.ID, w.tokens["patient"], 200, "DocumentReference")
			if got := attachmentText(t, doc); got != wantText {
				t.Fatalf("patient's attachment %q", got)
			}
			if !s.auditedAbout(patient.ID, domain.ActionRead, consult.ResourceVisitNote, w.ownPatient.ID, domain.OutcomeSuccess) {
				t.Fatal("the patient's read is not audited with the patient")
			}
			s.outcome(s.do("GET", docOf+draft.ID, w.tokens["patient"], nil), 404, "not-found")
			s.outcome(s.do("GET", encOf+draft.ID, w.tokens["patient"], nil), 404, "not-found")
			if b := s.get("/fhir/R4/Encounter?"+own, w.tokens["patient"], 200, "Bundle"); !slices.Equal(ids(b), []string{signed.ID}) {
				t.Fatalf("patient's encounters %v", ids(b))
			}
			s.get(encOf+signed.ID, w.tokens["patient"], 200, "Encounter")
			if d := s.outcome(s.do("GET", "/fhir/R4/DocumentReference", w.tokens["patient"], nil), 400, "invalid"); !strings.Contains(d, "patient=Patient/") {
				t.Fatalf("diagnostics %q", d)
			}

			// Another patient and the front desk are refused, and so are
			// admins.
			for _, who := range []string{"otherPatient", "staff", "admin"} {
				tok := w.tokens[who]
				s.outcome(s.do("GET", docOf+signed.ID, tok, nil), 403, "forbidden")
				s.outcome(s.do("GET", encOf+signed.ID, tok, nil), 403, "forbidden")
				s.outcome(s.do("GET", "/fhir/R4/DocumentReference?"+own, tok, nil), 403, "forbidden")
				s.outcome(s.do("GET", "/fhir/R4/Encounter?"+own, tok, nil), 403, "forbidden")
			}
			s.outcome(s.do("GET", "/fhir/R4/DocumentReference", w.tokens["staff"], nil), 403, "forbidden")
			if !s.auditedAbout(w.users["otherPatient"].ID, domain.ActionRead, consult.ResourceVisitNote, w.ownPatient.ID, domain.OutcomeDenied) {
				t.Fatal("another patient's refusal is not audited")
			}

			// Bad input.
			for _, path := range []string{docOf + "bad_id", encOf + strings.Repeat("a", 65), docOf + signed.ID + "?patient=x",
				"/fhir/R4/DocumentReference?patient=Practitioner/" + w.ownDoctor.ID, "/fhir/R4/DocumentReference?date=2026-13-01",
				"/fhir/R4/Encounter?status=finished", "/fhir/R4/Encounter?patient=Patient/no-such-patient", "/fhir/R4/DocumentReference?" + own + "&_summary=text"} {
				s.outcome(s.do("GET", path, w.tokens["doctor"], nil), 400, "invalid")
			}
			s.outcome(s.do("GET", docOf+signed.ID, "", nil), 401, "security")
			s.outcome(s.do("GET", "/fhir/R4/Encounter", "", nil), 401, "security")

			// Lenient handling leaves out what is not declared.
			res := s.do("GET", "/fhir/R4/Encounter?"+own+"&status=finished", w.tokens["doctor"], nil, "Prefer", "handling=lenient")
			if res.Status != 200 || res.Header.Get("Preference-Applied") != "handling=lenient" {
				t.Fatalf("lenient search: %d %s", res.Status, res.Body)
			}
			if ss := splitBundle(t, res.Body); total(t, ss.bundle) != 2 || len(ss.outcomes) != 1 || !strings.Contains(fmt.Sprint(ss.outcomes[0]), `"status"`) {
				t.Fatalf("lenient search %v, outcomes %v", ss.bundle, ss.outcomes)
			}
		})
	}
}

// TestDocumentsCapability: the CapabilityStatement declares DocumentReference
// and Encounter when consultations are served, and only then.
func TestDocumentsCapability(t *testing.T) {
	eng := engines(t)[0]
	s, _ := newDocServer(t, eng.Open(t))
	declared, _ := declaredSearches(s)
	for _, typ := range []string{"DocumentReference", "Encounter"} {
		if want := []string{"patient", "date", "_count", "_offset", "_summary"}; !slices.Equal(declared[typ], want) {
			t.Errorf("%s declares %v, want %v", typ, declared[typ], want)
		}
	}
	plain := newServer(t, eng.Open(t))
	declared, _ = declaredSearches(plain)
	for _, typ := range []string{"DocumentReference", "Encounter"} {
		if _, ok := declared[typ]; ok {
			t.Errorf("%s declared without consultations", typ)
		}
		u := plain.user(domain.RoleStaff)
		if res := plain.do("GET", "/fhir/R4/"+typ, plain.token(u), nil); res.Status != 404 {
			t.Errorf("%s served without consultations: %d", typ, res.Status)
		}
	}
}

// documentReference checks the R4 DocumentReference elements HealthHub fills.
func (c *checker) documentReference(path string, m map[string]any) {
	c.code(path, m, "status", true, []string{"current", "superseded", "entered-in-error"})
	c.code(path, m, "docStatus", false, []string{"preliminary", "final", "amended", "entered-in-error"})
	if ty := c.object(path, m, "type", false); ty != nil {
		c.codeableConcept(path+".type", ty)
	}
	for i, cc := range c.array(path, m, "category", false) {
		c.codeableConcept(fmt.Sprintf("%s.category[%d]", path, i), cc)
	}
	c.reference(path, m, "subject", false, "Patient", "Practitioner", "Group", "Device")
	c.instant(path, m, "date", false)
	c.references(path, m, "author", "Practitioner", "PractitionerRole", "Organization", "Device", "Patient", "RelatedPerson")
	c.reference(path, m, "authenticator", false, "Practitioner", "PractitionerRole", "Organization")
	c.str(path, m, "description", false)
	content := c.array(path, m, "content", true)
	if len(content) == 0 {
		c.fail(path+".content", "required (1..*)")
	}
	for i, ct := range content {
		p := fmt.Sprintf("%s.content[%d]", path, i)
		att := c.object(p, ct, "attachment", true)
		if att == nil {
			continue
		}
		p += ".attachment"
		ctype, hasType := c.str(p, att, "contentType", false)
		if hasType && !mediaTypeRE.MatchString(ctype) {
			c.fail(p+".contentType", "%q is not a media type", ctype)
		}
		if data, ok := c.str(p, att, "data", false); ok {
			if !hasType {
				c.fail(p, "att-1: data needs a contentType")
			}
			if _, err := base64.StdEncoding.DecodeString(data); err != nil {
				c.fail(p+".data", "not base64: %v", err)
			}
		}
		if v, ok := att["size"]; ok {
			if n, isNum := v.(float64); !isNum || n < 0 || n != float64(int(n)) {
				c.fail(p+".size", "must be an unsigned integer, not %v", v)
			}
		}
		if h, ok := c.str(p, att, "hash", false); ok {
			if b, err := base64.StdEncoding.DecodeString(h); err != nil || len(b) != sha1.Size {
				c.fail(p+".hash", "not a base64 SHA-1")
			}
		}
		c.str(p, att, "title", false)
		c.dateTime(p, att, "creation", false)
	}
	if ctx := c.object(path, m, "context", false); ctx != nil {
		c.references(path+".context", ctx, "encounter", "Encounter", "EpisodeOfCare")
		c.period(path+".context", ctx, "period")
	}
}

// encounter checks the R4 Encounter elements HealthHub fills.
func (c *checker) encounter(path string, m map[string]any) {
	c.code(path, m, "status", true, []string{"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error", "unknown"})
	if cl := c.object(path, m, "class", true); cl != nil {
		c.str(path+".class", cl, "code", true)
		c.str(path+".class", cl, "system", false)
	}
	c.reference(path, m, "subject", false, "Patient", "Group")
	for i, p := range c.array(path, m, "participant", false) {
		pp := fmt.Sprintf("%s.participant[%d]", path, i)
		for j, ty := range c.array(pp, p, "type", false) {
			c.codeableConcept(fmt.Sprintf("%s.type[%d]", pp, j), ty)
		}
		c.reference(pp, p, "individual", false, "Practitioner", "PractitionerRole", "RelatedPerson")
	}
	c.references(path, m, "appointment", "Appointment")
	for i, rc := range c.array(path, m, "reasonCode", false) {
		c.codeableConcept(fmt.Sprintf("%s.reasonCode[%d]", path, i), rc)
	}
	c.period(path, m, "period")
}

// period checks a Period: dateTimes, and per-1: the end not before the
// start.
func (c *checker) period(path string, m map[string]any, key string) {
	p := c.object(path, m, key, false)
	if p == nil {
		return
	}
	c.dateTime(path+"."+key, p, "start", false)
	c.dateTime(path+"."+key, p, "end", false)
	start, _ := p["start"].(string)
	end, _ := p["end"].(string)
	s, err1 := time.Parse(time.RFC3339Nano, start)
	e, err2 := time.Parse(time.RFC3339Nano, end)
	if err1 == nil && err2 == nil && e.Before(s) {
		c.fail(path+"."+key, "per-1: the end is before the start")
	}
}

// references checks an array of references to the types.
func (c *checker) references(path string, m map[string]any, key string, types ...string) {
	for i, r := range c.array(path, m, key, false) {
		p := fmt.Sprintf("%s.%s[%d]", path, key, i)
		if s, ok := c.str(p, r, "reference", true); ok && !slices.Contains(types, strings.Split(s, "/")[0]) {
			c.fail(p+".reference", "%q is not a reference to %v", s, types)
		}
	}
}

// mediaTypeRE is a MIME type with optional parameters.
var mediaTypeRE = regexp.MustCompile(`^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+(\s*;\s*[a-z0-9!#$&^_.+-]+=[^;\s]+)*$`)

// TestShapeCheckerDocuments: the document and encounter checks refuse what
// R4 refuses.
func TestShapeCheckerDocuments(t *testing.T) {
	content := `"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]`
	enc := `"resourceType":"Encounter","class":{"code":"AMB"}`
	bad := map[string]string{
		"document status":        `{"resourceType":"DocumentReference","status":"final",` + content + `}`,
		"document no content":    `{"resourceType":"DocumentReference","status":"current"}`,
		"document docStatus":     `{"resourceType":"DocumentReference","status":"current","docStatus":"signed",` + content + `}`,
		"data without type":      `{"resourceType":"DocumentReference","status":"current","content":[{"attachment":{"data":"aGk="}}]}`,
		"data not base64":        `{"resourceType":"DocumentReference","status":"current","content":[{"attachment":{"contentType":"text/plain","data":"h!"}}]}`,
		"hash not SHA-1":         `{"resourceType":"DocumentReference","status":"current","content":[{"attachment":{"contentType":"text/plain","data":"aGk=","hash":"aGk="}}]}`,
		"subject an encounter":   `{"resourceType":"DocumentReference","status":"current","subject":{"reference":"Encounter/1"},` + content + `}`,
		"context not encounter":  `{"resourceType":"DocumentReference","status":"current","context":{"encounter":[{"reference":"Patient/1"}]},` + content + `}`,
		"date without zone":      `{"resourceType":"DocumentReference","status":"current","date":"2026-01-01T09:00:00",` + content + `}`,
		"encounter status":       `{` + enc + `,"status":"done"}`,
		"encounter no class":     `{"resourceType":"Encounter","status":"finished"}`,
		"encounter backwards":    `{` + enc + `,"status":"finished","period":{"start":"2026-01-01T10:00:00Z","end":"2026-01-01T09:00:00Z"}}`,
		"participant a patient":  `{` + enc + `,"status":"finished","participant":[{"individual":{"reference":"Patient/1"}}]}`,
		"appointment not one":    `{` + enc + `,"status":"finished","appointment":[{"reference":"Slot/1"}]}`,
		"encounter empty reason": `{` + enc + `,"status":"finished","reasonCode":[{}]}`,
	}
	for name, doc := range bad {
		var m map[string]any
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c := &checker{}
		c.json("$", m)
		c.resource("$", m)
		if len(c.errs) == 0 {
			t.Errorf("%s: accepted %s", name, doc)
		}
	}
	checkR4(t, []byte(`{"resourceType":"DocumentReference","status":"current",`+content+`}`), "DocumentReference")
	checkR4(t, []byte(`{`+enc+`,"status":"in-progress","period":{"start":"2026-01-01T09:00:00Z"}}`), "Encounter")
}
