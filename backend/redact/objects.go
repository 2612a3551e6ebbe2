package redact

import (
	"regexp"
	"strings"
)

// Identifiers of what a person owns, carries or is: vehicles, devices,
// licences and certificates, biometrics and photographs of the face.

// introducer is what may stand between a keyword and its value: "plate:
// KX19 LMN", "licence, number DUBOI754213AM9ZK", "serial no. 4471".
const introducer = `(?i:\s*(?:,|:|#|=|-|\.|\bis\b|\bwas\b|\bnumber\b|\bno\b|\bnr\b|\bid\b)\s*|\s+)*`

// keyedValue builds the pattern of a value introduced by one of keywords
// (case-insensitive); the value is the first group.
func keyedValue(keywords, value string) *regexp.Regexp {
	return regexp.MustCompile(`(?i:\b(?:` + keywords + `))\b` + introducer + `(` + value + `)`)
}

// An identifier's value: letters and digits, with separators inside.
const valueChars = `(?i:[a-z0-9]+(?:[-./:][a-z0-9]+)*)`

var (
	licenseRE = keyedValue(`(?:driver'?s'?|drivers|driving)\s+licen[cs]e|(?:medical|nursing|professional|practitioner|state)\s+licen[cs]e|licen[cs]e\s+(?:number|no)|passport|(?:birth\s+)?certificate\s+(?:number|no)|(?:national|state)\s+id(?:\s+card)?|id\s+card\s+(?:number|no)|dea\s+(?:number|no)|npi|permit\s+(?:number|no)`,
		valueChars+`(?:\s\d{2,})*`)

	// A VIN: 17 capitals and digits, never I, O or Q.
	vinRE      = regexp.MustCompile(`\b[A-HJ-NPR-Z0-9]{17}\b`)
	vinKeyedRE = keyedValue(`vin|vehicle\s+identification\s+number|chassis\s+(?:number|no)`, `[A-HJ-NPR-Z0-9]{11,17}\b`)
	// A plate after a word that says it is one: capitals and digits in one
	// to three groups ("KX19 LMN", "B-MW 2291", "7XYZ123").
	plateKeyedRE = keyedValue(`(?:licen[cs]e|number|registration)\s+plate|plate|registration(?:\s+mark)?|reg|vehicle\s+registration`,
		`[A-Z0-9]{1,8}(?:[ -][A-Z0-9]{1,4}){0,2}\b`)
	// The current British plate (two letters, two digits, three letters),
	// recognisable without a keyword.
	ukPlateRE = regexp.MustCompile(`\b[A-Z]{2}\d{2}\s?[A-Z]{3}\b`)

	deviceKeyedRE = keyedValue(`serial|s/n|device\s+(?:id|identifier|serial|number)|unique\s+device\s+identifier|udi(?:-di)?|imei|meid|mac\s+address|asset\s+(?:tag|number)`,
		valueChars)
	// Serial numbers written with their own prefix, GS1 unique device
	// identifiers and MAC addresses are recognised by their shape.
	serialRE = regexp.MustCompile(`\bSN[-#]?\d[\dA-Z-]{3,}\b`)
	udiRE    = regexp.MustCompile(`\(01\)\d{14}(?:\(\d{2,4}\)[A-Za-z0-9-]+)*`)
	macRE    = regexp.MustCompile(`(?i)\b[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}\b`)

	// Biometric identifiers as text names them. Retinal photography and
	// screening are eye examinations, not biometrics: "retinal" is left out.
	biometricRE = regexp.MustCompile(`(?i)\b(?:(?:finger|thumb|palm|hand|voice)[- ]?prints?|(?:retina|iris|face|facial)\s+(?:scans?|templates?|prints?)|(?:face|facial)\s+geometry|voice\s+(?:samples?|templates?)|biometric\s+(?:templates?|samples?|records?))\b`)
	// Full-face photographs and comparable images.
	photoRE = regexp.MustCompile(`(?i)\b(?:full[- ]face\s+(?:photo(?:graph)?|picture|image|portrait|shot)s?|photo\s?id\s+(?:images?|scans?|copy|copies|pictures?)|(?:face|passport|id|identification|portrait)\s+(?:photo(?:graph)?|picture|image)s?|head\s?shots?|selfies?|(?:photo(?:graph)?|picture|image)s?\s+of\s+(?:his|her|their|my|your|the\s+patient's)\s+face)\b`)
	// What makes such a mention someone's: a possessive before it, ...
	ownerBeforeRE = regexp.MustCompile(`(?i)(?:\b(?:his|her|their|my|your)|['’]s)\s+(?:(?:left|right|index|new|old|enrolled|stored|registered|saved)\s+)?$`)
	// ... a verb of sending or keeping before it ("sent a selfie"), ...
	keptBeforeRE = regexp.MustCompile(`(?i)\b(?:sent|send|emailed|e-mailed|texted|uploaded|attached|shared|forwarded|took|taken|stored|saved|scanned|enrolled|captured|received)\s+(?:a|an|the|their|his|her)\s+$`)
	// ... a record word after it ("on file", "was enrolled"), ...
	recordAfterRE = regexp.MustCompile(`(?i)^\s+(?:(?:is|are|was|were|has\s+been|have\s+been)\s+)?(?:on\s+file|on\s+record|enrolled|stored|captured|uploaded|attached|saved|registered|kept|held|filed|scanned|added)\b`)
	// ... or "of" and a person after it.
	ofPersonRE = regexp.MustCompile(`(?i)^\s+of\s+(?:(?:him|her|them|the\s+patient|the\s+child)\b|(?:Mr|Mrs|Ms|Miss|Mx)\b)`)
	// An identifier or file name that follows the mention directly
	// ("fingerprint template FP-20931", "full-face photo IMG_4471.jpg").
	attachedRE = regexp.MustCompile(`(?i)^(?:\s+(?:template|id|no\.?|#|number|file|record))?\s+(?:[a-z]{1,4}[-#_]?\d[\da-z-]*|\d{5,}[\da-z-]*|[\w-]+\.(?:jpe?g|png|heic|gif|tiff?|bmp|webp|wav|mp3))\b`)
)

