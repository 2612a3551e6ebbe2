package llm

import (
	"regexp"
	"slices"
	"strings"
)

// The words people use against the words clinic documents use. Everything
// here is general: any clinic's documents say "vaccine" for a jab, "cancel"
// for "I can't make it", "Monday to Thursday" for a Wednesday; none of it
// is tied to particular documents.

// synonyms are words people use for what clinic documents call otherwise,
// by stem.
var synonyms = stemSynonyms(map[string][]string{
	"jab":          {"vaccin", "vaccinat"},
	"shot":         {"vaccin", "vaccinat"},
	"immunis":      {"vaccin", "vaccinat"},
	"immuniz":      {"vaccin", "vaccinat"},
	"booster":      {"vaccin", "vaccinat"},
	"bill":         {"invoice", "billing"},
	"pill":         {"medicin", "medication", "prescription"},
	"tablet":       {"medicin", "medication", "prescription"},
	"meds":         {"medicin", "medication"},
	"medication":   {"medicin"},
	"medicin":      {"medication"},
	"drug":         {"medicin", "medication"},
	"script":       {"prescription"},
	"renew":        {"repeat", "order"},
	"refill":       {"repeat", "order"},
	"doctor":       {"clinician"},
	"gp":           {"doctor", "clinician"},
	"physician":    {"doctor", "clinician"},
	"nurse":        {"clinician"},
	"phone":        {"call", "telephone"},
	"ring":         {"call", "phone"},
	"telephone":    {"phone"},
	"email":        {"e-mail"},
	"e-mail":       {"email"},
	"mail":         {"e-mail"},
	"reply":        {"answer", "respond"},
	"respond":      {"answer", "reply"},
	"response":     {"answer", "reply"},
	"open":         {"hour", "close", "closure"},
	"close":        {"closed", "closure", "hour"},
	"closed":       {"close", "closure"},
	"shut":         {"close", "closed", "closure"},
	"cost":         {"price", "charg", "fee"},
	"price":        {"cost", "charg", "fee"},
	"pay":          {"payment", "invoice", "charg"},
	"fee":          {"charg"},
	"wheelchair":   {"step-free", "access"},
	"disabled":     {"access"},
	"deaf":         {"hearing", "sign"},
	"blind":        {"sight"},
	"kid":          {"child"},
	"son":          {"child", "relative"},
	"daughter":     {"child", "relative"},
	"baby":         {"child", "infant"},
	"toddler":      {"child"},
	"teenag":       {"young", "child"},
	"temperature":  {"fever"},
	"fever":        {"temperature"},
	"result":       {"report"},
	"report":       {"result"},
	"lab":          {"test", "result"},
	"bloodwork":    {"blood", "test"},
	"online":       {"portal"},
	"app":          {"portal"},
	"website":      {"portal"},
	"login":        {"account"},
	"password":     {"account"},
	"register":     {"account"},
	"data":         {"information", "record"},
	"information":  {"data", "record"},
	"notes":        {"record"},
	"file":         {"record"},
	"reception":    {"desk"},
	"receptionist": {"desk"},
	"video":        {"remote"},
	"call":         {"contact", "phone"},
	"contact":      {"call", "phone"},
	"learn":        {"contact", "notif", "inform"},
	"christmas":    {"holiday", "december"},
	"easter":       {"holiday"},
	"weekend":      {"saturday", "sunday"},
	"weekday":      {"monday", "tuesday", "wednesday", "thursday", "friday"},
	"husband":      {"relative", "partner"},
	"wife":         {"relative", "partner"},
	"partner":      {"relative"},
	"mother":       {"relative", "parent"},
	"father":       {"relative", "parent"},
	"mum":          {"relative", "parent"},
	"mom":          {"relative", "parent"},
	"dad":          {"relative", "parent"},
	"sister":       {"relative"},
	"brother":      {"relative"},
	"grandmoth":    {"relative"},
	"grandfath":    {"relative"},
	"friend":       {"relative", "carer"},
	"advertiser":   {"marketing"},
	"advertising":  {"marketing"},
	"sell":         {"share"},
	"delay":        {"late"},
	"flu":          {"influenza"},
	"ai":           {"model"},
	"chatbot":      {"assistant"},
	"bot":          {"assistant"},
	"remote":       {"video", "telephone"},
	"translator":   {"interpret"},
	"translat":     {"interpret"},
	"ill":          {"unwell", "sick"},
	"sick":         {"unwell", "ill"},
	"poorly":       {"unwell", "ill"},
	"review":       {"check"},
	"check":        {"review"},
	"postpon":      {"reschedul", "move"},
	"swap":         {"reschedul", "move"},
	"forgot":       {"miss"},
	"forget":       {"miss"},
	"temp":         {"temperature", "fever"},
	"tonight":      {"out-of-hours"},
	"overnight":    {"out-of-hours"},
	"insurer":      {"insurance"},
	"insurance":    {"insurer"},
	"rebook":       {"reschedul", "move"},
	"chang":        {"reschedul", "move"},
})

