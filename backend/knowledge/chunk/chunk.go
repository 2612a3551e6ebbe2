// Package chunk splits extracted documents into passages for retrieval:
// small enough to embed and to quote in a prompt, whole enough (paragraphs,
// then sentences) to make sense on their own, and each traceable to its
// heading path and byte range so that an answer can cite and highlight its
// source.
//
// Splitting is deterministic: re-indexing an unchanged document produces
// the same chunks, so their hashes can tell what needs re-embedding.
package chunk

import (
	"slices"
	"strings"
)

// Section is a run of text under one heading path. It has the shape of what
// the extractor produces, so a caller converts without copying text.
type Section struct {
	Headings []string // heading path, outermost first
	Text     string   // paragraphs separated by blank lines (\n\n); valid UTF-8
}

// Budgets used when the corresponding Options field is zero.
const (
	DefaultMaxTokens     = 350
	DefaultOverlapTokens = 50
	DefaultMinTokens     = 40
)

// Options sets the budgets, in CountTokens tokens. Zero means the default;
// a negative OverlapTokens or MinTokens turns overlap or merging off.
type Options struct {
	MaxTokens     int // budget per chunk, default 350
	OverlapTokens int // carried from the end of the previous chunk of the same section, default 50
	MinTokens     int // a trailing fragment smaller than this is merged into the previous chunk, default 40
}

// Chunk is one passage.
//
// Its own text is section.Text[Start:End], which begins and ends with
// non-whitespace, with every whitespace run inside written as a single
// separator: "\n\n" for a run holding a blank line (two line breaks or a
// U+2029), "\n" for one holding a line break, " " otherwise. Text is that
// own text, preceded, when Overlap > 0, by the overlap: the tail of the
// previous chunk's own text and the separator for the whitespace between
// the two. So Text[Overlap:] is the own text, and the own texts of a
// section's chunks, in order, hold every non-whitespace character of the
// section once.
type Chunk struct {
	Ordinal  int      // position in the document, from 0
	Headings []string // the section's heading path, shared by the section's chunks
	Text     string   // overlap, then the chunk's own text
	Tokens   int      // CountTokens(Text)
	// Start and End are byte offsets of the own text in the section's Text,
	// for highlighting.
	Start, End int
	// Overlap is how many bytes at the start of Text were carried over from
	// the previous chunk: indexing for BM25 may want to count them once,
	// embedding wants the context.
	Overlap int
}

// Split cuts sections into chunks. Chunks never span two sections. Within a
// section a chunk ends at a blank line if one keeps it within MaxTokens, else
// at a sentence end, a line break, or between words, and a single word too
// long for any chunk is cut between runes. Each chunk after the first of a
// section starts with up to OverlapTokens of whole sentences (or lines, or
// words) from the end of the one before, so that a passage retrieved alone
// keeps some of its context; Tokens is at most MaxTokens+OverlapTokens. A
// last chunk smaller than MinTokens is merged into the one before when that
// stays within the same limit, with less overlap if need be.
//
// Split takes time linear in the size of the input.
func Split(sections []Section, o Options) []Chunk {
	o = o.withDefaults()
	p := packer{max: o.MaxTokens, min: o.MinTokens, overlap: o.OverlapTokens}
	largest := 0
	for _, s := range sections {
		largest = max(largest, len(s.Text))
	}
	// About one word in six bytes of prose: enough to rarely grow.
	p.words = make([]word, 0, largest/5+1)
	p.sums = make([]int, 0, largest/5+2)
	var out []Chunk
	for _, s := range sections {
		p.section(s.Text)
		if len(p.spans) == 0 {
			continue
		}
		headings := slices.Clone(s.Headings)
		for _, sp := range p.spans {
			text, overlap, tokens := p.render(sp)
			out = append(out, Chunk{
				Ordinal: len(out), Headings: headings,
				Text: text, Tokens: tokens,
				Start: sp.start, End: sp.end, Overlap: overlap,
			})
		}
	}
	return out
}

