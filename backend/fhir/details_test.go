package fhir_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// searchCase is a search of one resource type that finds something, by a
// caller allowed to run it.
type searchCase struct {
	path, token string
	// stable is false where running the search changes its result (reading
	// the audit log is itself audited).
	stable bool
}

// searchCases has one search per resource type the server can search.
func searchCases(w *world) map[string]searchCase {
	staff := w.tokens["staff"]
	return map[string]searchCase{
		"Patient":      {"/fhir/R4/Patient?name=bob", staff, true},
		"Practitioner": {"/fhir/R4/Practitioner?specialty=Cardiology", w.tokens["patient"], true},
		"Schedule":     {"/fhir/R4/Schedule?actor=Practitioner/" + w.ownDoctor.ID, staff, true},
		// A fixed range: by default slots are searched from now on.
		"Slot":        {"/fhir/R4/Slot?schedule=Schedule/" + w.ownDoctor.ID + "&start=ge" + day(3).Format(time.DateOnly) + "&start=lt" + day(5).Format(time.DateOnly), staff, true},
		"Appointment": {"/fhir/R4/Appointment?patient=Patient/" + w.ownPatient.ID, staff, true},
		"AuditEvent":  {"/fhir/R4/AuditEvent?patient=Patient/" + w.ownPatient.ID, w.tokens["admin"], false},
	}
}

// declaredSearches reads the CapabilityStatement: the search parameters of
// every resource type with the search-type interaction, and the rest
// documentation.
func declaredSearches(s *server) (map[string][]string, string) {
	cs := s.get("/fhir/R4/metadata", "", 200, "CapabilityStatement")
	rest := cs["rest"].([]any)[0].(map[string]any)
	out := map[string][]string{}
	for _, r := range rest["resource"].([]any) {
		res := r.(map[string]any)
		searchable := false
		for _, in := range res["interaction"].([]any) {
			searchable = searchable || in.(map[string]any)["code"] == "search-type"
		}
		if !searchable {
			continue
		}
		names := []string{}
		sps, _ := res["searchParam"].([]any)
		for _, sp := range sps {
			names = append(names, sp.(map[string]any)["name"].(string))
		}
		out[res["type"].(string)] = names
	}
	doc, _ := rest["documentation"].(string)
	return out, doc
}

// searchset is a Bundle split by search mode: the Bundle with its matches
// alone, and the outcome resources. Both have been checked against R4.
type searchset struct {
	bundle   map[string]any
	outcomes []map[string]any
}

// splitBundle checks a searchset Bundle whose outcome entries, having no
// id, are named by a urn:uuid rather than a RESTful URL.
func splitBundle(t testing.TB, body []byte) searchset {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	var out searchset
	var matchEntries []any
	es, _ := b["entry"].([]any)
	for _, e := range es {
		entry := e.(map[string]any)
		res, _ := entry["resource"].(map[string]any)
		mode, _ := entry["search"].(map[string]any)["mode"].(string)
		if mode != "outcome" {
			matchEntries = append(matchEntries, e)
			continue
		}
		full, _ := entry["fullUrl"].(string)
		if !strings.HasPrefix(full, "urn:uuid:") || len(full) != len("urn:uuid:")+36 {
			t.Fatalf("outcome entry fullUrl %q is not a urn:uuid", full)
		}
		raw, _ := json.Marshal(res)
		checkR4(t, raw, "OperationOutcome")
		out.outcomes = append(out.outcomes, res)
	}
	rest := map[string]any{}
	for k, v := range b {
		rest[k] = v
	}
	delete(rest, "entry")
	if len(matchEntries) > 0 {
		rest["entry"] = matchEntries
	}
	raw, _ := json.Marshal(rest)
	out.bundle = checkR4(t, raw, "Bundle")
	return out
}

// linkParams returns the parameters of a link.
func linkParams(t testing.TB, link string) url.Values {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("link %q: %v", link, err)
	}
	return u.Query()
}

