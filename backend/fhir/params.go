package fhir

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/domain"
)

// params are the search parameters of one request, checked against the ones
// the interaction supports.
type params struct {
	v url.Values
}

// globalParams are accepted on every interaction (see negotiate).
var globalParams = []string{"_format", "_pretty"}

// pageParams are read by page itself, so a search takes them wherever the
// CapabilityStatement declares them for it, whatever its handler lists.
var pageParams = []string{"_summary"}

// parseParams reads the query string and refuses any parameter not in
// supported: FHIR lets a server ignore unknown parameters, but a search that
// silently drops a filter returns more than the caller asked for (a caller
// who wants that asks with Prefer: handling=lenient; see ignoreUnknown).
// Empty values are ignored, as FHIR says.
func parseParams(rawQuery, resource string, supported ...string) (params, error) {
	v, err := url.ParseQuery(rawQuery)
	if err != nil {
		return params{}, domain.Invalid("", "The query string is malformed; encode parameter values as URL query components.")
	}
	for _, name := range pageParams {
		if slices.Contains(declaredParams(resource), name) {
			supported = append(slices.Clip(supported), name)
		}
	}
	out := url.Values{}
	for _, name := range slices.Sorted(maps.Keys(v)) {
		values := v[name]
		if slices.Contains(globalParams, name) {
			continue
		}
		if !slices.Contains(supported, name) {
			return params{}, unsupported(name, resource, supported)
		}
		for _, x := range values {
			if x != "" {
				out[name] = append(out[name], x)
			}
		}
	}
	return params{v: out}, nil
}

func unsupported(name, resource string, supported []string) error {
	name = clip(name, 40)
	if len(supported) == 0 {
		return domain.Invalid(name, "Parameter %q is not supported here; this interaction takes no parameters other than _format and _pretty.", name)
	}
	what := "search parameter"
	if strings.HasPrefix(name, "_") {
		what = "parameter"
	}
	lenient := ""
	if declaredParams(resource) != nil {
		lenient = " To have unsupported parameters ignored instead, send Prefer: handling=lenient."
	}
	if strings.Contains(name, ":") {
		return domain.Invalid(name, "Search modifiers are not supported (%q); use one of: %s.%s", name, strings.Join(supported, ", "), lenient)
	}
	return domain.Invalid(name, "The %s %q is not supported for %s; use one of: %s.%s", what, name, resource, strings.Join(supported, ", "), lenient)
}

// prefersLenient reports whether the request asks, with Prefer:
// handling=lenient (RFC 7240), that unsupported search parameters be ignored
// rather than refused. The first handling preference counts.
func prefersLenient(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			pref, _, _ = strings.Cut(pref, ";")
			name, value, _ := strings.Cut(pref, "=")
			if strings.EqualFold(strings.TrimSpace(name), "handling") {
				return strings.EqualFold(strings.Trim(strings.TrimSpace(value), `"`), "lenient")
			}
		}
	}
	return false
}

// ignoreUnknown returns the request of a lenient search without the
// parameters the CapabilityStatement does not declare for resource, so the
// handler parses, and the self link holds, only the parameters used. The
// others are named in the context for the Bundle (see bundle). The kept
// parameters stay as written; a malformed one is kept for the handler to
// refuse, since it is not unknown but unreadable.
func ignoreUnknown(r *http.Request, resource string) *http.Request {
	declared := declaredParams(resource)
	var kept, ignored []string
	seen := map[string]bool{}
	for _, part := range strings.Split(r.URL.RawQuery, "&") {
		if part == "" {
			continue
		}
		key, _, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(key)
		if err != nil || slices.Contains(globalParams, name) || slices.Contains(declared, name) {
			kept = append(kept, part)
			continue
		}
		if !seen[name] {
			seen[name] = true
			ignored = append(ignored, name)
		}
	}
	if len(ignored) == 0 {
		return r
	}
	u := *r.URL
	u.RawQuery = strings.Join(kept, "&")
	r = r.WithContext(context.WithValue(r.Context(), ignoredKey{}, ignored))
	r.URL = &u
	return r
}

type ignoredKey struct{}