// findObjects adds the vehicles, devices, licences, biometrics and photos
// of text; names are the patients' names already found, which make a
// mention followed by "of" and a name someone's.
func findObjects(text string, names []Span, add func(Kind, int, int)) {
	keyed := func(k Kind, re *regexp.Regexp, ok func(string) bool) {
		for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
			start, end := m[2], m[3]
			end = start + len(strings.TrimRight(text[start:end], ".-/: "))
			if ok(text[start:end]) {
				add(k, start, end)
			}
		}
	}
	keyed(License, licenseRE, func(v string) bool { return countDigits(v) >= 3 })
	keyed(Vehicle, vinKeyedRE, func(v string) bool { return countDigits(v) >= 3 })
	for _, m := range vinRE.FindAllStringIndex(text, -1) {
		if v := text[m[0]:m[1]]; countDigits(v) >= 3 && countDigits(v) < len(v)-1 {
			add(Vehicle, m[0], m[1])
		}
	}
	for _, m := range plateKeyedRE.FindAllStringSubmatchIndex(text, -1) {
		start, end := m[2], m[3]
		if plate := trimPlate(text[start:end]); plausiblePlate(plate) {
			add(Vehicle, start, start+len(plate))
		}
	}
	for _, m := range ukPlateRE.FindAllStringIndex(text, -1) {
		add(Vehicle, m[0], m[1])
	}
	keyed(Device, deviceKeyedRE, func(v string) bool { return countDigits(v) >= 3 })
	for _, re := range []*regexp.Regexp{serialRE, udiRE, macRE} {
		for _, m := range re.FindAllStringIndex(text, -1) {
			add(Device, m[0], m[1])
		}
	}
	for _, k := range []struct {
		kind Kind
		re   *regexp.Regexp
	}{{Biometric, biometricRE}, {Photo, photoRE}} {
		for _, m := range k.re.FindAllStringIndex(text, -1) {
			start, end := m[0], m[1]
			// "fingerprint-based", "face-scan-enabled": a kind of thing.
			if end < len(text) && text[end] == '-' || !someones(text, start, end, names) {
				continue
			}
			if a := attachedRE.FindStringIndex(text[end:]); a != nil {
				end += a[1]
			}
			add(k.kind, start, end)
		}
	}
}

// someones reports whether the mention text[start:end] of a biometric or a
// photo is of a particular person rather than of such things in general.
func someones(text string, start, end int, names []Span) bool {
	before, after := text[max(0, start-40):start], text[end:min(len(text), end+40)]
	if ownerBeforeRE.MatchString(before) || keptBeforeRE.MatchString(before) || recordAfterRE.MatchString(after) || ofPersonRE.MatchString(after) {
		return true
	}
	if attachedRE.MatchString(text[end:]) {
		return true
	}
	if of := ofPrefixRE.FindString(text[end:]); of != "" {
		for _, n := range names {
			if n.Start == end+len(of) {
				return true
			}
		}
	}
	return false
}

var ofPrefixRE = regexp.MustCompile(`^\s+of\s+`)

// trimPlate drops a trailing group that is a word of one capital ("KX19
// LMN I think" is the plate "KX19 LMN").
func trimPlate(s string) string {
	for {
		i := strings.LastIndexAny(s, " -")
		if i < 0 || len(s)-i-1 != 1 || countDigits(s[i+1:]) > 0 {
			return s
		}
		s = s[:i]
	}
}

// plausiblePlate: four to ten capitals and digits, at least one of each.
func plausiblePlate(s string) bool {
	n, digits := 0, countDigits(s)
	for _, r := range s {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			n++
		}
	}
	return n >= 4 && n <= 10 && digits >= 1 && digits < n
}