// TestCountOnlySearch: _count=0 and _summary=count answer the total alone,
// on every search whose CapabilityStatement entry declares _summary, and
// read no records to do it; the others refuse _summary.
func TestCountOnlySearch(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := newServer(t, eng.Open(t))
			w := newWorld(t, s)
			declared, _ := declaredSearches(s)
			cases := searchCases(w)
			for typ, params := range declared {
				c, ok := cases[typ]
				if !ok {
					t.Fatalf("no search case for %s", typ)
				}
				if !slices.Contains(params, "_summary") {
					s.outcome(s.do("GET", c.path+"&_summary=count", c.token, nil), 400, "invalid")
					continue
				}
				want := total(t, s.get(c.path, c.token, 200, "Bundle"))
				if want == 0 {
					t.Fatalf("%s: the search case finds nothing", c.path)
				}
				filter := linkParams(t, "http://x"+c.path)
				for _, extra := range []string{"_count=0", "_summary=count", "_summary=count&_count=5", "_count=0&_offset=1", "_summary=count&_pretty=true"} {
					path := c.path + "&" + extra
					b := s.get(path, c.token, 200, "Bundle")
					if total(t, b) != want || b["entry"] != nil {
						t.Errorf("%s: total %v, entries %v; want the total %d alone", path, b["total"], b["entry"], want)
					}
					links, _ := b["link"].([]any)
					if len(links) != 1 || link(b, "self") == "" {
						t.Errorf("%s: links %v; want self alone", path, links)
						continue
					}
					self := linkParams(t, link(b, "self"))
					for k := range filter {
						if self.Get(k) != filter.Get(k) {
							t.Errorf("%s: self link %s lacks %s=%s", path, link(b, "self"), k, filter.Get(k))
						}
					}
					asked := linkParams(t, "http://x/?"+extra)
					if self.Get("_summary") != asked.Get("_summary") || self.Get("_count") != asked.Get("_count") || self.Has("_offset") {
						t.Errorf("%s: self link %s", path, link(b, "self"))
					}
				}
				for _, bad := range []string{"_summary=true", "_summary=text", "_summary=data", "_summary=count&_summary=count", "_count=-1", "_count=201"} {
					s.outcome(s.do("GET", c.path+"&"+bad, c.token, nil), 400, "invalid")
				}
				if b := s.get(c.path+"&_summary=false", c.token, 200, "Bundle"); total(t, b) != want || b["entry"] == nil {
					t.Errorf("%s: _summary=false gives %v", c.path, b)
				}
			}

			// A count reads no patient's record: its audit event names no
			// one and counts no results.
			counter := s.user(domain.RoleStaff)
			tok := s.token(counter)
			for _, path := range []string{"/fhir/R4/Patient?_count=0", "/fhir/R4/Patient?_summary=count"} {
				if n := total(t, s.get(path, tok, 200, "Bundle")); n != 2 {
					t.Fatalf("%s: total %d, want 2", path, n)
				}
			}
			evs, err := s.DB.ListAudit(context.Background(), domain.AuditFilter{ActorID: counter.ID, Action: domain.ActionSearch, ResourceType: "patient", Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				t.Fatal("the counts are not audited")
			}
			for _, e := range evs {
				if e.PatientID != "" || e.Detail != "results=0" {
					t.Errorf("a count is recorded as reading records: patient %q, %q", e.PatientID, e.Detail)
				}
			}
		})
	}
}

