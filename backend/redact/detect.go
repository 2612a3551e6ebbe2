// Package redact finds the identifiers a clinic's messages carry (the HIPAA
// Safe Harbor identifiers that text can hold) and replaces them with stable
// placeholders such as [PATIENT_1] before text leaves for an external
// language model, restoring them in the answer shown to the user.
package redact

import (
	"net"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Kind is a kind of identifier; it names the placeholder.
type Kind string

const (
	Patient   Kind = "PATIENT"
	Phone     Kind = "PHONE"
	Fax       Kind = "FAX"
	Email     Kind = "EMAIL"
	URL       Kind = "URL"
	IP        Kind = "IP"
	Address   Kind = "ADDRESS"
	ZIP       Kind = "ZIP"
	Date      Kind = "DATE"
	SSN       Kind = "SSN"
	MRN       Kind = "MRN"
	Insurance Kind = "INSURANCE"
	Account   Kind = "ACCOUNT"
	License   Kind = "LICENSE" // driving licence, passport, certificate numbers
	Vehicle   Kind = "VEHICLE" // VINs and licence plates
	Device    Kind = "DEVICE"  // serial numbers, device IDs, UDIs, IMEIs, MAC addresses
	// Biometric is a mention of someone's fingerprint, voiceprint, retina
	// or iris scan or face template, and Photo of a full-face photograph
	// or comparable image: the text cannot hold the biometric or the image
	// itself, but the mention says it exists and whose it is.
	Biometric Kind = "BIOMETRIC"
	Photo     Kind = "PHOTO"
	// ID is a number that looks like an identifier without saying which.
	ID Kind = "ID"
)

// Kinds lists every kind, in the order conflicts are settled: where two
// findings overlap, the kind listed first keeps its text.
var Kinds = []Kind{Email, URL, IP, SSN, MRN, Insurance, Account, License, Vehicle, Device, Fax, Phone, Date, Address, ZIP, Biometric, Photo, ID, Patient}

// Span is an identifier found in a text: text[Start:End] (byte offsets).
type Span struct {
	Kind       Kind
	Start, End int
}

// Detector finds identifiers. It knows the names of the clinic's patients;
// it is safe for concurrent use.
type Detector struct {
	full  map[string]int // lower-case full name → patient number
	parts map[string]int // lower-case first or last name → patient number, -1 when several share it
	// longest full name in words, to bound matching
	maxWords int
}

// NewDetector makes a detector for text that may name the given patients.
func NewDetector(patients []string) *Detector {
	d := &Detector{full: map[string]int{}, parts: map[string]int{}}
	for i, name := range patients {
		words := nameWords(name)
		if len(words) == 0 {
			continue
		}
		d.full[strings.Join(words, " ")] = i
		d.maxWords = max(d.maxWords, len(words))
		// Each first name and surname alone (one-word names too); a part
		// several patients share is still a name, of no one in particular.
		for _, w := range []string{words[0], words[len(words)-1]} {
			if utf8.RuneCountInString(w) < 3 || commonWords[w] {
				continue
			}
			if j, ok := d.parts[w]; ok && j != i {
				d.parts[w] = -1
			} else {
				d.parts[w] = i
			}
		}
	}
	return d
}

var (
	wordRE = regexp.MustCompile(`\p{L}[\p{L}\p{M}'’-]*`)

	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	urlRE   = regexp.MustCompile(`(?i)\b(?:https?://|www\.)[^\s<>"'\x60]+|\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:com|org|net|edu|gov|health|clinic|care|io|info|biz|us|uk|ca|au|de|fr|nl|eu)(?:/[^\s<>"'\x60]*)?`)
	ipv4RE  = regexp.MustCompile(`\b(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?:/\d{1,2})?\b`)
	ipv6RE  = regexp.MustCompile(`(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:/\d{1,3})?`)

	ssnRE        = regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b`)
	ssnKeywordRE = regexp.MustCompile(`(?i)\b(?:ssn|social security(?: number| no\.?| #)?)\s*(?:is|was|:|#|number)?\s*(\d{9}|\d{3}[- ]\d{2}[- ]\d{4})\b`)

	// Numbers named by what they are: the value is the first group.
	keyedREs = []struct {
		kind Kind
		re   *regexp.Regexp
	}{
		{MRN, keyed(`mrn|medical record(?: number| no\.?| #)?|(?:patient|hospital|clinic) record(?: number| no\.?| #)?|record (?:number|no\.?|#)|chart(?: number| no\.?| id)?|patient(?: id| number| no\.?)?|hospital (?:number|no\.?|id)|nhs (?:number|no\.?)|health record(?: number)?`)},
		{Insurance, keyed(`member(?:ship)?(?: id| number| no\.?| #)?|policy(?: number| no\.?| id| #)?|group(?: number| no\.?| id| #)?|subscriber (?:id|number|no\.?)|insurance (?:id|number|no\.?|card number)|insurer id|medicare(?: beneficiary identifier| number| no\.?| id| card)?|medicaid(?: number| no\.?| id| card)?|mbi|plan (?:id|number)|insured id`)},
		{Account, keyed(`account(?: number| no\.?| id| #)?|acct\.?(?: no\.?| #| number)?|invoice(?: number| no\.?| #)?|claim(?: number| no\.?| id| #)?|billing (?:id|number|reference|account)|statement (?:number|no\.?)|receipt (?:number|no\.?)|reference(?: number| no\.?)?|ref\.?(?: no\.?)?|payment (?:id|reference)`)},
	}
	// Identifiers recognised by their own shape.
	prefixedIDRE = regexp.MustCompile(`\b(?:MRN|INV|ACC|ACCT|CLM|PT|HH|MBR|POL)[-#]?\d[\dA-Z-]{3,}\b`)
	// Capitals then five or more digits (AB-1234567), or a long run of
	// digits alone.
	shapedIDRE  = regexp.MustCompile(`\b[A-Z]{1,4}-?\d{5,}(?:-\d+)*\b|\b\d{7,}\b`)
	phoneWordRE = regexp.MustCompile(`(?i)\b(?:phone|call|ring|text|mobile|cell|tel|telephone|number|reach|contact)\b`)

	phoneRE = regexp.MustCompile(`(?:\+?\b1[\s.-]?)?(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b` +
		`|\+\d{1,3}(?:[\s.-]?\(?\d{1,5}\)?){2,5}\b` +
		`|\b0\d{2,4}[\s-]\d{3,4}[\s-]?\d{3,4}\b|\b0[1-9]\d{8,9}\b`)
	localPhoneRE = regexp.MustCompile(`\b\d{3}[-.]\d{4}\b`)
	extensionRE  = regexp.MustCompile(`^\s*(?:,\s*)?(?:ext\.?|extension|x)\s*\d{1,6}\b`)
	faxRE        = regexp.MustCompile(`(?i)\bfax(?:ed)?\b[^.\n]{0,24}$`)

	month      = `(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)`
	monthFirst = regexp.MustCompile(`\b` + month + `\.?\s+\d{1,2}(?:st|nd|rd|th)?\b(?:,?\s+\d{4}\b)?`)
	dayFirst   = regexp.MustCompile(`\b\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?` + month + `\b\.?(?:,?\s+\d{4}\b)?`)
	monthYear  = regexp.MustCompile(`\b` + month + `\.?,?\s+(?:19|20)\d{2}\b`)
	// 12-Jan-2026, 12/Jan/26
	dayMonthYear = regexp.MustCompile(`\b\d{1,2}[-/]` + month + `\.?[-/](?:\d{4}|\d{2})\b`)
	numericDate  = regexp.MustCompile(`\b(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}[/.-]\d{1,2}[/.-]\d{1,2})\b`)

	streetType = `(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Close|Crescent|Cres|Row|Mews|Gardens|Grove|Trail|Walk|Plaza|Alley|Loop|Pike|Run)`
	addressRE  = regexp.MustCompile(`\b\d{1,6}[A-Za-z]?\s+(?:(?:[NSEW]|North|South|East|West)\.?\s+)?(?:(?:\d{1,3}(?:st|nd|rd|th)|[A-Z][\p{L}'’.-]*)\s+){1,4}` + streetType + `\b\.?` +
		`(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?` +
		`(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Bldg|Building|#)\.?\s*#?[A-Za-z0-9-]+\b)?`)
	poBoxRE = regexp.MustCompile(`(?i)\bP\.?\s?O\.?\s*Box\s+\d+\b`)

	zipAfterStateRE = regexp.MustCompile(`\b(?:A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[TA]|W[AVIY])\.?,?\s+(\d{5}(?:-\d{4})?)\b`)
	zipKeywordRE    = regexp.MustCompile(`(?i)\b(?:zip(?:\s*code)?|postal\s*code|post\s*code|postcode)\s*(?:is|was|:|#)?\s*(\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})\b`)
	zipAfterCityRE  = regexp.MustCompile(`[A-Z][a-z]+,\s+(?:[A-Z][a-z]+\s+)?(\d{5}(?:-\d{4})?)\b`)
	ukPostcodeRE    = regexp.MustCompile(`\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b`)
)

// keyed builds the pattern of a number introduced by one of keywords.
func keyed(keywords string) *regexp.Regexp {
	return regexp.MustCompile(`(?i)\b(?:` + keywords + `)\s*(?:is|was|:|#|=|-|,)?\s*(?:#\s*)?([a-z0-9]+(?:[-./][a-z0-9]+|\s\d{2,})*)\b`)
}

// versionWords come before dotted numbers that are versions, not addresses.
var versionWords = map[string]bool{"version": true, "firmware": true, "v": true, "build": true, "release": true,
	"update": true, "chrome": true, "firefox": true, "safari": true, "edge": true, "app": true, "ios": true,
	"android": true, "windows": true, "macos": true, "driver": true, "bios": true, "patch": true, "ver": true}

// Find returns the identifiers in text, sorted and not overlapping.
func (d *Detector) Find(text string) []Span {
	var found []Span
	add := func(k Kind, start, end int) {
		if start < end {
			found = append(found, Span{k, start, end})
		}
	}
	all := func(k Kind, re *regexp.Regexp, group int) {
		for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
			if 2*group+1 < len(m) && m[2*group] >= 0 {
				add(k, m[2*group], m[2*group+1])
			}
		}
	}
	all(Email, emailRE, 0)
	for _, m := range urlRE.FindAllStringIndex(text, -1) {
		end := m[0] + len(strings.TrimRight(text[m[0]:m[1]], ".,;:!?)]}'\""))
		add(URL, m[0], end)
	}
	for _, m := range ipv4RE.FindAllStringIndex(text, -1) {
		if !afterVersionWord(text, m[0]) {
			add(IP, m[0], m[1])
		}
	}
	for _, m := range ipv6RE.FindAllStringIndex(text, -1) {
		cand := text[m[0]:m[1]]
		addr, _, _ := strings.Cut(cand, "/")
		if strings.Count(addr, ":") >= 2 && net.ParseIP(addr) != nil && strings.ContainsAny(addr, "0123456789abcdefABCDEF") {
			add(IP, m[0], m[1])
		}
	}
	all(SSN, ssnRE, 0)
	all(SSN, ssnKeywordRE, 1)
	for _, k := range keyedREs {
		for _, m := range k.re.FindAllStringSubmatchIndex(text, -1) {
			start, end := m[2], m[3]
			end = start + len(strings.TrimRight(text[start:end], ".-/ "))
			if countDigits(text[start:end]) >= 3 {
				add(k.kind, start, end)
			}
		}
	}
	for _, m := range prefixedIDRE.FindAllStringIndex(text, -1) {
		kind := Account
		switch {
		case strings.HasPrefix(text[m[0]:], "MRN"), strings.HasPrefix(text[m[0]:], "PT"), strings.HasPrefix(text[m[0]:], "HH"):
			kind = MRN
		case strings.HasPrefix(text[m[0]:], "MBR"), strings.HasPrefix(text[m[0]:], "POL"):
			kind = Insurance
		}
		add(kind, m[0], m[1])
	}
	for _, m := range shapedIDRE.FindAllStringIndex(text, -1) {
		kind := ID
		if n := m[1] - m[0]; (n == 10 || n == 11) && countDigits(text[m[0]:m[1]]) == n && phoneWordRE.MatchString(text[max(0, m[0]-32):m[0]]) {
			kind = Phone
		}
		add(kind, m[0], m[1])
	}
	for _, m := range phoneRE.FindAllStringIndex(text, -1) {
		start, end := m[0], m[1]
		if n := countDigits(text[start:end]); n < 7 || n > 15 {
			continue
		}
		if e := extensionRE.FindStringIndex(text[end:]); e != nil {
			end += e[1]
		}
		add(phoneOrFax(text, start), start, end)
	}
	// A local number without its area code, when the words before say it
	// is one ("ring the ward on 555-0192").
	for _, m := range localPhoneRE.FindAllStringIndex(text, -1) {
		if phoneWordRE.MatchString(text[max(0, m[0]-32):m[0]]) {
			add(phoneOrFax(text, m[0]), m[0], m[1])
		}
	}
	for _, re := range []*regexp.Regexp{numericDate, monthFirst, dayFirst, monthYear, dayMonthYear} {
		for _, m := range re.FindAllStringIndex(text, -1) {
			if re == numericDate && !plausibleNumericDate(text[m[0]:m[1]]) {
				continue
			}
			add(Date, m[0], m[1])
		}
	}
	all(Address, addressRE, 0)
	all(Address, poBoxRE, 0)
	all(ZIP, zipAfterStateRE, 1)
	all(ZIP, zipKeywordRE, 1)
	all(ZIP, zipAfterCityRE, 1)
	all(ZIP, ukPostcodeRE, 0)
	var names []Span
	d.findNames(text, func(k Kind, start, end int) { names = append(names, Span{k, start, end}) })
	findObjects(text, names, add)
	return settle(append(found, names...))
}

// phoneOrFax is the kind of the number at start: a fax when the words
// just before say so.
func phoneOrFax(text string, start int) Kind {
	if faxRE.MatchString(text[max(0, start-32):start]) {
		return Fax
	}
	return Phone
}

// settle keeps, of overlapping findings, the one whose kind comes first in
// Kinds (the longer one between equals), and sorts the rest by position.
func settle(found []Span) []Span {
	rank := map[Kind]int{}
	for i, k := range Kinds {
		rank[k] = i
	}
	slices.SortStableFunc(found, func(a, b Span) int {
		if r := rank[a.Kind] - rank[b.Kind]; r != 0 {
			return r
		}
		if l := (b.End - b.Start) - (a.End - a.Start); l != 0 {
			return l
		}
		return a.Start - b.Start
	})
	var kept []Span
	for _, s := range found {
		if !slices.ContainsFunc(kept, func(k Span) bool { return s.Start < k.End && k.Start < s.End }) {
			kept = append(kept, s)
		}
	}
	slices.SortFunc(kept, func(a, b Span) int { return a.Start - b.Start })
	return kept
}

// afterVersionWord reports whether one of the three words before offset i
// says a version number follows.
func afterVersionWord(text string, i int) bool {
	words := wordRE.FindAllString(text[max(0, i-40):i], -1)
	for _, w := range words[max(0, len(words)-3):] {
		if versionWords[strings.ToLower(w)] {
			return true
		}
	}
	return false
}

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// plausibleNumericDate tells 03/14/1985 from a score such as 1.2.3.
func plausibleNumericDate(s string) bool {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '/' || r == '.' || r == '-' })
	if len(parts) != 3 {
		return false
	}
	if len(parts[0]) == 4 { // year first
		return atoi(parts[1]) >= 1 && atoi(parts[1]) <= 12 && atoi(parts[2]) >= 1 && atoi(parts[2]) <= 31
	}
	a, b := atoi(parts[0]), atoi(parts[1])
	return a >= 1 && b >= 1 && ((a <= 12 && b <= 31) || (a <= 31 && b <= 12))
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}
