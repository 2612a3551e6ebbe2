package extract

import (
	"bytes"
	"context"
	"strconv"
)

// The PDF object layer: a lexer and parser over the file held in memory,
// the cross-reference table (tables, streams, hybrids, and a rebuild by
// scanning when they are broken), object streams and stream filters.
// Every loop is bounded by the input or by a limit, every decoded byte is
// counted against Limits.MaxUncompressed, and the context is polled, so a
// hostile file ends in an error, not in memory or time without bound.

type (
	pdfObject  = any // nil, bool, int64, float64, pdfString, pdfName, pdfKeyword, []pdfObject, pdfDict, pdfRef, *pdfStream
	pdfString  string
	pdfName    string
	pdfKeyword string
	pdfDict    map[pdfName]pdfObject
	pdfRef     struct{ num, gen int }
)

type pdfStream struct {
	dict pdfDict
	raw  []byte // undecoded bytes, a slice of the file
}

// pdfAbort stops extraction from deep inside the reader; extractPDF
// recovers it and returns err.
type pdfAbort struct{ err error }

const (
	maxPDFObjects = 1 << 20
	maxPDFNesting = 64
)

// closer is what the parser returns for "]" and ">>".
type pdfCloser struct{}

// pdfLexer reads tokens from data.
type pdfLexer struct {
	data []byte
	pos  int
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokInt
	tokReal
	tokString
	tokName
	tokKeyword
	tokArrayOpen
	tokArrayClose
	tokDictOpen
	tokDictClose
)

type pdfToken struct {
	kind tokKind
	i    int64
	f    float64
	b    []byte // string value, name or keyword (a slice that may alias data)
}

func isPDFSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isPDFDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func (l *pdfLexer) skipSpace() {
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		if isPDFSpace(c) {
			l.pos++
			continue
		}
		if c == '%' {
			for l.pos < len(l.data) && l.data[l.pos] != '\n' && l.data[l.pos] != '\r' {
				l.pos++
			}
			continue
		}
		return
	}
}

func (l *pdfLexer) next() pdfToken {
	l.skipSpace()
	if l.pos >= len(l.data) {
		return pdfToken{kind: tokEOF}
	}
	c := l.data[l.pos]
	switch {
	case c == '(':
		l.pos++
		return pdfToken{kind: tokString, b: l.literalString()}
	case c == '<':
		if l.pos+1 < len(l.data) && l.data[l.pos+1] == '<' {
			l.pos += 2
			return pdfToken{kind: tokDictOpen}
		}
		l.pos++
		return pdfToken{kind: tokString, b: l.hexString()}
	case c == '>':
		l.pos++
		if l.pos < len(l.data) && l.data[l.pos] == '>' {
			l.pos++
			return pdfToken{kind: tokDictClose}
		}
		return pdfToken{kind: tokKeyword, b: []byte(">")}
	case c == '[':
		l.pos++
		return pdfToken{kind: tokArrayOpen}
	case c == ']':
		l.pos++
		return pdfToken{kind: tokArrayClose}
	case c == '/':
		l.pos++
		return pdfToken{kind: tokName, b: l.name()}
	case c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9'):
		return l.number()
	}
	start := l.pos
	for l.pos < len(l.data) && !isPDFSpace(l.data[l.pos]) && !isPDFDelim(l.data[l.pos]) {
		l.pos++
	}
	if l.pos == start { // a stray ')', '{' or '}'
		l.pos++
	}
	return pdfToken{kind: tokKeyword, b: l.data[start:l.pos]}
}

func (l *pdfLexer) number() pdfToken {
	start := l.pos
	l.pos++
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		if (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' {
			l.pos++
			continue
		}
		break
	}
	s := string(l.data[start:l.pos])
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return pdfToken{kind: tokInt, i: i}
	}
	// Reals, and the malformed numbers some writers produce ("--5", "1.2.3"):
	// the longest prefix that parses.
	for end := len(s); end > 0; end-- {
		if f, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return pdfToken{kind: tokReal, f: f}
		}
	}
	return pdfToken{kind: tokReal}
}