func stemSynonyms(words map[string][]string) map[string][]string {
	out := make(map[string][]string, len(words))
	for w, alts := range words {
		for _, a := range alts {
			out[stem(w)] = append(out[stem(w)], stem(a))
		}
	}
	return out
}

// phrases are ways of saying something whose words apart say otherwise.
var phrases = strings.NewReplacer("sign up", "register", "signing up", "register", "log in", "sign in", "log on", "sign in",
	"pick up", "collect", "picking up", "collect", "get hold of", "contact", "find out", "learn", "hear about", "learn",
	"new year's day", "holiday", "new year", "holiday", "bank holiday", "holiday", "guide dog", "assistance dog",
	"can't make", "cancel", "cannot make", "cancel", "can not make", "cancel", "won't make", "cancel", "not make it", "cancel",
	"can't come", "cancel", "cannot come", "cancel", "can't attend", "cancel", "unable to attend", "cancel", "unable to come", "cancel",
	"call off", "cancel", "let you know", "contact", "get back to", "answer",
	"look at", "review", "looks at", "review", "looked at", "review", "go over", "review", "goes over", "review",
	"run out", "repeat", "running out", "repeat", "ran out", "repeat", "top up", "repeat",
	"blood work", "blood test", "lab work", "test", "burning up", "fever", "more time", "longer", "extra time", "longer",
	"wrong with me", "diagnose", "after hours", "out-of-hours", "at night", "out-of-hours", "insurance company", "insurer")

// clinicWords name the clinic itself (see clinicShare).
var clinicWords = map[string]bool{stem("clinic"): true, stem("surgery"): true, stem("practice"): true, stem("centre"): true,
	stem("center"): true, stem("office"): true}

// weekdays in order, and the ranges documents write them in ("Monday to
// Thursday", "Mon–Fri").
var weekdays = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

var dayRange = regexp.MustCompile(`(?i)\b(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?\s*(?:to|until|till|through|thru|-|–|—)\s*(mon|tue|wed|thu|fri|sat|sun)[a-z]*\b`)

// daysWithin are the stems of the days a sentence's day ranges hold
// between their ends: "Monday to Thursday" holds Tuesday and Wednesday.
func daysWithin(sentence string) []string {
	var out []string
	for _, m := range dayRange.FindAllStringSubmatch(sentence, -1) {
		from, to := dayIndex(m[1]), dayIndex(m[2])
		for d := from; d != to; d = (d + 1) % 7 {
			out = append(out, stem(weekdays[d]))
		}
		out = append(out, stem(weekdays[to]))
	}
	return out
}

func dayIndex(prefix string) int {
	prefix = strings.ToLower(prefix)
	for i, d := range weekdays {
		if strings.HasPrefix(d, prefix) {
			return i
		}
	}
	return 0
}

