package fhir_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The R4 JSON rules the responses are held to: the general rules of the JSON
// format (https://hl7.org/fhir/R4/json.html), and per resource the required
// elements, value sets and data types HealthHub fills.

var (
	idRE        = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	instantRE   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
	dateTimeRE  = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?)?)?$`)
	dateRE      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	referenceRE = regexp.MustCompile(`^(Patient|Practitioner|Schedule|Slot|Appointment|AuditEvent|Encounter|DocumentReference)/[A-Za-z0-9\-.]{1,64}$`)

	appointmentStatus   = []string{"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow", "entered-in-error", "checked-in", "waitlist"}
	slotStatus          = []string{"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"}
	genders             = []string{"male", "female", "other", "unknown"}
	participationStatus = []string{"accepted", "declined", "tentative", "needs-action"}
	issueSeverity       = []string{"fatal", "error", "warning", "information"}
	issueType           = []string{"invalid", "structure", "required", "value", "invariant", "security", "login", "unknown", "expired",
		"forbidden", "suppressed", "processing", "not-supported", "duplicate", "multiple-matches", "not-found", "deleted", "too-long",
		"code-invalid", "extension", "too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store", "exception",
		"timeout", "incomplete", "throttled", "informational"}
	contactSystem   = []string{"phone", "fax", "email", "pager", "url", "sms", "other"}
	interactionCode = []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}
	searchParamType = []string{"number", "date", "string", "token", "reference", "composite", "quantity", "uri", "special"}
	linkRelation    = []string{"self", "first", "previous", "next", "last"}
	searchMode      = []string{"match", "include", "outcome"}
)

// checkR4 decodes a resource and reports every rule it breaks; want, when
// set, is the resource type expected.
func checkR4(t testing.TB, body []byte, want string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, body)
	}
	c := &checker{}
	c.json("$", m)
	c.resource("$", m)
	if want != "" && m["resourceType"] != want {
		c.fail("$", "resourceType %v, want %s", m["resourceType"], want)
	}
	for _, e := range c.errs {
		t.Errorf("R4: %s", e)
	}
	if len(c.errs) > 0 {
		t.Fatalf("R4 shape violated by %s", body)
	}
	return m
}

type checker struct{ errs []string }

func (c *checker) fail(path, format string, args ...any) {
	c.errs = append(c.errs, path+": "+fmt.Sprintf(format, args...))
}

// json applies the format's general rules: no nulls, no empty strings,
// arrays or objects, and references of the form Type/id.
func (c *checker) json(path string, v any) {
	switch x := v.(type) {
	case nil:
		c.fail(path, "null is not allowed")
	case string:
		if x == "" {
			c.fail(path, "empty string")
		}
		if strings.TrimSpace(x) != x && !strings.HasSuffix(path, ".div") {
			c.fail(path, "leading or trailing whitespace")
		}
	case []any:
		if len(x) == 0 {
			c.fail(path, "empty array")
		}
		for i, e := range x {
			c.json(fmt.Sprintf("%s[%d]", path, i), e)
		}
	case map[string]any:
		if len(x) == 0 {
			c.fail(path, "empty object")
		}
		for k, e := range x {
			c.json(path+"."+k, e)
			if k == "reference" {
				if s, _ := e.(string); !referenceRE.MatchString(s) {
					c.fail(path+".reference", "%q is not Type/id", e)
				}
			}
		}
	}
}

func (c *checker) str(path string, m map[string]any, key string, required bool) (string, bool) {
	v, ok := m[key]
	if !ok {
		if required {
			c.fail(path+"."+key, "required")
		}
		return "", false
	}
	s, isStr := v.(string)
	if !isStr {
		c.fail(path+"."+key, "must be a string, not %T", v)
		return "", false
	}
	return s, true
}

func (c *checker) code(path string, m map[string]any, key string, required bool, set []string) string {
	s, ok := c.str(path, m, key, required)
	if ok && !slices.Contains(set, s) {
		c.fail(path+"."+key, "%q is not in %v", s, set)
	}
	return s
}

func (c *checker) instant(path string, m map[string]any, key string, required bool) time.Time {
	s, ok := c.str(path, m, key, required)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if !instantRE.MatchString(s) || err != nil {
		c.fail(path+"."+key, "%q is not an instant (RFC 3339 with a time zone)", s)
	}
	return t
}

func (c *checker) dateTime(path string, m map[string]any, key string, required bool) {
	s, ok := c.str(path, m, key, required)
	if ok && !dateTimeRE.MatchString(s) {
		c.fail(path+"."+key, "%q is not a dateTime", s)
	}
}

func (c *checker) date(path string, m map[string]any, key string) {
	s, ok := c.str(path, m, key, false)
	if !ok {
		return
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil || !dateRE.MatchString(s) {
		c.fail(path+"."+key, "%q is not a date YYYY-MM-DD", s)
	}
}

func (c *checker) array(path string, m map[string]any, key string, required bool) []map[string]any {
	v, ok := m[key]
	if !ok {
		if required {
			c.fail(path+"."+key, "required (1..*)")
		}
		return nil
	}
	a, isArr := v.([]any)
	if !isArr {
		c.fail(path+"."+key, "must be an array, not %T", v)
		return nil
	}
	var out []map[string]any
	for i, e := range a {
		o, isObj := e.(map[string]any)
		if !isObj {
			c.fail(fmt.Sprintf("%s.%s[%d]", path, key, i), "must be an object")
			continue
		}
		out = append(out, o)
	}
	return out
}

func (c *checker) object(path string, m map[string]any, key string, required bool) map[string]any {
	v, ok := m[key]
	if !ok {
		if required {
			c.fail(path+"."+key, "required")
		}
		return nil
	}
	o, isObj := v.(map[string]any)
	if !isObj {
		c.fail(path+"."+key, "must be an object, not %T", v)
	}
	return o
}

func (c *checker) strings(path string, m map[string]any, key string) {
	v, ok := m[key]
	if !ok {
		return
	}
	a, isArr := v.([]any)
	if !isArr {
		c.fail(path+"."+key, "must be an array of strings")
		return
	}
	for i, e := range a {
		if _, ok := e.(string); !ok {
			c.fail(fmt.Sprintf("%s.%s[%d]", path, key, i), "must be a string")
		}
	}
}

func (c *checker) reference(path string, m map[string]any, key string, required bool, types ...string) {
	r := c.object(path, m, key, required)
	if r == nil {
		return
	}
	s, ok := c.str(path+"."+key, r, "reference", required)
	if ok && !slices.Contains(types, strings.Split(s, "/")[0]) {
		c.fail(path+"."+key+".reference", "%q is not a reference to %v", s, types)
	}
}

func (c *checker) codeableConcept(path string, m map[string]any) {
	_, hasText := m["text"]
	codings := c.array(path, m, "coding", false)
	if !hasText && len(codings) == 0 {
		c.fail(path, "CodeableConcept without text or coding")
	}
	c.str(path, m, "text", false)
	for i, cd := range codings {
		c.str(fmt.Sprintf("%s.coding[%d]", path, i), cd, "code", true)
		c.str(fmt.Sprintf("%s.coding[%d]", path, i), cd, "system", false)
	}
}

func (c *checker) humanNames(path string, m map[string]any) {
	for i, n := range c.array(path, m, "name", false) {
		p := fmt.Sprintf("%s.name[%d]", path, i)
		c.str(p, n, "text", false)
		c.str(p, n, "family", false)
		c.strings(p, n, "given")
	}
}

func (c *checker) identifiers(path string, m map[string]any) {
	for i, id := range c.array(path, m, "identifier", false) {
		p := fmt.Sprintf("%s.identifier[%d]", path, i)
		c.str(p, id, "value", true)
		if s, ok := c.str(p, id, "system", false); ok {
			if u, err := url.Parse(s); err != nil || u.Scheme == "" {
				c.fail(p+".system", "%q is not a URI", s)
			}
		}
	}
}

// resource checks one resource by its type.
func (c *checker) resource(path string, m map[string]any) {
	rt, ok := c.str(path, m, "resourceType", true)
	if !ok {
		return
	}
	if id, ok := c.str(path, m, "id", false); ok && !idRE.MatchString(id) {
		c.fail(path+".id", "%q is not a FHIR id", id)
	}
	if meta := c.object(path, m, "meta", false); meta != nil {
		c.instant(path+".meta", meta, "lastUpdated", false)
	}
	switch rt {
	case "Bundle":
		c.code(path, m, "type", true, []string{"searchset"})
		if v, ok := m["total"]; ok {
			if n, isNum := v.(float64); !isNum || n < 0 || n != float64(int(n)) {
				c.fail(path+".total", "must be an unsigned integer, not %v", v)
			}
		}
		for i, l := range c.array(path, m, "link", false) {
			p := fmt.Sprintf("%s.link[%d]", path, i)
			c.code(p, l, "relation", true, linkRelation)
			if s, ok := c.str(p, l, "url", true); ok {
				if u, err := url.Parse(s); err != nil || !u.IsAbs() {
					c.fail(p+".url", "%q is not an absolute URL", s)
				}
			}
		}
		for i, e := range c.array(path, m, "entry", false) {
			p := fmt.Sprintf("%s.entry[%d]", path, i)
			full, _ := c.str(p, e, "fullUrl", true)
			res := c.object(p, e, "resource", true)
			if res != nil {
				c.resource(p+".resource", res)
				if want := fmt.Sprintf("/%v/%v", res["resourceType"], res["id"]); !strings.HasSuffix(full, want) {
					c.fail(p+".fullUrl", "%q does not end with %s", full, want)
				}
			}
			if u, err := url.Parse(full); err != nil || !u.IsAbs() {
				c.fail(p+".fullUrl", "%q is not an absolute URL", full)
			}
			if s := c.object(p, e, "search", false); s != nil {
				c.code(p+".search", s, "mode", false, searchMode)
			}
		}
	case "Patient":
		c.identifiers(path, m)
		c.humanNames(path, m)
		c.code(path, m, "gender", false, genders)
		c.date(path, m, "birthDate")
		for i, tp := range c.array(path, m, "telecom", false) {
			p := fmt.Sprintf("%s.telecom[%d]", path, i)
			c.code(p, tp, "system", true, contactSystem)
			c.str(p, tp, "value", true)
		}
		for i, a := range c.array(path, m, "address", false) {
			p := fmt.Sprintf("%s.address[%d]", path, i)
			c.strings(p, a, "line")
			c.str(p, a, "city", false)
			c.str(p, a, "postalCode", false)
			c.str(p, a, "country", false)
		}
		for i, ct := range c.array(path, m, "contact", false) {
			p := fmt.Sprintf("%s.contact[%d]", path, i)
			if ct["name"] == nil && ct["telecom"] == nil && ct["address"] == nil && ct["organization"] == nil {
				c.fail(p, "pat-1: a contact needs details or an organization")
			}
			for j, rel := range c.array(p, ct, "relationship", false) {
				c.codeableConcept(fmt.Sprintf("%s.relationship[%d]", p, j), rel)
			}
		}
	case "Practitioner":
		c.identifiers(path, m)
		c.humanNames(path, m)
		for i, q := range c.array(path, m, "qualification", false) {
			p := fmt.Sprintf("%s.qualification[%d]", path, i)
			if cc := c.object(p, q, "code", true); cc != nil {
				c.codeableConcept(p+".code", cc)
			}
		}
		for i, e := range c.array(path, m, "extension", false) {
			c.str(fmt.Sprintf("%s.extension[%d]", path, i), e, "url", true)
		}
	case "Schedule":
		actors := c.array(path, m, "actor", true)
		if len(actors) == 0 {
			c.fail(path+".actor", "required (1..*)")
		}
		for i, a := range actors {
			c.str(fmt.Sprintf("%s.actor[%d]", path, i), a, "reference", true)
		}
		if v, ok := m["active"]; ok {
			if _, isBool := v.(bool); !isBool {
				c.fail(path+".active", "must be a boolean")
			}
		}
		if ph := c.object(path, m, "planningHorizon", false); ph != nil {
			c.dateTime(path+".planningHorizon", ph, "start", false)
			c.dateTime(path+".planningHorizon", ph, "end", false)
		}
		for _, k := range []string{"serviceType", "specialty"} {
			for i, cc := range c.array(path, m, k, false) {
				c.codeableConcept(fmt.Sprintf("%s.%s[%d]", path, k, i), cc)
			}
		}
	case "Slot":
		c.reference(path, m, "schedule", true, "Schedule")
		c.code(path, m, "status", true, slotStatus)
		start := c.instant(path, m, "start", true)
		end := c.instant(path, m, "end", true)
		if !start.IsZero() && !end.After(start) {
			c.fail(path, "end is not after start")
		}
	case "Appointment":
		status := c.code(path, m, "status", true, appointmentStatus)
		ps := c.array(path, m, "participant", true)
		if len(ps) == 0 {
			c.fail(path+".participant", "required (1..*)")
		}
		for i, p := range ps {
			pp := fmt.Sprintf("%s.participant[%d]", path, i)
			c.code(pp, p, "status", true, participationStatus)
			c.reference(pp, p, "actor", false, "Patient", "Practitioner")
		}
		start := c.instant(path, m, "start", false)
		end := c.instant(path, m, "end", false)
		if start.IsZero() != end.IsZero() {
			c.fail(path, "app-2: either start and end are specified, or neither")
		}
		if start.IsZero() && !slices.Contains([]string{"proposed", "cancelled", "waitlist"}, status) {
			c.fail(path, "app-3: only proposed or cancelled appointments can be missing start/end dates")
		}
		if !start.IsZero() && !end.After(start) {
			c.fail(path, "end is not after start")
		}
		c.dateTime(path, m, "created", false)
		if cr := c.object(path, m, "cancelationReason", false); cr != nil {
			c.codeableConcept(path+".cancelationReason", cr)
			if status != "cancelled" && status != "noshow" {
				c.fail(path+".cancelationReason", "app-4: only for cancelled or noshow appointments")
			}
		}
		if v, ok := m["minutesDuration"]; ok {
			if n, isNum := v.(float64); !isNum || n < 1 || n != float64(int(n)) {
				c.fail(path+".minutesDuration", "must be a positive integer")
			}
		}
		c.str(path, m, "description", false)
	case "CapabilityStatement":
		c.code(path, m, "status", true, []string{"draft", "active", "retired", "unknown"})
		c.dateTime(path, m, "date", true)
		kind := c.code(path, m, "kind", true, []string{"instance", "capability", "requirements"})
		c.code(path, m, "fhirVersion", true, []string{"4.0.1"})
		if f, ok := m["format"].([]any); !ok || len(f) == 0 {
			c.fail(path+".format", "required (1..*)")
		}
		c.strings(path, m, "format")
		if kind == "instance" {
			if impl := c.object(path, m, "implementation", true); impl != nil {
				c.str(path+".implementation", impl, "description", true)
			}
		}
		rest := c.array(path, m, "rest", false)
		if len(rest) == 0 {
			c.fail(path, "cpb-1: a statement needs rest, messaging or document")
		}
		for i, r := range rest {
			rp := fmt.Sprintf("%s.rest[%d]", path, i)
			c.code(rp, r, "mode", true, []string{"client", "server"})
			for j, res := range c.array(rp, r, "resource", false) {
				p := fmt.Sprintf("%s.resource[%d]", rp, j)
				c.str(p, res, "type", true)
				for k, in := range c.array(p, res, "interaction", false) {
					c.code(fmt.Sprintf("%s.interaction[%d]", p, k), in, "code", true, interactionCode)
				}
				for k, sp := range c.array(p, res, "searchParam", false) {
					c.str(fmt.Sprintf("%s.searchParam[%d]", p, k), sp, "name", true)
					c.code(fmt.Sprintf("%s.searchParam[%d]", p, k), sp, "type", true, searchParamType)
				}
			}
		}
	case "OperationOutcome":
		is := c.array(path, m, "issue", true)
		if len(is) == 0 {
			c.fail(path+".issue", "required (1..*)")
		}
		for i, x := range is {
			p := fmt.Sprintf("%s.issue[%d]", path, i)
			c.code(p, x, "severity", true, issueSeverity)
			c.code(p, x, "code", true, issueType)
			c.str(p, x, "diagnostics", false)
		}
	case "AuditEvent":
		if ty := c.object(path, m, "type", true); ty != nil {
			c.str(path+".type", ty, "code", true)
		}
		c.code(path, m, "action", false, []string{"C", "R", "U", "D", "E"})
		c.instant(path, m, "recorded", true)
		c.code(path, m, "outcome", false, []string{"0", "4", "8", "12"})
		agents := c.array(path, m, "agent", true)
		if len(agents) == 0 {
			c.fail(path+".agent", "required (1..*)")
		}
		for i, a := range agents {
			p := fmt.Sprintf("%s.agent[%d]", path, i)
			if _, ok := a["requestor"].(bool); !ok {
				c.fail(p+".requestor", "required boolean")
			}
		}
		if src := c.object(path, m, "source", true); src != nil {
			c.object(path+".source", src, "observer", true)
		}
	case "DocumentReference":
		c.documentReference(path, m)
	case "Encounter":
		c.encounter(path, m)
	default:
		c.fail(path+".resourceType", "unexpected resource type %q", rt)
	}
}

// TestShapeChecker makes sure the checker refuses what R4 refuses, so that
// the passing responses mean something.
func TestShapeChecker(t *testing.T) {
	appt := `"resourceType":"Appointment","participant":[{"actor":{"reference":"Patient/1"},"status":"accepted"}]`
	bad := map[string]string{
		"no resourceType":            `{"id":"1"}`,
		"unknown resource":           `{"resourceType":"Observation"}`,
		"bad id":                     `{"resourceType":"Patient","id":"a_b"}`,
		"null":                       `{"resourceType":"Patient","gender":null}`,
		"empty string":               `{"resourceType":"Patient","birthDate":""}`,
		"empty array":                `{"resourceType":"Patient","name":[]}`,
		"empty object":               `{"resourceType":"Patient","meta":{}}`,
		"gender":                     `{"resourceType":"Patient","gender":"f"}`,
		"birthDate":                  `{"resourceType":"Patient","birthDate":"1985-6-7"}`,
		"contact without details":    `{"resourceType":"Patient","contact":[{"relationship":[{"text":"x"}]}]}`,
		"reference":                  `{"resourceType":"Patient","generalPractitioner":[{"reference":"Practitioner"}]}`,
		"appointment status":         `{` + appt + `,"status":"done"}`,
		"appointment no status":      `{` + appt + `}`,
		"appointment no participant": `{"resourceType":"Appointment","status":"booked"}`,
		"participant status":         `{"resourceType":"Appointment","status":"booked","participant":[{"status":"maybe"}]}`,
		"instant without zone":       `{` + appt + `,"status":"booked","start":"2026-01-01T09:00:00","end":"2026-01-01T09:30:00Z"}`,
		"start without end":          `{` + appt + `,"status":"booked","start":"2026-01-01T09:00:00Z"}`,
		"cancel reason when booked":  `{` + appt + `,"status":"booked","cancelationReason":{"text":"x"}}`,
		"slot status":                `{"resourceType":"Slot","schedule":{"reference":"Schedule/1"},"status":"open","start":"2026-01-01T09:00:00Z","end":"2026-01-01T09:30:00Z"}`,
		"slot without schedule":      `{"resourceType":"Slot","status":"free","start":"2026-01-01T09:00:00Z","end":"2026-01-01T09:30:00Z"}`,
		"slot backwards":             `{"resourceType":"Slot","schedule":{"reference":"Schedule/1"},"status":"free","start":"2026-01-01T09:30:00Z","end":"2026-01-01T09:00:00Z"}`,
		"schedule without actor":     `{"resourceType":"Schedule","active":true}`,
		"bundle type":                `{"resourceType":"Bundle","type":"collection"}`,
		"bundle total":               `{"resourceType":"Bundle","type":"searchset","total":-1}`,
		"bundle relative link":       `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"self","url":"/fhir/R4/Patient"}]}`,
		"bundle entry fullUrl":       `{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"http://x/fhir/R4/Patient/2","resource":{"resourceType":"Patient","id":"1"}}]}`,
		"bundle bad entry":           `{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"http://x/fhir/R4/Patient/1","resource":{"resourceType":"Patient","id":"1","gender":"x"}}]}`,
		"outcome without issue":      `{"resourceType":"OperationOutcome"}`,
		"issue code":                 `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"oops"}]}`,
		"issue severity":             `{"resourceType":"OperationOutcome","issue":[{"severity":"bad","code":"invalid"}]}`,
		"capability version":         `{"resourceType":"CapabilityStatement","status":"active","date":"2026","kind":"instance","implementation":{"description":"x"},"fhirVersion":"4.0.0","format":["json"],"rest":[{"mode":"server"}]}`,
		"capability interaction":     `{"resourceType":"CapabilityStatement","status":"active","date":"2026","kind":"instance","implementation":{"description":"x"},"fhirVersion":"4.0.1","format":["json"],"rest":[{"mode":"server","resource":[{"type":"Patient","interaction":[{"code":"get"}]}]}]}`,
		"instance without impl":      `{"resourceType":"CapabilityStatement","status":"active","date":"2026","kind":"instance","fhirVersion":"4.0.1","format":["json"],"rest":[{"mode":"server"}]}`,
		"audit without recorded":     `{"resourceType":"AuditEvent","type":{"code":"rest"},"agent":[{"requestor":true}],"source":{"observer":{"display":"x"}}}`,
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
	good := `{` + appt + `,"status":"booked","start":"2026-01-01T09:00:00+01:00","end":"2026-01-01T09:30:00+01:00"}`
	checkR4(t, []byte(good), "Appointment")
}