func (l *pdfLexer) name() []byte {
	start := l.pos
	for l.pos < len(l.data) && !isPDFSpace(l.data[l.pos]) && !isPDFDelim(l.data[l.pos]) {
		l.pos++
	}
	raw := l.data[start:l.pos]
	if bytes.IndexByte(raw, '#') < 0 {
		return raw
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '#' && i+2 < len(raw) && unhex(raw[i+1]) >= 0 && unhex(raw[i+2]) >= 0 {
			out = append(out, byte(unhex(raw[i+1])<<4|unhex(raw[i+2])))
			i += 2
			continue
		}
		out = append(out, raw[i])
	}
	return out
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func (l *pdfLexer) hexString() []byte {
	var out []byte
	hi := -1
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		l.pos++
		if c == '>' {
			break
		}
		v := unhex(c)
		if v < 0 {
			continue
		}
		if hi < 0 {
			hi = v
		} else {
			out = append(out, byte(hi<<4|v))
			hi = -1
		}
	}
	if hi >= 0 {
		out = append(out, byte(hi<<4))
	}
	return out
}

func (l *pdfLexer) literalString() []byte {
	var out []byte
	depth := 1
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		l.pos++
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return out
			}
		case '\\':
			if l.pos >= len(l.data) {
				return out
			}
			c = l.data[l.pos]
			l.pos++
			switch c {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if l.pos < len(l.data) && l.data[l.pos] == '\n' {
					l.pos++
				}
				continue
			case '\n':
				continue
			default:
				if c >= '0' && c <= '7' {
					v := int(c - '0')
					for k := 0; k < 2 && l.pos < len(l.data) && l.data[l.pos] >= '0' && l.data[l.pos] <= '7'; k++ {
						v = v*8 + int(l.data[l.pos]-'0')
						l.pos++
					}
					c = byte(v)
				}
			}
		}
		out = append(out, c)
	}
	return out
}

// pdfParser reads objects from a lexer. refs says whether "n g R" is a
// reference (not in content streams).
type pdfParser struct {
	lex  pdfLexer
	refs bool
}

func (p *pdfParser) object(depth int) pdfObject {
	t := p.lex.next()
	return p.objectFrom(t, depth)
}

func (p *pdfParser) objectFrom(t pdfToken, depth int) pdfObject {
	switch t.kind {
	case tokEOF:
		return nil
	case tokInt:
		if p.refs {
			save := p.lex.pos
			if t2 := p.lex.next(); t2.kind == tokInt {
				if t3 := p.lex.next(); t3.kind == tokKeyword && string(t3.b) == "R" {
					if t.i >= 0 && t.i < 1<<31 && t2.i >= 0 && t2.i < 1<<16 {
						return pdfRef{int(t.i), int(t2.i)}
					}
					return nil
				}
			}
			p.lex.pos = save
		}
		return t.i
	case tokReal:
		return t.f
	case tokString:
		return pdfString(t.b)
	case tokName:
		return pdfName(t.b)
	case tokArrayClose, tokDictClose:
		return pdfCloser{}
	case tokKeyword:
		switch string(t.b) {
		case "true":
			return true
		case "false":
			return false
		case "null":
			return nil
		}
		return pdfKeyword(t.b)
	case tokArrayOpen:
		if depth >= maxPDFNesting {
			return nil
		}
		var arr []pdfObject
		for {
			t := p.lex.next()
			if t.kind == tokEOF || t.kind == tokArrayClose {
				return arr
			}
			v := p.objectFrom(t, depth+1)
			if _, ok := v.(pdfCloser); ok {
				return arr
			}
			arr = append(arr, v)
		}
	case tokDictOpen:
		if depth >= maxPDFNesting {
			return nil
		}
		d := pdfDict{}
		for {
			t := p.lex.next()
			if t.kind == tokEOF || t.kind == tokDictClose {
				return d
			}
			if t.kind != tokName {
				continue
			}
			key := pdfName(t.b)
			v := p.object(depth + 1)
			if _, ok := v.(pdfCloser); ok {
				return d
			}
			if v != nil {
				d[key] = v
			}
		}
	}
	return nil
}