// TestLenientSearch: strict handling is the default; with Prefer:
// handling=lenient a search ignores the parameters it does not support, runs
// with the others, keeps the ignored ones out of its links and names them in
// an OperationOutcome entry.
func TestLenientSearch(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			s := newServer(t, eng.Open(t))
			w := newWorld(t, s)
			declared, doc := declaredSearches(s)
			if !strings.Contains(doc, "handling=lenient") {
				t.Errorf("the CapabilityStatement does not say how unsupported parameters are handled: %q", doc)
			}
			lenient := func(path, token, prefer string) (response, searchset) {
				t.Helper()
				res := s.do("GET", path, token, nil, "Prefer", prefer)
				if res.Status != 200 {
					t.Fatalf("%s with Prefer %q: %d %s", path, prefer, res.Status, res.Body)
				}
				if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
					t.Fatalf("Content-Type %q", ct)
				}
				if got := res.Header.Get("Preference-Applied"); got != "handling=lenient" {
					t.Errorf("%s: Preference-Applied %q", path, got)
				}
				return res, splitBundle(t, res.Body)
			}
			unknown := "colour=blue&name:exact=Bob&_sort=name&colour=red"
			for typ := range declared {
				c, ok := searchCases(w)[typ]
				if !ok {
					t.Fatalf("no search case for %s", typ)
				}
				path := c.path + "&" + unknown
				s.outcome(s.do("GET", path, c.token, nil), 400, "invalid")
				s.outcome(s.do("GET", path, c.token, nil, "Prefer", "handling=strict"), 400, "invalid")

				plain := splitBundle(t, s.do("GET", c.path, c.token, nil, "Prefer", "handling=lenient").Body)
				if len(plain.outcomes) != 0 {
					t.Errorf("%s: an outcome entry although nothing was ignored: %v", c.path, plain.outcomes)
				}
				_, got := lenient(path, c.token, "handling=lenient")
				if len(ids(got.bundle)) == 0 {
					t.Errorf("%s: no matches", path)
				}
				if c.stable && (!slices.Equal(ids(got.bundle), ids(plain.bundle)) || got.bundle["total"] != plain.bundle["total"]) {
					t.Errorf("%s: matches %v (total %v), want those of %s: %v (total %v)", path, ids(got.bundle), got.bundle["total"],
						c.path, ids(plain.bundle), plain.bundle["total"])
				}
				self := linkParams(t, link(got.bundle, "self"))
				for k := range linkParams(t, "http://x"+c.path) {
					if !self.Has(k) {
						t.Errorf("%s: self link %s lacks %s", path, link(got.bundle, "self"), k)
					}
				}
				for k := range self {
					if !slices.Contains(declared[typ], k) {
						t.Errorf("%s: self link %s keeps %s", path, link(got.bundle, "self"), k)
					}
				}
				if len(got.outcomes) != 1 {
					t.Fatalf("%s: %d outcome entries, want 1", path, len(got.outcomes))
				}
				issues := got.outcomes[0]["issue"].([]any)
				var named []string
				for _, is := range issues {
					m := is.(map[string]any)
					if m["severity"] != "warning" || m["code"] != "not-supported" {
						t.Errorf("%s: issue %v", path, m)
					}
					named = append(named, m["diagnostics"].(string))
				}
				for _, name := range []string{"colour", "name:exact", "_sort"} {
					if !slices.ContainsFunc(named, func(d string) bool { return strings.Contains(d, `"`+name+`"`) }) {
						t.Errorf("%s: the outcome does not name %s: %v", path, name, named)
					}
				}
				if len(issues) != 3 {
					t.Errorf("%s: %d issues for 3 ignored parameters: %v", path, len(issues), named)
				}
			}

			staff := w.tokens["staff"]
			// How the preference is written (RFC 7240): among others, in any
			// case, quoted; the first handling preference counts.
			for _, prefer := range []string{"return=minimal, handling=lenient", "HANDLING=Lenient", `handling="lenient"`, "handling=lenient; x=1", "handling=lenient, handling=strict"} {
				lenient("/fhir/R4/Patient?colour=blue", staff, prefer)
			}
			for _, prefer := range []string{"handling=strict, handling=lenient", "handling=lenientx", "lenient", "return=minimal"} {
				res := s.do("GET", "/fhir/R4/Patient?colour=blue", staff, nil, "Prefer", prefer)
				s.outcome(res, 400, "invalid")
				if res.Header.Get("Preference-Applied") != "" {
					t.Errorf("Prefer %q: Preference-Applied %q", prefer, res.Header.Get("Preference-Applied"))
				}
			}
			// Supported parameters keep their checks.
			for _, q := range []string{"_count=x&colour=blue", "_summary=text&colour=blue", "name=a&name=b"} {
				s.outcome(s.do("GET", "/fhir/R4/Patient?"+q, staff, nil, "Prefer", "handling=lenient"), 400, "invalid")
			}
			// A parameter the search does not declare is ignored even where
			// another search takes it.
			_, got := lenient("/fhir/R4/AuditEvent?_summary=count&_count=1", w.tokens["admin"], "handling=lenient")
			if len(ids(got.bundle)) != 1 || len(got.outcomes) != 1 || !strings.Contains(fmt.Sprint(got.outcomes[0]), `"_summary"`) {
				t.Errorf("AuditEvent with _summary: matches %v, outcomes %v", ids(got.bundle), got.outcomes)
			}
			// Paging links leave the ignored parameters out, so they work
			// without the preference; the count alone ignores them too.
			_, got = lenient("/fhir/R4/Patient?_count=1&colour=blue", staff, "handling=lenient")
			next := link(got.bundle, "next")
			if next == "" || strings.Contains(next, "colour") || strings.Contains(link(got.bundle, "self"), "colour") {
				t.Fatalf("links %v", got.bundle["link"])
			}
			if b := s.get(pathOf(t, next), staff, 200, "Bundle"); total(t, b) != 2 || len(ids(b)) != 1 {
				t.Fatalf("next page %v", b)
			}
			_, got = lenient("/fhir/R4/Patient?_summary=count&colour=blue", staff, "handling=lenient")
			if got.bundle["total"] != float64(2) || got.bundle["entry"] != nil || len(got.outcomes) != 1 {
				t.Fatalf("lenient count: %v", got)
			}
			// Many unknown parameters are named in a bounded outcome.
			var many []string
			for i := range 50 {
				many = append(many, fmt.Sprintf("p%d=1", i))
			}
			_, got = lenient("/fhir/R4/Patient?"+strings.Join(many, "&"), staff, "handling=lenient")
			if issues := got.outcomes[0]["issue"].([]any); len(issues) != 21 || !strings.Contains(fmt.Sprint(issues[20]), "30 more") {
				t.Fatalf("%d issues, last %v", len(issues), issues[len(issues)-1])
			}
		})
	}
}