func (o Options) withDefaults() Options {
	if o.MaxTokens <= 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	switch {
	case o.OverlapTokens == 0:
		o.OverlapTokens = DefaultOverlapTokens
	case o.OverlapTokens < 0:
		o.OverlapTokens = 0
	}
	switch {
	case o.MinTokens == 0:
		o.MinTokens = DefaultMinTokens
	case o.MinTokens < 0:
		o.MinTokens = 0
	}
	return o
}

// span is a chunk of the section being split, before its text is written.
type span struct {
	start, end int  // own text, in bytes
	w0, w1     int  // the words it covers, the first and last maybe in part
	tokens     int  // own tokens, summed over its words and pieces
	cut        bool // it ends inside a word
	joined     bool // it holds two pieces of a word, so tokens may be more than the exact count
	from       int  // the first word of its overlap, or -1
	carried    int  // tokens of the overlap
}

// packer fills chunks greedily, cutting at the strongest boundary that fits.
// Its buffers are reused from one section to the next.
type packer struct {
	max, min, overlap int

	text   string
	words  []word
	sums   []int // sums[i] is the tokens of words[:i]
	spans  []span
	cur    span // being filled, when open
	open   bool
	merged int // overlap budget of a last chunk that took in a fragment, or -1
}

func (p *packer) section(text string) {
	p.text = text
	p.words = words(text, p.words[:0])
	p.spans = p.spans[:0]
	p.open = false
	if len(p.words) == 0 {
		return
	}
	p.sums = append(p.sums[:0], 0)
	for _, w := range p.words {
		p.sums = append(p.sums, p.sums[len(p.sums)-1]+w.tokens)
	}
	p.pack(0, len(p.words), brkPara)
	p.flush()
	p.merge()
	for k := 1; k < len(p.spans); k++ {
		budget := p.overlap
		if k == len(p.spans)-1 && p.merged >= 0 {
			budget = p.merged
		}
		p.spans[k].from, p.spans[k].carried = p.tail(p.spans[k-1], budget)
	}
}

// pack places the units of words[lo:hi] that end at boundaries of at least
// the given strength: paragraphs, then, for a paragraph too large, its
// sentences, and so on down. Each level looks at each word once, so packing
// is linear.
func (p *packer) pack(lo, hi int, level uint8) {
	for i := lo; i < hi; {
		j := i + 1
		for j < hi && p.words[j-1].brk < level {
			j++
		}
		p.place(i, j, level)
		i = j
	}
}

func (p *packer) place(i, j int, level uint8) {
	t := p.sums[j] - p.sums[i]
	if p.open && p.cur.tokens+t <= p.max {
		p.extend(j, t)
		return
	}
	// A chunk still smaller than MinTokens is topped up with the first
	// sentences of the next paragraph rather than closed; below paragraphs,
	// a whole sentence in its own chunk beats a fuller chunk.
	small := p.open && p.cur.tokens < p.min && level == brkPara
	if t <= p.max && !small {
		p.flush()
		p.begin(i, p.words[i].start)
		p.extend(j, t)
		return
	}
	if level > brkWord {
		if p.open && p.cur.tokens >= p.min {
			p.flush()
		}
		p.pack(i, j, level-1)
		return
	}
	// A word too long for any chunk is cut anyway, so its first piece
	// might as well fill the chunk before it.
	p.cut(i)
}

// cut places a word too long for a chunk in pieces, each as long as the
// budget allows.
func (p *packer) cut(i int) {
	w := p.words[i]
	for pos := w.start; ; {
		room := p.max
		if p.open {
			room -= p.cur.tokens
		}
		if room < 1 {
			p.flush()
			room = p.max
		}
		n, t := prefix(p.text[pos:w.end], room)
		if !p.open {
			p.begin(i, pos)
		}
		p.cur.end, p.cur.w1, p.cur.tokens = pos+n, i+1, p.cur.tokens+t
		if pos += n; pos == w.end {
			return
		}
		p.cur.cut = true
		p.flush()
	}
}