// ignoredParams names the parameters a lenient search left out.
func ignoredParams(ctx context.Context) []string {
	names, _ := ctx.Value(ignoredKey{}).([]string)
	return names
}

// single returns the one value of a parameter ("" when absent); repeating it
// or combining values with commas is refused.
func (p params) single(name string) (string, error) {
	vs := p.v[name]
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", domain.Invalid(name, "Give %s once.", name)
	}
	s, err := unescape(name, vs[0])
	if err != nil {
		return "", err
	}
	if len(s) > 1 {
		return "", domain.Invalid(name, "Give one value of %s; combining values with commas is not supported.", name)
	}
	return s[0], nil
}

// unescape splits a value at unescaped commas and removes FHIR's
// backslash escapes (\, \$ \| \\).
func unescape(name, v string) ([]string, error) {
	var out []string
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			if i+1 == len(v) || !strings.ContainsRune(`,$|\`, rune(v[i+1])) {
				return nil, domain.Invalid(name, `A backslash in %s must escape one of , $ | \.`, name)
			}
			i++
			b.WriteByte(v[i])
		case ',':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(out, b.String()), nil
}

// text returns a free-text parameter of at most max characters.
func (p params) text(name string, max int) (string, error) {
	s, err := p.single(name)
	if err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", domain.Invalid(name, "%s is not valid UTF-8 text.", name)
	}
	if utf8.RuneCountInString(s) > max {
		return "", domain.Invalid(name, "%s may be at most %d characters.", name, max)
	}
	return s, nil
}

// token returns the code of a token parameter, written code or system|code;
// the system, when given, must be system.
func (p params) token(name, system string) (string, error) {
	s, err := p.single(name)
	if err != nil || s == "" {
		return s, err
	}
	if sys, code, ok := strings.Cut(s, "|"); ok {
		if sys != "" && sys != system {
			return "", domain.Invalid(name, "Unknown code system %q for %s; use %s|code or the code alone.", clip(sys, 80), name, system)
		}
		s = code
	}
	return s, nil
}

// page is the window of a search: _count and _offset. A count of 0 asks
// for the total alone (_count=0, or _summary=count).
type page struct {
	count, offset int
}

const (
	defaultCount = 50
	maxCount     = 200
	maxOffset    = 1<<31 - 1
)

func (p params) page() (page, error) {
	summary, err := p.single("_summary")
	if err != nil {
		return page{}, err
	}
	switch summary {
	case "", "false", "count":
	default:
		return page{}, domain.Invalid("_summary", "_summary=%s is not supported; use _summary=count for the total alone, or leave _summary out.", clip(summary, 20))
	}
	var pg page
	if pg.count, err = p.integer("_count", 0, maxCount, defaultCount); err != nil {
		return pg, err
	}
	if pg.offset, err = p.integer("_offset", 0, maxOffset, 0); err != nil {
		return pg, err
	}
	if summary == "count" || pg.count == 0 {
		// The stores read a limit of 0 as their default page size, so the
		// window of a count-only search lies past every match: a handler
		// that reads its page reads, and records as read, nothing.
		return page{count: 0, offset: maxOffset}, nil
	}
	return pg, nil
}

// countOnly reports whether the search asks for the total alone.
func (pg page) countOnly() bool { return pg.count == 0 }

func (p params) integer(name string, lo, hi, def int) (int, error) {
	s, err := p.single(name)
	if err != nil || s == "" {
		return def, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, domain.Invalid(name, "%s must be a whole number from %d to %d.", name, lo, hi)
	}
	return n, nil
}

// idPattern is a FHIR resource id.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

func validID(id string) bool { return idPattern.MatchString(id) }

// checkID refuses a malformed id in the path.
func checkID(resource, id string) error {
	if !validID(id) {
		return domain.Invalid("id", "%q is not a valid %s id: ids are 1 to 64 letters, digits, '-' and '.'.", clip(id, 70), resource)
	}
	return nil
}

// parseReference reads a reference parameter or element: Type/id, an
// absolute URL on this server's FHIR base, or (when one type is allowed) a
// bare id. It returns the type and id.
func parseReference(field, v, base string, types ...string) (string, string, error) {
	want := strings.Join(types, " or ")
	example := types[0] + "/{id}"
	if strings.Contains(v, "://") {
		if base == "" || !strings.HasPrefix(v, base+"/") {
			return "", "", domain.Invalid(field, "%s refers to another server; use a relative reference such as %s.", field, example)
		}
		v = strings.TrimPrefix(v, base+"/")
	}
	typ, id, typed := strings.Cut(v, "/")
	if !typed {
		if len(types) != 1 {
			return "", "", domain.Invalid(field, "Give %s as a typed reference such as %s.", field, example)
		}
		typ, id = types[0], v
	}
	if !slices.Contains(types, typ) {
		return "", "", domain.Invalid(field, "%s must refer to a %s (such as %s), not %q.", field, want, example, clip(typ, 40))
	}
	if !validID(id) {
		return "", "", domain.Invalid(field, "%s has a malformed id; write it as %s with an id of 1 to 64 letters, digits, '-' and '.'.", field, example)
	}
	return typ, id, nil
}

// reference reads a reference search parameter.
func (p params) reference(name, base string, types ...string) (string, string, error) {
	s, err := p.single(name)
	if err != nil || s == "" {
		return "", "", err
	}
	return parseReference(name, s, base, types...)
}

// dateRange is [From, To); a zero bound is open.
type dateRange struct {
	From, To time.Time
}

var datePattern = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// parseDateValue reads a FHIR date, dateTime or instant (year, month, day,
// minute, second or fraction precision) and returns the range it covers.
// Dates without a time are days in UTC; a time needs a zone.
func parseDateValue(field, v string) (lo, hi time.Time, err error) {
	// '+' in a query string arrives as a space unless it was encoded.
	v = strings.ReplaceAll(v, " ", "+")
	m := datePattern.FindStringSubmatch(v)
	bad := func(format string, args ...any) (time.Time, time.Time, error) {
		return time.Time{}, time.Time{}, domain.Invalid(field, format, args...)
	}
	if m == nil {
		return bad("%s must be a date such as 2026-03-01 or a time such as 2026-03-01T09:00:00Z, optionally after a prefix (eq, ge, gt, le, lt).", field)
	}
	num := func(s string, def int) int {
		if s == "" {
			return def
		}
		n, _ := strconv.Atoi(s)
		return n
	}
	year, month, day := num(m[1], 1), num(m[2], 1), num(m[3], 1)
	hour, minute, sec := num(m[4], 0), num(m[5], 0), num(m[6], 0)
	if year < 1 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return bad("%s is not a real date or time (%s).", field, clip(v, 40))
	}
	if m[4] != "" && m[8] == "" {
		return bad("%s gives a time without a time zone; add Z or an offset such as +01:00.", field)
	}
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" {
		oh, om := num(z[1:3], 0), num(z[4:6], 0)
		if oh > 14 || om > 59 {
			return bad("%s has an impossible time-zone offset %s.", field, z)
		}
		off := oh*3600 + om*60
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	nanos := 0
	unit := time.Second
	if f := m[7]; f != "" {
		digits := f[1:]
		n, _ := strconv.Atoi(digits)
		for i := len(digits); i < 9; i++ {
			n *= 10
		}
		nanos = n
		unit = time.Duration(1)
		for i := len(digits); i < 9; i++ {
			unit *= 10
		}
	}
	lo = time.Date(year, time.Month(month), day, hour, minute, sec, nanos, loc)
	if lo.Day() != day { // 2026-02-30 rolls over
		return bad("%s is not a real date (%s).", field, clip(v, 40))
	}
	if y := lo.UTC().Year(); y < 1 || y > 9999 { // the offset moves it out of the years FHIR can write
		return bad("%s falls outside the years 0001 to 9999 in UTC (%s).", field, clip(v, 40))
	}
	switch {
	case m[2] == "":
		hi = lo.AddDate(1, 0, 0)
	case m[3] == "":
		hi = lo.AddDate(0, 1, 0)
	case m[4] == "":
		hi = lo.AddDate(0, 0, 1)
	case m[6] == "":
		hi = lo.Add(time.Minute)
	default:
		hi = lo.Add(unit)
	}
	return lo.UTC(), hi.UTC(), nil
}

// parseDateParam reads one date search value with its prefix into the range
// of points it admits: eq the value's own range, ge from its start, gt from
// its end, lt before its start, le before its end.
func parseDateParam(field, v string) (dateRange, error) {
	prefix := "eq"
	if len(v) >= 2 && isLetter(v[0]) && isLetter(v[1]) {
		prefix, v = v[:2], v[2:]
	}
	switch prefix {
	case "eq", "ge", "gt", "lt", "le":
	case "ne", "sa", "eb", "ap":
		return dateRange{}, domain.Invalid(field, "The prefix %q is not supported for %s; use eq, ge, gt, le or lt.", prefix, field)
	default:
		return dateRange{}, domain.Invalid(field, "Unknown prefix %q in %s; use eq, ge, gt, le or lt before the date.", clip(prefix, 2), field)
	}
	lo, hi, err := parseDateValue(field, v)
	if err != nil {
		return dateRange{}, err
	}
	switch prefix {
	case "ge":
		return dateRange{From: lo}, nil
	case "gt":
		return dateRange{From: hi}, nil
	case "lt":
		return dateRange{To: lo}, nil
	case "le":
		return dateRange{To: hi}, nil
	}
	return dateRange{From: lo, To: hi}, nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// dates reads every value of a date parameter (repeats are ANDed) into one
// range.
func (p params) dates(name string) (dateRange, error) {
	var out dateRange
	vs := p.v[name]
	if len(vs) > 4 {
		return out, domain.Invalid(name, "Give %s at most 4 times.", name)
	}
	for _, v := range vs {
		if strings.Contains(v, ",") {
			return out, domain.Invalid(name, "Give one value per %s parameter; repeat the parameter to combine conditions.", name)
		}
		r, err := parseDateParam(name, v)
		if err != nil {
			return out, err
		}
		if !r.From.IsZero() && (out.From.IsZero() || r.From.After(out.From)) {
			out.From = r.From
		}
		if !r.To.IsZero() && (out.To.IsZero() || r.To.Before(out.To)) {
			out.To = r.To
		}
	}
	if !out.From.IsZero() && !out.To.IsZero() && !out.From.Before(out.To) {
		return out, domain.Invalid(name, "The %s conditions leave no time between them; check the ge/gt and le/lt values.", name)
	}
	return out, nil
}

// Slot ids name a doctor and an interval: "<doctor id>.<unix start>.<unix
// end>", which is a valid FHIR id for the UUIDs HealthHub gives doctors.
// They are decoded on booking, so a slot needs no storage of its own.

func slotID(doctorID string, start, end time.Time) string {
	return doctorID + "." + strconv.FormatInt(start.Unix(), 10) + "." + strconv.FormatInt(end.Unix(), 10)
}

// maxUnix is the last second of year 9999.
const maxUnix = 253402300799

// maxSlot is the longest slot (and appointment) HealthHub allows.
const maxSlot = 8 * time.Hour

// parseSlotID decodes a slot id; only the canonical form of slotID is
// accepted, so an id decodes to one slot and encodes back to itself.
func parseSlotID(field, id string) (doctorID string, start, end time.Time, err error) {
	bad := domain.Invalid(field, "%q is not a HealthHub slot id; use the id of a Slot from GET /fhir/R4/Slot.", clip(id, 80))
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return "", start, end, bad
	}
	j := strings.LastIndexByte(id[:i], '.')
	if j <= 0 {
		return "", start, end, bad
	}
	doctorID = id[:j]
	s, ok1 := unixSeconds(id[j+1 : i])
	e, ok2 := unixSeconds(id[i+1:])
	if !ok1 || !ok2 || !validID(id) || e <= s || e-s > int64(maxSlot/time.Second) {
		return "", start, end, bad
	}
	return doctorID, time.Unix(s, 0).UTC(), time.Unix(e, 0).UTC(), nil
}

// unixSeconds reads a canonical non-negative decimal.
func unixSeconds(s string) (int64, bool) {
	if s == "" || len(s) > 12 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n <= maxUnix
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
