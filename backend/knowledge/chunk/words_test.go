package chunk

import (
	"slices"
	"testing"
)

// units cuts text after every word followed by a boundary of at least the
// given strength.
func units(text string, level uint8) []string {
	var out []string
	ws := words(text, nil)
	start := 0
	for k, w := range ws {
		if k == 0 {
			start = w.start
		}
		if w.brk >= level {
			out = append(out, text[start:w.end])
			if k+1 < len(ws) {
				start = ws[k+1].start
			}
		}
	}
	return out
}

func TestSentences(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"plain", "Take one tablet. Drink water! Any questions? Call us.",
			[]string{"Take one tablet.", "Drink water!", "Any questions?", "Call us."}},
		{"titles", "Dr. Smith and Prof. Jones see you. Mrs. Lee does not.",
			[]string{"Dr. Smith and Prof. Jones see you.", "Mrs. Lee does not."}},
		{"dotted abbreviations", "Take an analgesic, e.g. Paracetamol, i.e. not Aspirin. Then rest.",
			[]string{"Take an analgesic, e.g. Paracetamol, i.e. not Aspirin.", "Then rest."}},
		{"lower case carries on", "Bring your card etc. to the desk. Thanks.",
			[]string{"Bring your card etc. to the desk.", "Thanks."}},
		{"listed terms before numbers", "Take approx. 5 ml. No. 3 is the room. Max. 4 a day.",
			[]string{"Take approx. 5 ml.", "No. 3 is the room.", "Max. 4 a day."}},
		{"only before a number", "The answer is no. Wait 5 min. Then ring tel. 0123 45.",
			[]string{"The answer is no.", "Wait 5 min.", "Then ring tel. 0123 45."}},
		{"initials", "Ask J. R. Smith. He knows.",
			[]string{"Ask J. R. Smith.", "He knows."}},
		{"decimals and addresses end sentences", "The dose is 2.5. See www.example.org. Done.",
			[]string{"The dose is 2.5.", "See www.example.org.", "Done."}},
		{"closing quotes and brackets", `He said "Stop." Then (briefly.) she left. **Note.** End.`,
			[]string{`He said "Stop."`, "Then (briefly.) she left.", "**Note.**", "End."}},
		{"ellipsis", "Wait... then go. Later… Now.",
			[]string{"Wait... then go.", "Later…", "Now."}},
		{"German", "Am 3. Mai kommt Dr. med. Müller, z.B. um 9 Uhr. Bitte ggf. warten. Danke.",
			[]string{"Am 3. Mai kommt Dr. med. Müller, z.B. um 9 Uhr.", "Bitte ggf. warten.", "Danke."}},
		{"German quotes", "Er sagte „Gut.“ Dann ging er.",
			[]string{"Er sagte „Gut.“", "Dann ging er."}},
		{"Turkish", "İlaç günde 2 kez alınır. Op. Dr. Ayşe Yılmaz önerir. Doç. Dr. Işık onaylar.",
			[]string{"İlaç günde 2 kez alınır.", "Op. Dr. Ayşe Yılmaz önerir.", "Doç. Dr. Işık onaylar."}},
		{"numbered list", "1. Book online\n2. Confirm the e-mail.",
			[]string{"1. Book online\n2. Confirm the e-mail."}},
		{"Chinese and Japanese without spaces", "请按时服药。如有疑问，请联系医生！「はい。」次です。",
			[]string{"请按时服药。", "如有疑问，请联系医生！", "「はい。」", "次です。"}},
		{"emoji", "Get well soon 😷. See you 👋! Bye.",
			[]string{"Get well soon 😷.", "See you 👋!", "Bye."}},
		{"paragraph without a full stop", "Opening hours\n\nMonday to Friday",
			[]string{"Opening hours", "Monday to Friday"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := units(tc.in, brkSentence); !slices.Equal(got, tc.want) {
				t.Errorf("sentences of %q:\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestBoundaries(t *testing.T) {
	text := "Repeat prescriptions\r\n\r\nOrder online. Or call\nus on weekdays:\n- Monday\n- Tuesday\u2029Last   words"
	for _, tc := range []struct {
		level uint8
		want  []string
	}{
		{brkPara, []string{"Repeat prescriptions", "Order online. Or call\nus on weekdays:\n- Monday\n- Tuesday", "Last   words"}},
		{brkSentence, []string{"Repeat prescriptions", "Order online.", "Or call\nus on weekdays:\n- Monday\n- Tuesday", "Last   words"}},
		{brkLine, []string{"Repeat prescriptions", "Order online.", "Or call", "us on weekdays:", "- Monday", "- Tuesday", "Last   words"}},
	} {
		if got := units(text, tc.level); !slices.Equal(got, tc.want) {
			t.Errorf("level %d:\n got %q\nwant %q", tc.level, got, tc.want)
		}
	}
	ws := words(text, nil)
	var gaps []uint8
	var canon []bool
	for _, w := range ws[:len(ws)-1] {
		gaps, canon = append(gaps, w.gap), append(canon, w.canon)
	}
	wantGaps := []uint8{gapSpace, gapPara, gapSpace, gapSpace, gapSpace, gapLine, gapSpace, gapSpace, gapLine, gapSpace, gapLine, gapSpace, gapPara, gapSpace}
	wantCanon := []bool{true, false, true, true, true, true, true, true, true, true, true, true, false, false}
	if !slices.Equal(gaps, wantGaps) || !slices.Equal(canon, wantCanon) {
		t.Errorf("gaps %v canonical %v\nwant %v %v", gaps, canon, wantGaps, wantCanon)
	}
}
