package redact

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Example is a labelled sentence: its text and the identifiers in it.
type Example struct {
	Line  int
	Text  string
	Spans []Span
}

// ParseLabelled reads a labelled set: one sentence per line, identifiers
// marked {{KIND:text}}, lines starting with # and blank lines ignored.
func ParseLabelled(r io.Reader) ([]Example, error) {
	kinds := map[string]bool{}
	for _, k := range Kinds {
		kinds[string(k)] = true
	}
	var out []Example
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ex := Example{Line: n}
		var b strings.Builder
		for {
			i := strings.Index(line, "{{")
			if i < 0 {
				break
			}
			j := strings.Index(line[i:], "}}")
			if j < 0 {
				return nil, fmt.Errorf("line %d: {{ without }}", n)
			}
			kind, text, ok := strings.Cut(line[i+2:i+j], ":")
			if !ok || !kinds[kind] || text == "" {
				return nil, fmt.Errorf("line %d: bad marker %q", n, line[i:i+j+2])
			}
			b.WriteString(line[:i])
			ex.Spans = append(ex.Spans, Span{Kind(kind), b.Len(), b.Len() + len(text)})
			b.WriteString(text)
			line = line[i+j+2:]
		}
		b.WriteString(line)
		ex.Text = b.String()
		out = append(out, ex)
	}
	return out, sc.Err()
}

// Score counts a detector's findings against labels.
type Score struct {
	Labelled, Found  int // spans labelled, spans found
	Recalled, Proper int // labelled spans overlapped by a finding; findings overlapping a label
	ExactKind        int // findings with exactly a label's bounds and kind
}

func (s Score) Precision() float64 { return ratio(s.Proper, s.Found) }
func (s Score) Recall() float64    { return ratio(s.Recalled, s.Labelled) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// Miss is a labelled identifier not found, or a finding with no label.
type Miss struct {
	Line  int
	Kind  Kind
	Text  string
	Found bool // a finding without a label (false: a label not found)
}

// Evaluate runs d over the examples. A labelled identifier counts as
// recalled when a finding covers any of it (it is then replaced, whatever
// kind the placeholder names); a finding is proper when it covers some of a
// labelled identifier. The scores are overall and per labelled kind (for
// findings, per kind found).
func Evaluate(d *Detector, examples []Example) (all Score, byKind map[Kind]*Score, misses []Miss) {
	byKind = map[Kind]*Score{}
	for _, k := range Kinds {
		byKind[k] = &Score{}
	}
	overlaps := func(a, b Span) bool { return a.Start < b.End && b.Start < a.End }
	for _, ex := range examples {
		found := d.Find(ex.Text)
		for _, l := range ex.Spans {
			all.Labelled++
			byKind[l.Kind].Labelled++
			hit := false
			for _, f := range found {
				hit = hit || overlaps(l, f)
			}
			if hit {
				all.Recalled++
				byKind[l.Kind].Recalled++
			} else {
				misses = append(misses, Miss{ex.Line, l.Kind, ex.Text[l.Start:l.End], false})
			}
		}
		for _, f := range found {
			all.Found++
			byKind[f.Kind].Found++
			proper := false
			for _, l := range ex.Spans {
				proper = proper || overlaps(l, f)
				if l == f {
					all.ExactKind++
					byKind[f.Kind].ExactKind++
				}
			}
			if proper {
				all.Proper++
				byKind[f.Kind].Proper++
			} else {
				misses = append(misses, Miss{ex.Line, f.Kind, ex.Text[f.Start:f.End], true})
			}
		}
	}
	return all, byKind, misses
}

// Structured reports whether identifiers of kind k have a written form of
// their own: digits, a syntax (an e-mail address, a street address), or a
// value after a keyword. Names, and the phrases that mention a biometric or
// a photo, do not.
func (k Kind) Structured() bool { return k != Patient && k != Biometric && k != Photo }

// Sum adds up the scores of the kinds keep selects.
func Sum(byKind map[Kind]*Score, keep func(Kind) bool) Score {
	var sum Score
	for k, s := range byKind {
		if keep(k) {
			sum.Labelled += s.Labelled
			sum.Found += s.Found
			sum.Recalled += s.Recalled
			sum.Proper += s.Proper
			sum.ExactKind += s.ExactKind
		}
	}
	return sum
}

// WriteTable writes the scores per kind, then for the structured kinds
// together and for all.
func WriteTable(w io.Writer, all Score, byKind map[Kind]*Score) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tlabelled\trecall\tfound\tprecision\texact\t")
	row := func(name string, s Score) {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%d\t%.3f\t%d\t\n", name, s.Labelled, s.Recall(), s.Found, s.Precision(), s.ExactKind)
	}
	for _, k := range Kinds {
		row(string(k), *byKind[k])
	}
	row("structured", Sum(byKind, Kind.Structured))
	row("all", all)
	return tw.Flush()
}

// LeakedNames redacts each example as a conversation would and lists the
// words of the given patients' names still readable in the result: a name
// missed, or a finding that covered only part of one.
func LeakedNames(d *Detector, examples []Example, patients []string) []Miss {
	words := map[string]bool{}
	for _, p := range patients {
		for _, w := range nameWords(p) {
			if len([]rune(w)) >= 3 && !commonWords[w] {
				words[w] = true
			}
		}
	}
	var leaks []Miss
	for _, ex := range examples {
		redacted, _ := d.NewSession().Redact(ex.Text)
		for _, w := range wordRE.FindAllString(redacted, -1) {
			lw := trimPossessive(strings.ToLower(normalizeApostrophe(w)))
			leaked := words[lw]
			for _, piece := range strings.Split(lw, "-") {
				leaked = leaked || words[piece]
			}
			if leaked {
				leaks = append(leaks, Miss{Line: ex.Line, Kind: Patient, Text: w})
			}
		}
	}
	return leaks
}
