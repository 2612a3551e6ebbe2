package assistant

import (
	"regexp"
	"strings"
)

// EmergencyNotice is shown before any model output when a message
// describes an emergency. It is fixed text: no model writes it.
const EmergencyNotice = "If this is an emergency — such as chest pain, signs of a stroke (face drooping, arm weakness, slurred speech), " +
	"severe bleeding, difficulty breathing, a severe allergic reaction, or thoughts of ending your life — call your local " +
	"emergency number now (911 in the US, 112 in Europe, 999 in the UK) or go to the nearest emergency department. " +
	"If you are thinking about suicide, you can call or text 988 in the US, or your local crisis line, at any time. " +
	"This assistant cannot help in an emergency."

// Disclaimer is part of every conversation.
const Disclaimer = "This assistant gives general information from the clinic's documents. It does not diagnose or replace " +
	"a doctor's advice. For symptoms or concerns, contact the clinic; in an emergency call emergency services."

// emergencyKind is one kind of emergency: the ways people describe it, and
// the words clinic documents use for it, so that an offline answer can
// quote what the documents say about the emergency described.
type emergencyKind struct {
	said     string   // alternatives of a regular expression, lower case
	docWords []string // lower-case word beginnings
}

// A person's own words for each emergency: "can't catch his breath", "her
// face looks lopsided", "he fainted and we can't get him to come round".
var emergencyKinds = []emergencyKind{
	{`chest (?:pain|pains|tightness|pressure|hurts?|is (?:tight|hurting|crushing))|crushing (?:pain|feeling) in (?:my|the|his|her) chest|heart attack|cardiac arrest|` +
		`pain (?:in|across) (?:my|the|his|her) chest|(?:my|his|her) chest (?:hurts|is tight|feels (?:tight|heavy|crushed))|tight chest|` +
		`chest (?:feels|is) (?:tight|heavy)`,
		[]string{"chest"}},
	{`stroke|face (?:is )?droop(?:ing|s|ed)?|droop(?:ing|y) face|slurred speech|slurring (?:his|her|my)? ?(?:words|speech)|(?:speech|words) (?:is |are )?slurred|` +
		`face (?:looks |is |has |has gone |went |gone |looks all )?(?:lopsided|crooked|droopy|uneven|fallen|dropped)|` +
		`(?:arm|leg|hand) (?:suddenly )?(?:went|has gone|gone|turned|suddenly) (?:all )?(?:weak|numb|limp|dead|floppy)|` +
		`(?:sudden )?(?:weakness|numbness) (?:in|on) (?:one|the left|the right|my left|my right) (?:side|arm|leg)|can'?t (?:lift|raise|move) (?:my|his|her) (?:arm|leg)|` +
		`can'?t (?:speak|talk) (?:properly|clearly)|words (?:are )?(?:coming out )?(?:jumbled|garbled)`,
		[]string{"stroke", "face drooping", "arm weakness", "slurred"}},
	{`can'?t breathe|cannot breathe|unable to breathe|struggling to breathe|difficulty breathing|trouble breathing|gasping for (?:air|breath)|` +
		`not breathing|stopped breathing|choking|turning blue|blue lips|can'?t (?:catch|get) (?:my|his|her|their) breath|fighting for (?:breath|air)|` +
		`(?:lips|face|skin) (?:have |has |are |is )?(?:gone |turned |turning |going )?(?:a )?(?:blue|bluish|grey|gray|greyish|grayish)`,
		[]string{"breath", "lips"}},
	{`suicid\w*|kill (?:my ?self|myself|himself|herself|themselves)|end (?:my|his|her|their) life|end it all|take (?:my|his|her|their) (?:own )?life|want(?:s)? to die|` +
		`don'?t want to (?:live|be alive|be here)|better off (?:dead|without (?:me|him|her|them))|hurt(?:ing)? (?:myself|himself|herself|themselves)|` +
		`self[- ]harm\w*|overdos\w*|took too many (?:pills|tablets)|no reason to (?:live|go on)|` +
		`(?:don'?t|do not|no longer) feel safe (?:with|around) (?:myself|himself|herself)|can'?t keep (?:myself|himself|herself) safe`,
		[]string{"ending their life", "suicide", "crisis"}},
	{`(?:severe|heavy|heavily|uncontrolled|a lot of) bleed\w*|bleeding (?:heavily|badly|a lot|won'?t stop|that won'?t stop|will not stop|profusely)|won'?t stop bleeding|` +
		`coughing (?:up )?blood|vomiting blood|blood (?:everywhere|pouring|gushing|spurting)`,
		[]string{"bleeding"}},
	{`anaphyla\w*|(?:throat|tongue|lips?|face|mouth|eyes) (?:is |are |has |have )?(?:swelling|swollen|closing|puffing up|puffed up|blown up|ballooning)|` +
		`throat (?:feels |is |getting )?(?:tight|closing)|epi-?pen|severe allergic reaction`,
		[]string{"allergic", "swelling of the face"}},
	{`unconscious|unresponsive|passed out|blacked out|collapsed|out cold|` +
		`(?:can'?t|cannot|won'?t|couldn'?t) (?:wake|rouse) (?:him|her|them|me)|(?:won'?t|isn'?t|not) waking up|` +
		`(?:can'?t|cannot|couldn'?t) get (?:him|her|them) to (?:come round|come to|wake)|(?:hasn'?t|has not|won'?t|didn'?t) come (?:round|around|to)|fainted and`,
		[]string{"consciousness", "woken", "unconscious", "collapse"}},
	{`(?:having|had|has) a (?:seizure|fit)|seizing|convulsion\w*|convulsing`,
		[]string{"seizure"}},
	{`(?:took|swallowed|drank|drunk|ate|eaten) (?:bleach|poison|weed ?killer|antifreeze)|poison(?:ed|ing)`,
		[]string{"poison"}},
}