func (p *packer) begin(i, start int) {
	p.cur = span{start: start, end: start, w0: i, w1: i, from: -1}
	p.open = true
}

func (p *packer) extend(j, tokens int) {
	p.cur.end, p.cur.w1 = p.words[j-1].end, j
	p.cur.tokens += tokens
}

func (p *packer) flush() {
	if p.open {
		p.spans = append(p.spans, p.cur)
		p.open = false
	}
}

// merge folds a last chunk smaller than MinTokens into the one before, as a
// fragment retrieved on its own says little. The merged chunk may exceed
// MaxTokens, but not MaxTokens+OverlapTokens with its overlap, which gives
// way first.
func (p *packer) merge() {
	p.merged = -1
	n := len(p.spans)
	if n < 2 || p.spans[n-1].tokens >= p.min {
		return
	}
	m, last := p.spans[n-2], p.spans[n-1]
	m.joined = m.cut
	m.end, m.w1, m.cut = last.end, last.w1, last.cut
	m.tokens += last.tokens
	room := p.max + p.overlap - m.tokens
	if room < 0 {
		return
	}
	p.spans[n-2] = m
	p.spans = p.spans[:n-1]
	p.merged = min(room, p.overlap)
}

// tail returns the first word of the overlap carried from prev, and its
// tokens: the most of prev's last whole sentences that fit the budget, or
// failing that lines, or words. A chunk ending inside a word carries
// nothing: its end is half a token, and the next chunk continues it anyway.
func (p *packer) tail(prev span, budget int) (from, tokens int) {
	if budget <= 0 || prev.cut {
		return -1, 0
	}
	best := [brkPara + 1]int{-1, -1, -1, -1, -1}
	sums := [brkPara + 1]int{}
	sum := 0
	for w := prev.w1 - 1; w >= prev.w0 && p.words[w].start >= prev.start; w-- {
		if sum += p.words[w].tokens; sum > budget {
			break
		}
		brk := brkPara
		if w > 0 {
			brk = p.words[w-1].brk
		}
		for b := brkWord; b <= brk; b++ {
			best[b], sums[b] = w, sum
		}
	}
	for b := brkSentence; b > brkWord; b-- {
		if best[b] >= 0 {
			return best[b], sums[b]
		}
	}
	return best[brkWord], sums[brkWord]
}

// render writes a chunk's text and returns it with the length of its
// overlap and its tokens. When the source already has canonical whitespace,
// which is the usual case, the text is a substring of the section's and
// costs nothing. The tokens are the sum of its words' unless two of them
// touch, after a CJK full stop or where a fragment was merged.
func (p *packer) render(sp span) (text string, overlap, tokens int) {
	from, start := sp.w0, sp.start
	if sp.from >= 0 {
		from, start = sp.from, p.words[sp.from].start
	}
	canon, spaced := true, !sp.joined
	for w := from; w < sp.w1-1; w++ {
		canon = canon && p.words[w].canon
		spaced = spaced && p.words[w].gap != gapNone
	}
	text, overlap = p.normalized(sp, from, start, canon)
	if spaced {
		return text, overlap, sp.carried + sp.tokens
	}
	return text, overlap, CountTokens(text)
}

func (p *packer) normalized(sp span, from, start int, canon bool) (string, int) {
	if canon {
		return p.text[start:sp.end], sp.start - start
	}
	var b strings.Builder
	b.Grow(sp.end - start)
	overlap := 0
	for w := from; w < sp.w1; w++ {
		if w == sp.w0 {
			overlap = b.Len()
		}
		b.WriteString(p.text[max(p.words[w].start, start):min(p.words[w].end, sp.end)])
		if w < sp.w1-1 {
			b.WriteString(separator(p.words[w].gap))
		}
	}
	return b.String(), overlap
}
