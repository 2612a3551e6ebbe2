package extract

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PDF text comes from the text layer: each page's content stream is run
// just far enough to know what text is shown where. Lines are assembled in
// the order the page draws them; a larger vertical gap starts a paragraph,
// and short lines set clearly larger than the body text become headings,
// ranked by size. Each page starts a new section under the current heading
// path, so sections carry their page number.

const (
	maxPDFPages     = 100_000
	maxFormDepth    = 8
	maxOperands     = 4096
	maxGraphicsSave = 64
)

func extractPDF(ctx context.Context, data []byte, lim Limits, b *builder) (err error) {
	d := newPDFDoc(ctx, data, lim)
	defer func() {
		if v := recover(); v != nil {
			a, ok := v.(pdfAbort)
			if !ok {
				panic(v)
			}
			err = a.err
		}
	}()
	d.loadXref()
	if d.trailer["Encrypt"] != nil {
		return newError(ReasonEncrypted, "the PDF is encrypted or password-protected: save or print it to a new PDF without protection and upload that")
	}
	if info := d.dict(d.trailer["Info"]); info != nil {
		if t, ok := d.resolve(info["Title"]).(pdfString); ok {
			b.setTitle(cleanPDFTitle(textString(t)))
		}
	}
	cat := d.catalog()
	if cat == nil {
		return d.damaged("the page tree is missing")
	}
	pages := d.pages(cat)
	if len(pages) == 0 {
		return d.damaged("it has no pages")
	}
	c := &textCollector{d: d, max: lim.MaxTextBytes, sizes: map[float64]int{}}
	for i, pg := range pages {
		c.newPage(i + 1)
		in := &interp{d: d, c: c, res: pg.res, textState: textState{ctm: identity, th: 1}}
		in.run(d.contents(pg.dict))
	}
	c.finishLine()
	c.emit(b)
	return b.err
}

// cleanPDFTitle drops what word processors put in the Title field when
// nobody set one.
func cleanPDFTitle(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "Microsoft Word - ")
	for _, ext := range []string{".docx", ".doc", ".pdf", ".odt", ".rtf"} {
		if strings.HasSuffix(strings.ToLower(s), ext) {
			s = s[:len(s)-len(ext)]
		}
	}
	if strings.EqualFold(s, "untitled") {
		return ""
	}
	return s
}

type pdfPage struct {
	dict pdfDict
	res  pdfDict
}

// pages walks the page tree in order, with inherited resources, guarding
// against cycles.
func (d *pdfDoc) pages(cat pdfDict) []pdfPage {
	type item struct {
		node pdfObject
		res  pdfDict
	}
	var out []pdfPage
	seen := map[pdfRef]bool{}
	stack := []item{{node: cat["Pages"]}}
	for len(stack) > 0 && len(out) < maxPDFPages {
		d.tick()
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if r, ok := it.node.(pdfRef); ok {
			if seen[r] {
				continue
			}
			seen[r] = true
		}
		node := d.dict(it.node)
		if node == nil {
			continue
		}
		res := it.res
		if r := d.dict(node["Resources"]); r != nil {
			res = r
		}
		kids, hasKids := d.resolve(node["Kids"]).([]pdfObject)
		if d.name(node["Type"]) == "Pages" || (hasKids && d.name(node["Type"]) != "Page") {
			for i := len(kids) - 1; i >= 0 && len(stack) < maxPDFObjects; i-- {
				stack = append(stack, item{node: kids[i], res: res})
			}
			continue
		}
		out = append(out, pdfPage{dict: node, res: res})
	}
	return out
}

// contents returns a page's content streams, decoded and joined.
func (d *pdfDoc) contents(page pdfDict) []byte {
	switch c := d.resolve(page["Contents"]).(type) {
	case *pdfStream:
		return d.decode(c)
	case []pdfObject:
		var all [][]byte
		for _, part := range c {
			if s, ok := d.resolve(part).(*pdfStream); ok {
				all = append(all, d.decode(s))
			}
		}
		return bytes.Join(all, []byte("\n"))
	}
	return nil
}