// emergencyPatterns match any of the emergencies, and kindPatterns each.
var (
	emergencyPatterns = regexp.MustCompile(`(?i)\b(?:` + joinSaid() + `)\b`)
	kindPatterns      = func() []*regexp.Regexp {
		out := make([]*regexp.Regexp, len(emergencyKinds))
		for i, k := range emergencyKinds {
			out[i] = regexp.MustCompile(`(?i)\b(?:` + k.said + `)\b`)
		}
		return out
	}()
)

func joinSaid() string {
	said := make([]string, len(emergencyKinds))
	for i, k := range emergencyKinds {
		said[i] = k.said
	}
	return strings.Join(said, "|")
}

// emergencyStems: every emergency pattern holds one of these, so a message
// with none of them (most messages) skips the patterns.
var emergencyStems = []string{"chest", "heart", "cardiac", "stroke", "droop", "slur", "weak", "numb", "lift", "raise", "move",
	"breath", "choking", "blue", "suicid", "kill", "end my", "end it", "life", "die", "dead", "live", "alive", "hurt", "harm",
	"overdos", "too many", "bleed", "blood", "anaphyla", "swell", "swollen", "closing", "epi", "allergic", "unconscious",
	"unresponsive", "passed out", "seizure", "seizing", "convuls", "collapsed", "bleach", "poison", "face", "arm", "leg", "hand",
	"speak", "talk", "words", "lips", "skin", "better off", "be here", "reason to", "throat", "tongue", "mouth", "eyes", "wake",
	"waking", "safe", "come round", "come around", "come to", "out cold", "blacked", "fainted", "fit", "antifreeze", "weed"}

// emergencyDocWords are the words clinic documents use for the
// emergencies text describes: "stroke" for "her face looks lopsided".
func emergencyDocWords(text string) []string {
	var out []string
	for i, p := range kindPatterns {
		if p.MatchString(text) {
			out = append(out, emergencyKinds[i].docWords...)
		}
	}
	return out
}

// IsEmergency reports whether a message describes an emergency.
func IsEmergency(text string) bool {
	lower := strings.ToLower(text)
	for _, s := range emergencyStems {
		if strings.Contains(lower, s) {
			return emergencyPatterns.MatchString(text)
		}
	}
	return false
}
