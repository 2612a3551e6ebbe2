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

// emergencyPatterns describe emergencies in the words people use.
var emergencyPatterns = regexp.MustCompile(`(?i)\b(?:` +
	// heart
	`chest (?:pain|pains|tightness|pressure|hurts?|is (?:tight|hurting|crushing))|crushing (?:pain|feeling) in (?:my|the|his|her) chest|heart attack|cardiac arrest|` +
	`pain (?:in|across) (?:my|the|his|her) chest|(?:my|his|her) chest (?:hurts|is tight|feels tight)|` +
	// stroke
	`stroke|face (?:is )?droop(?:ing|s|ed)?|droop(?:ing|y) face|slurred speech|slurring (?:his|her|my)? ?(?:words|speech)|` +
	`(?:sudden )?(?:weakness|numbness) (?:in|on) (?:one|the left|the right|my left|my right) (?:side|arm|leg)|can'?t (?:lift|raise|move) (?:my|his|her) (?:arm|leg)|` +
	// breathing
	`can'?t breathe|cannot breathe|unable to breathe|struggling to breathe|difficulty breathing|trouble breathing|gasping for (?:air|breath)|` +
	`not breathing|stopped breathing|choking|turning blue|blue lips|` +
	// suicide and self-harm
	`suicid\w*|kill (?:my ?self|myself)|end my life|end it all|take my (?:own )?life|want to die|don'?t want to (?:live|be alive)|` +
	`better off dead|hurt(?:ing)? myself|self[- ]harm\w*|overdos\w*|took too many (?:pills|tablets)|` +
	// bleeding
	`(?:severe|heavy|heavily|uncontrolled|a lot of) bleed\w*|bleeding (?:heavily|badly|a lot|won'?t stop|that won'?t stop|will not stop|profusely)|won'?t stop bleeding|` +
	`coughing (?:up )?blood|vomiting blood|` +
	// allergy
	`anaphyla\w*|(?:throat|tongue|lips?|face) (?:is |are )?(?:swelling|swollen|closing)|epi-?pen|severe allergic reaction|` +
	// other
	`unconscious|unresponsive|passed out|(?:having|had) a seizure|seizing|convulsion\w*|collapsed|` +
	`(?:took|swallowed|drank) (?:bleach|poison)|poison(?:ed|ing)` +
	`)\b`)

// emergencyStems: every emergency pattern holds one of these, so a message
// with none of them (most messages) skips the patterns.
var emergencyStems = []string{"chest", "heart", "cardiac", "stroke", "droop", "slur", "weak", "numb", "lift", "raise", "move",
	"breath", "choking", "blue", "suicid", "kill", "end my", "end it", "life", "die", "dead", "live", "alive", "hurt", "harm",
	"overdos", "too many", "bleed", "blood", "anaphyla", "swell", "swollen", "closing", "epi", "allergic", "unconscious",
	"unresponsive", "passed out", "seizure", "seizing", "convuls", "collapsed", "bleach", "poison"}

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