type matrix [6]float64

var identity = matrix{1, 0, 0, 1, 0, 0}

// mul returns m × n.
func (m matrix) mul(n matrix) matrix {
	return matrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

func translate(x, y float64) matrix { return matrix{1, 0, 0, 1, x, y} }

// textState is the part of the graphics state that q and Q save.
type textState struct {
	ctm                    matrix
	font                   *pdfFont
	fs, tc, tw, th, tl, ts float64
}

type interp struct {
	d   *pdfDoc
	c   *textCollector
	res pdfDict
	textState
	saved    []textState
	overflow int
	tm, tlm  matrix
	depth    int
	forms    []*pdfStream // forms being run, against cycles
}

func (in *interp) run(data []byte) {
	d := in.d
	p := &pdfParser{lex: pdfLexer{data: data}}
	var ops []pdfObject
	for {
		d.tick()
		t := p.lex.next()
		if t.kind == tokEOF {
			return
		}
		if t.kind == tokKeyword {
			switch op := string(t.b); op {
			case "true", "false", "null":
			case "ID":
				skipInlineImage(&p.lex)
				ops = ops[:0]
				continue
			default:
				in.op(op, ops)
				ops = ops[:0]
				continue
			}
		}
		v := p.objectFrom(t, 0)
		if _, ok := v.(pdfCloser); ok {
			continue
		}
		if len(ops) >= maxOperands {
			ops = ops[:0]
		}
		ops = append(ops, v)
	}
}

// skipInlineImage moves past the binary data of an inline image, to the
// "EI" that ends it.
func skipInlineImage(l *pdfLexer) {
	data := l.data
	i := l.pos + 1
	for i < len(data) {
		j := bytes.Index(data[i:], []byte("EI"))
		if j < 0 {
			l.pos = len(data)
			return
		}
		at := i + j
		if at > 0 && isPDFSpace(data[at-1]) && (at+2 == len(data) || isPDFSpace(data[at+2]) || isPDFDelim(data[at+2])) {
			l.pos = at + 2
			return
		}
		i = at + 2
	}
	l.pos = len(data)
}

func numbers(ops []pdfObject, n int) ([]float64, bool) {
	if len(ops) < n {
		return nil, false
	}
	out := make([]float64, n)
	for i, o := range ops[len(ops)-n:] {
		switch v := o.(type) {
		case int64:
			out[i] = float64(v)
		case float64:
			out[i] = v
		default:
			return nil, false
		}
	}
	return out, true
}

func (in *interp) op(op string, ops []pdfObject) {
	switch op {
	case "q":
		if len(in.saved) < maxGraphicsSave {
			in.saved = append(in.saved, in.textState)
		} else {
			in.overflow++
		}
	case "Q":
		if in.overflow > 0 {
			in.overflow--
		} else if n := len(in.saved); n > 0 {
			in.textState = in.saved[n-1]
			in.saved = in.saved[:n-1]
		}
	case "cm":
		if v, ok := numbers(ops, 6); ok {
			in.ctm = matrix(v).mul(in.ctm)
		}
	case "BT":
		in.tm, in.tlm = identity, identity
	case "Tf":
		if len(ops) >= 2 {
			if name, ok := ops[len(ops)-2].(pdfName); ok {
				fonts := in.d.dict(in.res["Font"])
				in.font = in.d.font(fonts[name])
			}
			if v, ok := numbers(ops, 1); ok {
				in.fs = v[0]
			}
		}
	case "Tc", "Tw", "Tz", "TL", "Ts":
		if v, ok := numbers(ops, 1); ok {
			switch op {
			case "Tc":
				in.tc = v[0]
			case "Tw":
				in.tw = v[0]
			case "Tz":
				in.th = v[0] / 100
			case "TL":
				in.tl = v[0]
			case "Ts":
				in.ts = v[0]
			}
		}
	case "Td", "TD":
		if v, ok := numbers(ops, 2); ok {
			if op == "TD" {
				in.tl = -v[1]
			}
			in.tlm = translate(v[0], v[1]).mul(in.tlm)
			in.tm = in.tlm
		}
	case "Tm":
		if v, ok := numbers(ops, 6); ok {
			in.tlm = matrix(v)
			in.tm = in.tlm
		}
	case "T*":
		in.nextLine()
	case "Tj":
		if len(ops) > 0 {
			in.show(ops[len(ops)-1])
		}
	case "'":
		in.nextLine()
		if len(ops) > 0 {
			in.show(ops[len(ops)-1])
		}
	case "\"":
		if v, ok := numbers(ops[:max(len(ops)-1, 0)], 2); ok {
			in.tw, in.tc = v[0], v[1]
		}
		in.nextLine()
		if len(ops) > 0 {
			in.show(ops[len(ops)-1])
		}
	case "TJ":
		if len(ops) == 0 {
			return
		}
		arr, _ := ops[len(ops)-1].([]pdfObject)
		for _, x := range arr {
			switch v := x.(type) {
			case pdfString:
				in.show(v)
			case int64:
				in.tm = translate(-float64(v)/1000*in.fs*in.th, 0).mul(in.tm)
			case float64:
				in.tm = translate(-v/1000*in.fs*in.th, 0).mul(in.tm)
			}
		}
	case "Do":
		if len(ops) > 0 {
			if name, ok := ops[len(ops)-1].(pdfName); ok {
				in.form(name)
			}
		}
	}
}

func (in *interp) nextLine() {
	in.tlm = translate(0, -in.tl).mul(in.tlm)
	in.tm = in.tlm
}

func (in *interp) show(o pdfObject) {
	s, ok := o.(pdfString)
	if !ok {
		return
	}
	f := in.font
	if f == nil {
		f = in.d.font(nil)
	}
	sh := f.decode([]byte(s))
	trm := matrix{in.fs * in.th, 0, 0, in.fs, 0, in.ts}.mul(in.tm).mul(in.ctm)
	adv := (sh.width/1000*in.fs + float64(sh.glyphs)*in.tc + float64(sh.spaces)*in.tw) * in.th
	tmc := in.tm.mul(in.ctm)
	in.c.show(sh.text, trm, adv*math.Hypot(tmc[0], tmc[1]))
	in.tm = translate(adv, 0).mul(in.tm)
}

// form runs a form XObject: content drawn like a page, with its own
// resources and matrix.
func (in *interp) form(name pdfName) {
	d := in.d
	xo := d.dict(in.res["XObject"])
	s, ok := d.resolve(xo[name]).(*pdfStream)
	if !ok || d.name(s.dict["Subtype"]) != "Form" || in.depth >= maxFormDepth || slices.Contains(in.forms, s) {
		return
	}
	res := in.res
	if r := d.dict(s.dict["Resources"]); r != nil {
		res = r
	}
	ctm := in.ctm
	if m, ok := numbers(d.array(s.dict["Matrix"]), 6); ok {
		ctm = matrix(m).mul(ctm)
	}
	sub := &interp{d: d, c: in.c, res: res, depth: in.depth + 1, forms: append(slices.Clone(in.forms), s)}
	sub.textState = in.textState
	sub.ctm = ctm
	sub.run(d.decode(s))
}

// textCollector assembles shown text into lines.
type textCollector struct {
	d     *pdfDoc
	max   int64
	used  int64
	lines []pdfLine
	sizes map[float64]int // rounded font size → characters set in it

	page   int
	active bool
	text   strings.Builder
	size   float64
	dir    [2]float64 // baseline direction
	v      float64    // position across the baseline
	end    float64    // where the last text ended along the baseline
	gap    bool       // the line starts a paragraph
}

type pdfLine struct {
	text string
	size float64
	page int
	para bool
}

func (c *textCollector) newPage(n int) {
	c.finishLine()
	c.page = n
	c.active = false
}

func (c *textCollector) show(text string, trm matrix, advance float64) {
	if text == "" {
		return
	}
	size := math.Hypot(trm[2], trm[3])
	if !(size > 0) || math.IsInf(size, 0) {
		size = 1
	}
	dx, dy := trm[0], trm[1]
	if l := math.Hypot(dx, dy); l > 0 && !math.IsInf(l, 0) {
		dx, dy = dx/l, dy/l
	} else {
		dx, dy = 1, 0
	}
	along := trm[4]*dx + trm[5]*dy
	across := -trm[4]*dy + trm[5]*dx
	sameDir := math.Abs(dx-c.dir[0]) < 0.01 && math.Abs(dy-c.dir[1]) < 0.01
	if c.active && sameDir && math.Abs(across-c.v) < 0.5*max(size, c.size) {
		gap := along - c.end
		cur := c.text.String()
		if (gap > 0.2*size || gap < -size) && !strings.HasSuffix(cur, " ") && !strings.HasPrefix(text, " ") {
			c.write(" ")
		}
	} else {
		para := true
		if c.active && sameDir {
			down := c.v - across
			para = down > 1.7*max(size, c.size) || down < 0
		}
		c.finishLine()
		c.active, c.gap, c.dir, c.v, c.size = true, para, [2]float64{dx, dy}, across, size
	}
	c.size = max(c.size, size)
	c.end = along + advance
	c.write(text)
}

func (c *textCollector) write(s string) {
	c.used += int64(len(s))
	if c.used > c.max {
		c.d.fail(newError(ReasonTooLarge, "the extracted text is larger than %s; split the document into smaller files", formatSize(c.max)))
	}
	c.text.WriteString(s)
}

func (c *textCollector) finishLine() {
	if c.text.Len() == 0 {
		return
	}
	text := c.text.String()
	c.text.Reset()
	c.lines = append(c.lines, pdfLine{text: text, size: c.size, page: c.page, para: c.gap})
	c.sizes[roundSize(c.size)] += utf8.RuneCountInString(text)
}

func roundSize(s float64) float64 { return math.Round(s*2) / 2 }

// emit sends the lines to the builder, deciding which are headings.
func (c *textCollector) emit(b *builder) {
	levels := c.headingLevels()
	page := 0
	for i := 0; i < len(c.lines); i++ {
		if b.failed() {
			return
		}
		l := c.lines[i]
		if l.page != page {
			page = l.page
			b.setPage(page)
		}
		if lvl, ok := levels[roundSize(l.size)]; ok && isHeadingLine(l.text) {
			text := l.text
			// A heading set over more lines continues without a gap.
			for i+1 < len(c.lines) && !c.lines[i+1].para && c.lines[i+1].page == page &&
				roundSize(c.lines[i+1].size) == roundSize(l.size) && len(text) < maxHeading {
				i++
				text += " " + c.lines[i].text
			}
			b.heading(lvl, text)
			continue
		}
		if l.para {
			b.paragraph()
		}
		b.text(l.text)
		b.newline()
	}
}

// headingLevels maps the font sizes used for headings to levels: sizes
// clearly above the body size (the one most text is set in), largest first.
func (c *textCollector) headingLevels() map[float64]int {
	body, most, total := 0.0, 0, 0
	for size, n := range c.sizes {
		total += n
		if n > most || (n == most && size < body) {
			body, most = size, n
		}
	}
	var sizes []float64
	inHeadings := 0
	for size, n := range c.sizes {
		if size >= body*1.15 && size >= body+1 {
			sizes = append(sizes, size)
			inHeadings += n
		}
	}
	if len(sizes) == 0 || inHeadings*10 > total*4 {
		return nil
	}
	slices.Sort(sizes)
	slices.Reverse(sizes)
	levels := map[float64]int{}
	for i, s := range sizes {
		levels[s] = min(i+1, 6)
	}
	return levels
}

// isHeadingLine rejects large text that is not a heading: long lines, and
// lines with no letters (page numbers, decorations).
func isHeadingLine(s string) bool {
	if utf8.RuneCountInString(s) > 150 {
		return false
	}
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}