// pdfDoc is one PDF being read.
type pdfDoc struct {
	ctx    context.Context
	data   []byte
	budget int64 // decoded bytes left
	lim    Limits
	steps  int

	xref    map[int]pdfXref
	trailer pdfDict
	scanned map[int]int // object number → offset, from scanning the file

	cache   map[int]pdfObject
	loading map[int]bool
	objstms map[int]*pdfObjStm
	decoded map[*pdfStream][]byte
	fonts   map[pdfRef]*pdfFont

	noEndstreamFrom int // no "endstream" at or after this offset
}

type pdfXref struct {
	inStream bool
	off      int // file offset, or the object stream's number
	idx      int // index within the object stream
}

type pdfObjStm struct {
	data  []byte
	first int
	offs  map[int]int // object number → offset after first
}

func newPDFDoc(ctx context.Context, data []byte, lim Limits) *pdfDoc {
	return &pdfDoc{
		ctx: ctx, data: data, budget: lim.MaxUncompressed, lim: lim,
		xref: map[int]pdfXref{}, cache: map[int]pdfObject{}, loading: map[int]bool{},
		objstms: map[int]*pdfObjStm{}, decoded: map[*pdfStream][]byte{}, fonts: map[pdfRef]*pdfFont{},
		noEndstreamFrom: len(data) + 1,
	}
}

func (d *pdfDoc) fail(err error) { panic(pdfAbort{err}) }

// tick is called in every loop; it polls the context now and then.
func (d *pdfDoc) tick() {
	d.steps++
	if d.steps&0x3ff == 0 && d.ctx.Err() != nil {
		d.fail(context.Cause(d.ctx))
	}
}

func (d *pdfDoc) damaged(what string) *Error {
	return newError(ReasonMalformed, "the PDF is damaged or truncated: %s", what)
}

func (d *pdfDoc) resolve(o pdfObject) pdfObject {
	if r, ok := o.(pdfRef); ok {
		return d.load(r.num)
	}
	return o
}

func (d *pdfDoc) dict(o pdfObject) pdfDict {
	switch v := d.resolve(o).(type) {
	case pdfDict:
		return v
	case *pdfStream:
		return v.dict
	}
	return nil
}

func (d *pdfDoc) array(o pdfObject) []pdfObject {
	a, _ := d.resolve(o).([]pdfObject)
	return a
}