// FuzzLenientSearch sends any query string with any Prefer header to a
// patient search: never a 5xx; a refusal is an OperationOutcome; a Bundle's
// self link holds declared parameters only, and it names the ignored ones
// exactly when lenient handling was applied to a query that had some.
func FuzzLenientSearch(f *testing.F) {
	for _, seed := range [][2]string{
		{"name=bob&colour=blue", "handling=lenient"}, {"name=bob&colour=blue", ""}, {"_count=0", ""}, {"_summary=count&x=1", "handling=lenient"},
		{"%zz=1&x=2", "handling=lenient"}, {"name:exact=a&_count=1&_offset=1", "handling=lenient"}, {"a;b=1", "handling=lenient"},
		{"_summary=text", "handling=lenient"}, {"", "handling=lenient"}, {"_count=0&_offset=3&_sort=name", "return=minimal, handling=lenient"},
		{"x=%ZZ&name=a", `handling="lenient"`}, {"&&=&name=&_count=", "handling=lenient"}, {"_format=xml&q=1", "handling=lenient"},
		{"_pretty=true&q", "Handling=LENIENT;x"}, {"name=a%2Cb", "handling=strict"},
	} {
		f.Add(seed[0], seed[1])
	}
	s := newServer(f, storetest.OpenSQLite(f))
	w := &world{s: s}
	for i := range 3 {
		w.patient(fmt.Sprintf("Fuzz Person%d", i), false)
	}
	token := s.token(s.user(domain.RoleStaff))
	declared, _ := declaredSearches(s)
	known := append([]string{"_format", "_pretty"}, declared["Patient"]...)
	f.Fuzz(func(t *testing.T, rawQuery, prefer string) {
		if strings.ContainsFunc(rawQuery, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '#' }) ||
			strings.ContainsFunc(prefer, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			t.Skip("not a request line or header value a client can send")
		}
		req, err := http.NewRequest("GET", s.URL+"/fhir/R4/Patient?"+rawQuery, nil)
		if err != nil {
			t.Skip(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Prefer", prefer)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode >= 500:
			t.Fatalf("%q with Prefer %q: %d %s", rawQuery, prefer, res.StatusCode, body)
		case res.StatusCode >= 400:
			m := checkR4(t, body, "OperationOutcome")
			if m["issue"].([]any)[0].(map[string]any)["severity"] != "error" {
				t.Fatalf("refusal %s", body)
			}
			return
		}
		got := splitBundle(t, body)
		self := linkParams(t, link(got.bundle, "self"))
		for k := range self {
			if !slices.Contains(known, k) {
				t.Fatalf("%q with Prefer %q: self link %s keeps %q", rawQuery, prefer, link(got.bundle, "self"), k)
			}
		}
		var unknown []string
		for _, part := range strings.Split(rawQuery, "&") {
			key, _, _ := strings.Cut(part, "=")
			if name, err := url.QueryUnescape(key); part != "" && err == nil && !slices.Contains(known, name) && !slices.Contains(unknown, name) {
				unknown = append(unknown, name)
			}
		}
		applied := res.Header.Get("Preference-Applied") == "handling=lenient"
		if len(unknown) > 0 && !applied {
			t.Fatalf("%q with Prefer %q: unknown parameters %q accepted without lenient handling", rawQuery, prefer, unknown)
		}
		if want := len(unknown) > 0; (len(got.outcomes) == 1) != want || len(got.outcomes) > 1 {
			t.Fatalf("%q with Prefer %q: %d outcome entries for unknown parameters %q", rawQuery, prefer, len(got.outcomes), unknown)
		}
		if len(got.outcomes) == 1 {
			if n := len(got.outcomes[0]["issue"].([]any)); n != min(len(unknown), 20)+btoi(len(unknown) > 20) {
				t.Fatalf("%q: %d issues for %d unknown parameters", rawQuery, n, len(unknown))
			}
		}
		if n, ok := got.bundle["total"].(float64); !ok || len(ids(got.bundle)) > int(n) {
			t.Fatalf("%q: matches %v, total %v", rawQuery, ids(got.bundle), got.bundle["total"])
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