// services are things a question can ask the clinic for by name: care,
// tests, treatments, specialists and amenities. When a question names one
// that none of the clinic's documents mentions, the documents do not answer
// it, however many of its other words they share ("Can I book a dentist
// appointment?" shares "book" and "appointment" with every booking rule).
// Words that only set the scene ("stuck in traffic") are not among them,
// so a question that brings its own particulars is still answered.
var services = func() []service {
	var out []service
	for _, name := range strings.Split(serviceNames, ",") {
		if name = strings.TrimSpace(name); name != "" {
			out = append(out, service{named: regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`), words: stems(name)})
		}
	}
	return out
}()

// service is one of services: how a question names it, and the stems a
// passage that mentions it holds.
type service struct {
	named *regexp.Regexp
	words []string
}

const serviceNames = `
	dentist, dental, orthodontist, hygienist, dermatologist, dermatology, physiotherapy, physiotherapist, physio,
	chiropractor, chiropractic, osteopath, osteopathy, acupuncture, acupuncturist, podiatrist, podiatry, chiropodist,
	optician, optometrist, eye test, audiologist, audiology, hearing test, psychiatrist, psychologist, psychotherapy,
	counselling, counseling, counsellor, therapist, gynaecologist, gynecologist, obstetrician, antenatal, prenatal,
	postnatal, midwife, cardiologist, neurologist, oncologist, orthopaedic, orthopedic, urologist, dietitian,
	dietician, nutritionist, speech therapy, occupational therapy, homeopathy, homeopath, naturopath, massage,
	smear, cervical screening, pap, syringing, syringed, ear wax, stitches, suture, sutures, wart, warts, cryotherapy,
	vasectomy, coil, iud, contraceptive implant, morning after, circumcision, botox, filler, fillers, mole removal,
	ecg, ekg, spirometry, allergy testing, blood donation, blood donations, donate blood, covid, coronavirus, pcr,
	hiv, sti, std, sexual health, pregnancy test, ivf, fertility, weight loss, slimming, stop smoking, smoking cessation,
	rehab, detox, methadone, home visit, home visits, house call, ambulance service, physical exam for driving,
	dna test, paternity, tattoo, piercing, ear piercing, laser, hair removal, cosmetic surgery, plastic surgery,
	sick note, fit note, medical certificate for work, disability forms, passport photo,
	cafe, café, canteen, restaurant, wifi, wi-fi, bus, bus stop, train, taxi, pharmacy, chemist, shop, atm,
	cash machine, vending machine, water fountain, locker, lockers, baby changing, pram,
	manager, practice manager, director, owner, female doctor, male doctor, female, male
`

// unknownService returns the first service question names that no passage
// holds, or "" when there is none.
func unknownService(question string, passages []Passage) string {
	q := strings.ToLower(question)
	var text [][]string
	for _, p := range passages {
		text = append(text, stems(p.Title+"\n"+p.Heading+"\n"+p.Text))
	}
	for _, s := range services {
		if !s.named.MatchString(q) {
			continue
		}
		held := false
		for _, words := range text {
			held = held || containsAll(words, s.words)
		}
		if !held {
			return s.named.String()
		}
	}
	return ""
}

func containsAll(words, name []string) bool {
	for _, n := range name {
		found := false
		for _, w := range words {
			found = found || sameStem(n, w)
		}
		if !found {
			return false
		}
	}
	return len(name) > 0
}

// Documents often head a passage with the question it answers, in the
// form the question takes: "How to ask" for "How do I get a copy of my
// records?", "What to bring" for "What should I bring?", "When to call
// emergency services". A question's asking word is held by a heading that
// starts with it.
const askPrefix = "#ask-"

var askingWords = []string{"how", "what", "who", "when", "where", "why", "which"}

// questionAsks is the token of the asking word the question starts with
// ("#ask-how"), with the word after it when the two ask for a measure
// ("#ask-how-long": "How long it takes" does not say how to ask); "" when
// it starts with none.
func questionAsks(question string) string {
	words := strings.Fields(strings.ToLower(question))
	if len(words) == 0 {
		return ""
	}
	first := strings.TrimSuffix(strings.TrimRight(words[0], "?,"), "'s")
	if !slices.Contains(askingWords, first) {
		return ""
	}
	if first == "how" && len(words) > 1 {
		if second := strings.TrimRight(words[1], "?,"); slices.Contains(measureWords, second) {
			return askPrefix + first + "-" + second
		}
	}
	return askPrefix + first
}

var measureWords = []string{"long", "much", "many", "far", "soon", "quickly", "fast", "often", "early", "late", "old"}

// headingAsks is the token of the asking word the passage's own heading
// (the last of its path) starts with.
func headingAsks(path string) []string {
	parts := strings.Split(path, " › ")
	if a := questionAsks(parts[len(parts)-1]); a != "" {
		return []string{a}
	}
	return nil
}