func (d *pdfDoc) num(o pdfObject) (float64, bool) {
	switch v := d.resolve(o).(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func (d *pdfDoc) int(o pdfObject) (int64, bool) {
	switch v := d.resolve(o).(type) {
	case int64:
		return v, true
	case float64:
		if v > -1<<53 && v < 1<<53 {
			return int64(v), true
		}
	}
	return 0, false
}

func (d *pdfDoc) name(o pdfObject) pdfName {
	n, _ := d.resolve(o).(pdfName)
	return n
}

func (d *pdfDoc) load(num int) pdfObject {
	if v, ok := d.cache[num]; ok {
		return v
	}
	if d.loading[num] || len(d.cache) >= maxPDFObjects {
		return nil
	}
	d.tick()
	d.loading[num] = true
	defer delete(d.loading, num)
	var v pdfObject
	e, ok := d.xref[num]
	switch {
	case ok && e.inStream:
		v = d.fromObjStm(e.off, num)
	case ok:
		var good bool
		v, good = d.indirectAt(e.off, num)
		if !good {
			v = d.fromScan(num)
		}
	default:
		v = d.fromScan(num)
	}
	d.cache[num] = v
	return v
}

func (d *pdfDoc) fromScan(num int) pdfObject {
	d.scan()
	if off, ok := d.scanned[num]; ok {
		v, _ := d.indirectAt(off, num)
		return v
	}
	return nil
}

// indirectAt parses "num gen obj ... endobj" at off.
func (d *pdfDoc) indirectAt(off, num int) (pdfObject, bool) {
	if off < 0 || off >= len(d.data) {
		return nil, false
	}
	p := &pdfParser{lex: pdfLexer{data: d.data, pos: off}, refs: true}
	t1, t2, t3 := p.lex.next(), p.lex.next(), p.lex.next()
	if t1.kind != tokInt || t1.i != int64(num) || t2.kind != tokInt || t3.kind != tokKeyword || string(t3.b) != "obj" {
		return nil, false
	}
	v := p.object(0)
	if _, ok := v.(pdfCloser); ok {
		v = nil
	}
	dict, ok := v.(pdfDict)
	if !ok {
		return v, true
	}
	save := p.lex.pos
	if t := p.lex.next(); t.kind != tokKeyword || string(t.b) != "stream" {
		p.lex.pos = save
		return dict, true
	}
	start := p.lex.pos
	if start < len(d.data) && d.data[start] == '\r' {
		start++
	}
	if start < len(d.data) && d.data[start] == '\n' {
		start++
	}
	end := -1
	if n, ok := d.int(dict["Length"]); ok && n >= 0 && n <= int64(len(d.data)-start) {
		end = start + int(n)
		rest := bytes.TrimLeft(d.data[end:min(end+32, len(d.data))], "\r\n\t \x00")
		if !bytes.HasPrefix(rest, []byte("endstream")) {
			end = -1
		}
	}
	if end < 0 {
		end = d.findEndstream(start)
	}
	return &pdfStream{dict: dict, raw: d.data[start:end]}, true
}

func (d *pdfDoc) findEndstream(start int) int {
	if start >= d.noEndstreamFrom {
		return len(d.data)
	}
	i := bytes.Index(d.data[start:], []byte("endstream"))
	if i < 0 {
		d.noEndstreamFrom = start
		return len(d.data)
	}
	end := start + i
	if end > start && d.data[end-1] == '\n' {
		end--
	}
	if end > start && d.data[end-1] == '\r' {
		end--
	}
	return end
}

func (d *pdfDoc) fromObjStm(stmNum, num int) pdfObject {
	os := d.objstms[stmNum]
	if os == nil {
		s, ok := d.load(stmNum).(*pdfStream)
		if !ok {
			return nil
		}
		data := d.decode(s)
		first, _ := d.int(s.dict["First"])
		n, _ := d.int(s.dict["N"])
		if first < 0 || first > int64(len(data)) {
			return nil
		}
		os = &pdfObjStm{data: data, first: int(first), offs: map[int]int{}}
		p := &pdfParser{lex: pdfLexer{data: data[:first]}}
		for i := int64(0); i < n; i++ {
			d.tick()
			a, b := p.lex.next(), p.lex.next()
			if a.kind != tokInt || b.kind != tokInt {
				break
			}
			if _, dup := os.offs[int(a.i)]; !dup && b.i >= 0 && b.i < int64(len(data)) {
				os.offs[int(a.i)] = int(b.i)
			}
		}
		d.objstms[stmNum] = os
	}
	off, ok := os.offs[num]
	if !ok || os.first+off > len(os.data) {
		return nil
	}
	p := &pdfParser{lex: pdfLexer{data: os.data, pos: os.first + off}, refs: true}
	v := p.object(0)
	if _, ok := v.(pdfCloser); ok {
		return nil
	}
	if _, ok := v.(pdfKeyword); ok {
		return nil
	}
	return v
}

// loadXref reads the cross-reference sections from startxref back through
// /Prev; when that fails it rebuilds the table by scanning.
func (d *pdfDoc) loadXref() {
	tail := d.data[max(0, len(d.data)-4096):]
	i := bytes.LastIndex(tail, []byte("startxref"))
	ok := false
	if i >= 0 {
		l := pdfLexer{data: tail, pos: i + len("startxref")}
		if t := l.next(); t.kind == tokInt {
			ok = d.readXrefChain(int(t.i))
		}
	}
	if !ok || d.catalog() == nil {
		d.rebuild()
	}
}

func (d *pdfDoc) readXrefChain(off int) bool {
	seen := map[int]bool{}
	for off > 0 && off < len(d.data) && !seen[off] && len(seen) < 1000 {
		d.tick()
		seen[off] = true
		p := &pdfParser{lex: pdfLexer{data: d.data, pos: off}, refs: true}
		t := p.lex.next()
		var trailer pdfDict
		switch {
		case t.kind == tokKeyword && string(t.b) == "xref":
			trailer = d.readXrefTable(p)
			if x, ok := trailer["XRefStm"].(int64); ok {
				d.readXrefStream(int(x))
			}
		case t.kind == tokInt:
			trailer = d.readXrefStream(off)
		}
		if trailer == nil {
			return d.trailer != nil
		}
		if d.trailer == nil {
			d.trailer = trailer
		}
		prev, ok := trailer["Prev"].(int64)
		if !ok {
			break
		}
		off = int(prev)
	}
	return d.trailer != nil
}

func (d *pdfDoc) addXref(num int, e pdfXref) {
	if num < 0 {
		return
	}
	if _, ok := d.xref[num]; ok {
		return // a later section already said where it is
	}
	if len(d.xref) >= maxPDFObjects {
		d.fail(newError(ReasonTooLarge, "the PDF has more than %d objects", maxPDFObjects))
	}
	d.xref[num] = e
}

func (d *pdfDoc) readXrefTable(p *pdfParser) pdfDict {
	for {
		d.tick()
		t := p.lex.next()
		if t.kind == tokKeyword && string(t.b) == "trailer" {
			dict, _ := p.object(0).(pdfDict)
			return dict
		}
		if t.kind != tokInt {
			return nil
		}
		count := p.lex.next()
		if count.kind != tokInt {
			return nil
		}
		for k := int64(0); k < count.i; k++ {
			d.tick()
			off, gen, kind := p.lex.next(), p.lex.next(), p.lex.next()
			if off.kind != tokInt || gen.kind != tokInt || kind.kind != tokKeyword {
				return nil
			}
			if string(kind.b) == "n" && off.i > 0 && off.i < int64(len(d.data)) {
				d.addXref(int(t.i+k), pdfXref{off: int(off.i)})
			} else if string(kind.b) == "f" {
				d.addXref(int(t.i+k), pdfXref{off: -1})
			}
		}
	}
}

// readXrefStream reads the cross-reference stream object at off and
// returns its dictionary (the trailer of that section).
func (d *pdfDoc) readXrefStream(off int) pdfDict {
	p := &pdfParser{lex: pdfLexer{data: d.data, pos: off}}
	t := p.lex.next()
	if t.kind != tokInt {
		return nil
	}
	v, ok := d.indirectAt(off, int(t.i))
	s, isStream := v.(*pdfStream)
	if !ok || !isStream || d.name(s.dict["Type"]) != "XRef" {
		return nil
	}
	var w [3]int
	wa, _ := s.dict["W"].([]pdfObject)
	if len(wa) < 3 {
		return nil
	}
	total := 0
	for i := range 3 {
		n, ok := wa[i].(int64)
		if !ok || n < 0 || n > 8 {
			return nil
		}
		w[i] = int(n)
		total += w[i]
	}
	if total == 0 {
		return nil
	}
	data := d.decode(s)
	size, _ := s.dict["Size"].(int64)
	index, _ := s.dict["Index"].([]pdfObject)
	if len(index) == 0 {
		index = []pdfObject{int64(0), size}
	}
	pos := 0
	for i := 0; i+1 < len(index); i += 2 {
		start, ok1 := index[i].(int64)
		count, ok2 := index[i+1].(int64)
		if !ok1 || !ok2 || start < 0 {
			break
		}
		for k := int64(0); k < count && pos+total <= len(data); k++ {
			d.tick()
			f := func(j int) int {
				v := 0
				for _, c := range data[pos : pos+w[j]] {
					v = v<<8 | int(c)
				}
				pos += w[j]
				return v
			}
			typ := 1
			if w[0] > 0 {
				typ = f(0)
			}
			a, b := f(1), f(2)
			num := int(start + k)
			switch typ {
			case 0:
				d.addXref(num, pdfXref{off: -1})
			case 1:
				d.addXref(num, pdfXref{off: a})
			case 2:
				d.addXref(num, pdfXref{inStream: true, off: a, idx: b})
			}
		}
	}
	return s.dict
}

// scan indexes every "num gen obj" in the file, later ones winning, for
// objects the cross-reference table misplaces or misses.
func (d *pdfDoc) scan() {
	if d.scanned != nil {
		return
	}
	d.scanned = map[int]int{}
	data := d.data
	for i := 0; ; {
		d.tick()
		j := bytes.Index(data[i:], []byte("obj"))
		if j < 0 {
			return
		}
		at := i + j
		i = at + 3
		if at+3 < len(data) && !isPDFSpace(data[at+3]) && !isPDFDelim(data[at+3]) {
			continue
		}
		// Walk back over "num gen ".
		k := at - 1
		for k >= 0 && isPDFSpace(data[k]) {
			k--
		}
		genEnd := k + 1
		for k >= 0 && data[k] >= '0' && data[k] <= '9' {
			k--
		}
		if k+1 == genEnd || k < 0 || !isPDFSpace(data[k]) {
			continue
		}
		for k >= 0 && isPDFSpace(data[k]) {
			k--
		}
		numEnd := k + 1
		for k >= 0 && data[k] >= '0' && data[k] <= '9' && numEnd-k <= 10 {
			k--
		}
		if k+1 == numEnd || (k >= 0 && !isPDFSpace(data[k]) && !isPDFDelim(data[k])) {
			continue
		}
		num, err := strconv.Atoi(string(data[k+1 : numEnd]))
		if err != nil {
			continue
		}
		if _, ok := d.scanned[num]; !ok && len(d.scanned) >= maxPDFObjects {
			d.fail(newError(ReasonTooLarge, "the PDF has more than %d objects", maxPDFObjects))
		}
		d.scanned[num] = k + 1
	}
}

// rebuild replaces the cross-reference table with one found by scanning,
// and finds the trailer (or the catalog) the same way.
func (d *pdfDoc) rebuild() {
	d.scan()
	d.xref = map[int]pdfXref{}
	d.cache = map[int]pdfObject{}
	for num, off := range d.scanned {
		d.xref[num] = pdfXref{off: off}
	}
	// Objects packed in object streams.
	for num := range d.scanned {
		d.tick()
		s, ok := d.load(num).(*pdfStream)
		if !ok || d.name(s.dict["Type"]) != "ObjStm" {
			continue
		}
		d.fromObjStm(num, -1)
		if os := d.objstms[num]; os != nil {
			for inner := range os.offs {
				d.addXref(inner, pdfXref{inStream: true, off: num})
			}
		}
	}
	var trailer pdfDict
	for i := 0; ; {
		d.tick()
		j := bytes.Index(d.data[i:], []byte("trailer"))
		if j < 0 {
			break
		}
		p := &pdfParser{lex: pdfLexer{data: d.data, pos: i + j + len("trailer")}, refs: true}
		if t, ok := p.object(0).(pdfDict); ok && t["Root"] != nil {
			trailer = t
		}
		i += j + len("trailer")
	}
	if trailer == nil {
		for num := range d.xref {
			d.tick()
			obj := d.load(num)
			if s, ok := obj.(*pdfStream); ok && d.name(s.dict["Type"]) == "XRef" && s.dict["Root"] != nil {
				trailer = s.dict
				break
			}
			if dict, ok := obj.(pdfDict); ok && d.name(dict["Type"]) == "Catalog" {
				trailer = pdfDict{"Root": pdfRef{num: num}}
			}
		}
	}
	if trailer != nil {
		d.trailer = trailer
	}
	if d.trailer == nil {
		d.fail(d.damaged("no document catalog was found"))
	}
}

func (d *pdfDoc) catalog() pdfDict {
	if d.trailer == nil {
		return nil
	}
	c := d.dict(d.trailer["Root"])
	if c == nil || d.dict(c["Pages"]) == nil {
		return nil
	}
	return c
}
