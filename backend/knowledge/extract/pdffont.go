package extract

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Fonts turn the bytes a PDF shows into text: the font's ToUnicode CMap
// first, then, for simple fonts, its encoding (a base encoding with glyph
// name differences). Widths place the end of shown text, which decides
// where spaces go.

type pdfFont struct {
	composite bool
	toUnicode *pdfCMap
	ucs2      bool        // composite font whose encoding is UTF-16 already
	enc       [256]string // simple fonts: code → text

	firstChar int
	widths    []float64 // simple fonts, from firstChar, in 1/1000 em
	missing   float64
	dw        float64 // composite fonts: default width
	cidWidths []cidWidth
}

type cidWidth struct {
	lo, hi int
	w      float64   // one width for the range, or
	ws     []float64 // one per code from lo
}

// pdfCMap is a parsed ToUnicode CMap. Ranges are kept as ranges, never
// expanded, so "<0000> <FFFFFFFF>" costs nothing.
type pdfCMap struct {
	space  []codeRange
	chars  map[uint64]string // n<<32 | code
	ranges [5][]bfRange      // by code length in bytes
}

type codeRange struct {
	n      int
	lo, hi uint32
}

type bfRange struct {
	lo, hi uint32
	dst    []uint16 // UTF-16 of lo; later codes add to the last unit
	dsts   []string // or one string per code
}

func (d *pdfDoc) font(o pdfObject) *pdfFont {
	if r, ok := o.(pdfRef); ok {
		if f, ok := d.fonts[r]; ok {
			return f
		}
		f := d.buildFont(d.dict(o))
		if len(d.fonts) < maxPDFObjects {
			d.fonts[r] = f
		}
		return f
	}
	return d.buildFont(d.dict(o))
}

func (d *pdfDoc) buildFont(fd pdfDict) *pdfFont {
	f := &pdfFont{missing: 500, dw: 1000}
	if fd == nil {
		f.enc = winAnsi()
		return f
	}
	if s, ok := d.resolve(fd["ToUnicode"]).(*pdfStream); ok {
		f.toUnicode = d.parseCMap(d.decode(s))
	}
	if d.name(fd["Subtype"]) == "Type0" {
		f.composite = true
		enc := string(d.name(fd["Encoding"]))
		f.ucs2 = strings.Contains(enc, "UCS2") || strings.Contains(enc, "UTF16")
		if desc := d.array(fd["DescendantFonts"]); len(desc) > 0 {
			cid := d.dict(desc[0])
			if v, ok := d.num(cid["DW"]); ok {
				f.dw = v
			}
			f.cidWidths = d.cidWidths(d.array(cid["W"]))
		}
		return f
	}
	f.enc = d.simpleEncoding(fd)
	scale := 1.0
	if d.name(fd["Subtype"]) == "Type3" {
		if m := d.array(fd["FontMatrix"]); len(m) > 0 {
			if v, ok := d.num(m[0]); ok {
				scale = v * 1000
			}
		}
	}
	if fc, ok := d.int(fd["FirstChar"]); ok && fc >= 0 && fc < 256 {
		f.firstChar = int(fc)
	}
	for _, w := range d.array(fd["Widths"]) {
		if len(f.widths) >= 256 {
			break
		}
		v, _ := d.num(w)
		f.widths = append(f.widths, v*scale)
	}
	if len(f.widths) > 0 {
		f.missing = 0
	}
	if v, ok := d.num(d.dict(fd["FontDescriptor"])["MissingWidth"]); ok {
		f.missing = v
	}
	return f
}

func (d *pdfDoc) cidWidths(w []pdfObject) []cidWidth {
	var out []cidWidth
	for i := 0; i < len(w); {
		d.tick()
		first, ok := d.int(w[i])
		if !ok || i+1 >= len(w) {
			break
		}
		if arr, ok := d.resolve(w[i+1]).([]pdfObject); ok {
			ws := make([]float64, 0, min(len(arr), 1<<16))
			for _, x := range arr[:min(len(arr), 1<<16)] {
				v, _ := d.num(x)
				ws = append(ws, v)
			}
			out = append(out, cidWidth{lo: int(first), hi: int(first) + len(ws) - 1, ws: ws})
			i += 2
			continue
		}
		last, ok1 := d.int(w[i+1])
		if i+2 >= len(w) {
			break
		}
		v, ok2 := d.num(w[i+2])
		if ok1 && ok2 && last >= first {
			out = append(out, cidWidth{lo: int(first), hi: int(min(last, 1<<31-1)), w: v})
		}
		i += 3
	}
	slices.SortStableFunc(out, func(a, b cidWidth) int { return a.lo - b.lo })
	return out
}

func (f *pdfFont) width(code int) float64 {
	if !f.composite {
		if i := code - f.firstChar; i >= 0 && i < len(f.widths) {
			return f.widths[i]
		}
		return f.missing
	}
	i, _ := slices.BinarySearchFunc(f.cidWidths, code, func(c cidWidth, code int) int {
		if c.lo <= code {
			return -1
		}
		return 1
	})
	for j := i - 1; j >= 0 && j >= i-4; j-- {
		c := f.cidWidths[j]
		if code >= c.lo && code <= c.hi {
			if c.ws != nil {
				return c.ws[code-c.lo]
			}
			return c.w
		}
	}
	return f.dw
}

// shown is what one string of a text-showing operator amounts to.
type shown struct {
	text   string
	width  float64 // sum of glyph widths, 1/1000 em
	glyphs int
	spaces int // single-byte code 32, which word spacing applies to
}

func (f *pdfFont) decode(s []byte) shown {
	var out shown
	var sb strings.Builder
	for i := 0; i < len(s); {
		n := 1
		if f.composite {
			n = f.codeLen(s[i:])
		}
		code := 0
		for _, c := range s[i : i+n] {
			code = code<<8 | int(c)
		}
		i += n
		out.glyphs++
		out.width += f.width(code)
		if n == 1 && code == 32 {
			out.spaces++
		}
		if f.toUnicode != nil {
			if t, ok := f.toUnicode.lookup(n, uint32(code)); ok {
				sb.WriteString(t)
				continue
			}
		}
		switch {
		case !f.composite:
			sb.WriteString(f.enc[code])
		case f.ucs2 && n == 2:
			r := rune(code)
			if utf16.IsSurrogate(r) {
				r = utf8.RuneError
			}
			sb.WriteRune(r)
		}
	}
	out.text = sb.String()
	return out
}

// codeLen is the byte length of the next code of a composite font: the
// CMap's codespace ranges decide, two bytes otherwise.
func (f *pdfFont) codeLen(s []byte) int {
	if m := f.toUnicode; m != nil && len(m.space) > 0 {
		for n := 1; n <= 4 && n <= len(s); n++ {
			code := uint32(0)
			for _, c := range s[:n] {
				code = code<<8 | uint32(c)
			}
			for _, r := range m.space {
				if r.n == n && code >= r.lo && code <= r.hi {
					return n
				}
			}
		}
	}
	return min(2, len(s))
}

func (m *pdfCMap) lookup(n int, code uint32) (string, bool) {
	if t, ok := m.chars[uint64(n)<<32|uint64(code)]; ok {
		return t, true
	}
	rs := m.ranges[n]
	i, _ := slices.BinarySearchFunc(rs, code, func(r bfRange, code uint32) int {
		if r.lo <= code {
			return -1
		}
		return 1
	})
	for j := i - 1; j >= 0 && j >= i-8; j-- {
		r := rs[j]
		if code < r.lo || code > r.hi {
			continue
		}
		off := code - r.lo
		if r.dsts != nil {
			if int(off) < len(r.dsts) {
				return r.dsts[off], true
			}
			return "", false
		}
		if len(r.dst) == 0 {
			return "", false
		}
		u := slices.Clone(r.dst)
		u[len(u)-1] += uint16(off)
		return string(utf16.Decode(u)), true
	}
	return "", false
}

// parseCMap reads the codespace ranges and bfchar/bfrange mappings of a
// ToUnicode CMap.
func (d *pdfDoc) parseCMap(data []byte) *pdfCMap {
	m := &pdfCMap{chars: map[uint64]string{}}
	p := &pdfParser{lex: pdfLexer{data: data}}
	str := func() ([]byte, bool) {
		t := p.lex.next()
		return t.b, t.kind == tokString && len(t.b) >= 1 && len(t.b) <= 4
	}
	code := func(b []byte) uint32 {
		v := uint32(0)
		for _, c := range b {
			v = v<<8 | uint32(c)
		}
		return v
	}
	entries := 0
	for {
		d.tick()
		t := p.lex.next()
		if t.kind == tokEOF {
			break
		}
		if t.kind != tokKeyword {
			continue
		}
		switch string(t.b) {
		case "begincodespacerange":
			for entries < maxPDFObjects {
				entries++
				save := p.lex.pos
				lo, ok1 := str()
				if !ok1 {
					p.lex.pos = save
					break
				}
				hi, ok2 := str()
				if ok2 && len(lo) == len(hi) {
					m.space = append(m.space, codeRange{n: len(lo), lo: code(lo), hi: code(hi)})
				}
			}
		case "beginbfchar":
			for entries < maxPDFObjects {
				entries++
				save := p.lex.pos
				src, ok := str()
				if !ok {
					p.lex.pos = save
					break
				}
				dst := p.lex.next()
				switch dst.kind {
				case tokString:
					m.chars[uint64(len(src))<<32|uint64(code(src))] = utf16BE(dst.b)
				case tokName:
					m.chars[uint64(len(src))<<32|uint64(code(src))] = glyphText(string(dst.b))
				}
			}
		case "beginbfrange":
			for entries < maxPDFObjects {
				entries++
				save := p.lex.pos
				lo, ok1 := str()
				if !ok1 {
					p.lex.pos = save
					break
				}
				hi, ok2 := str()
				dst := p.object(0)
				if !ok2 || len(lo) != len(hi) || code(lo) > code(hi) {
					continue
				}
				r := bfRange{lo: code(lo), hi: code(hi)}
				switch v := dst.(type) {
				case pdfString:
					r.dst = utf16Units([]byte(v))
				case []pdfObject:
					for _, x := range v[:min(len(v), int(r.hi-r.lo)+1)] {
						s, _ := x.(pdfString)
						r.dsts = append(r.dsts, utf16BE([]byte(s)))
					}
					if r.dsts == nil {
						continue
					}
				default:
					continue
				}
				m.ranges[len(lo)] = append(m.ranges[len(lo)], r)
			}
		}
	}
	for n := range m.ranges {
		slices.SortStableFunc(m.ranges[n], func(a, b bfRange) int {
			switch {
			case a.lo < b.lo:
				return -1
			case a.lo > b.lo:
				return 1
			}
			return 0
		})
	}
	return m
}

func utf16Units(b []byte) []uint16 {
	if len(b)%2 == 1 {
		b = append([]byte{0}, b...)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return u
}

func utf16BE(b []byte) string { return string(utf16.Decode(utf16Units(b))) }

// simpleEncoding builds the code → text table of a simple font.
func (d *pdfDoc) simpleEncoding(fd pdfDict) [256]string {
	enc := winAnsi()
	var diffs []pdfObject
	switch e := d.resolve(fd["Encoding"]).(type) {
	case pdfName:
		enc = namedEncoding(e)
	case pdfDict:
		if base, ok := d.resolve(e["BaseEncoding"]).(pdfName); ok {
			enc = namedEncoding(base)
		}
		diffs = d.array(e["Differences"])
	}
	code := -1
	for _, x := range diffs {
		switch v := d.resolve(x).(type) {
		case int64:
			code = int(v)
		case float64:
			code = int(v)
		case pdfName:
			if code >= 0 && code < 256 {
				enc[code] = glyphText(string(v))
			}
			code++
		}
	}
	return enc
}

func namedEncoding(name pdfName) [256]string {
	switch name {
	case "MacRomanEncoding":
		return charmapEncoding(charmap.Macintosh)
	case "StandardEncoding":
		enc := winAnsi()
		enc['\''], enc['`'] = "’", "‘"
		return enc
	}
	return winAnsi()
}

func winAnsi() [256]string { return charmapEncoding(charmap.Windows1252) }

func charmapEncoding(cm *charmap.Charmap) [256]string {
	var enc [256]string
	for i := range 256 {
		if r := cm.DecodeByte(byte(i)); r != utf8.RuneError && r >= 0x20 {
			enc[i] = string(r)
		}
	}
	return enc
}

// pdfDocEncoding differs from Latin-1 in 0x18–0x1F and 0x80–0xA0.
var pdfDocHigh = [...]rune{
	0x2022, 0x2020, 0x2021, 0x2026, 0x2014, 0x2013, 0x0192, 0x2044, 0x2039, 0x203A, 0x2212, 0x2030,
	0x201E, 0x201C, 0x201D, 0x2018, 0x2019, 0x201A, 0x2122, 0xFB01, 0xFB02, 0x0141, 0x0152, 0x0160,
	0x0178, 0x017D, 0x0131, 0x0142, 0x0153, 0x0161, 0x017E, utf8.RuneError, 0x20AC,
}

// textString decodes a PDF text string (document information): UTF-16BE or
// UTF-8 with a byte order mark, else PDFDocEncoding.
func textString(s pdfString) string {
	b := []byte(s)
	switch {
	case len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF:
		return utf16BE(b[2:])
	case len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF:
		return strings.ToValidUTF8(string(b[3:]), "\uFFFD")
	}
	var sb strings.Builder
	for _, c := range b {
		if c >= 0x80 && c <= 0xA0 {
			sb.WriteRune(pdfDocHigh[c-0x80])
		} else {
			sb.WriteRune(rune(c))
		}
	}
	return sb.String()
}

// glyphText maps an Adobe glyph name to text: the standard names of Latin
// text, uniXXXX and uXXXX[XX] names, "f_f_i" ligatures and ".suffix"
// variants. Unknown names (subset names like g123) give "".
func glyphText(name string) string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		name = name[:i]
	}
	if strings.Contains(name, "_") {
		var sb strings.Builder
		for part := range strings.SplitSeq(name, "_") {
			sb.WriteString(glyphText(part))
		}
		return sb.String()
	}
	if r, ok := glyphNames[name]; ok {
		return string(r)
	}
	if hex, ok := strings.CutPrefix(name, "uni"); ok && len(hex) >= 4 && len(hex)%4 == 0 {
		var u []uint16
		for i := 0; i < len(hex); i += 4 {
			v, err := strconv.ParseUint(hex[i:i+4], 16, 16)
			if err != nil {
				return ""
			}
			u = append(u, uint16(v))
		}
		return string(utf16.Decode(u))
	}
	if hex, ok := strings.CutPrefix(name, "u"); ok && len(hex) >= 4 && len(hex) <= 6 {
		if v, err := strconv.ParseUint(hex, 16, 32); err == nil && utf8.ValidRune(rune(v)) {
			return string(rune(v))
		}
	}
	return ""
}

var glyphNames = func() map[string]rune {
	m := map[string]rune{}
	ascii := strings.Fields(`space exclam quotedbl numbersign dollar percent ampersand quotesingle
		parenleft parenright asterisk plus comma hyphen period slash zero one two three four five six
		seven eight nine colon semicolon less equal greater question at A B C D E F G H I J K L M N O P
		Q R S T U V W X Y Z bracketleft backslash bracketright asciicircum underscore grave a b c d e f
		g h i j k l m n o p q r s t u v w x y z braceleft bar braceright asciitilde`)
	for i, n := range ascii {
		m[n] = rune(0x20 + i)
	}
	latin1 := strings.Fields(`nbspace exclamdown cent sterling currency yen brokenbar section dieresis
		copyright ordfeminine guillemotleft logicalnot sfthyphen registered macron degree plusminus
		twosuperior threesuperior acute mu paragraph periodcentered cedilla onesuperior ordmasculine
		guillemotright onequarter onehalf threequarters questiondown Agrave Aacute Acircumflex Atilde
		Adieresis Aring AE Ccedilla Egrave Eacute Ecircumflex Edieresis Igrave Iacute Icircumflex
		Idieresis Eth Ntilde Ograve Oacute Ocircumflex Otilde Odieresis multiply Oslash Ugrave Uacute
		Ucircumflex Udieresis Yacute Thorn germandbls agrave aacute acircumflex atilde adieresis aring
		ae ccedilla egrave eacute ecircumflex edieresis igrave iacute icircumflex idieresis eth ntilde
		ograve oacute ocircumflex otilde odieresis divide oslash ugrave uacute ucircumflex udieresis
		yacute thorn ydieresis`)
	for i, n := range latin1 {
		m[n] = rune(0xA0 + i)
	}
	for n, r := range map[string]rune{
		"Euro": 0x20AC, "quotesinglbase": 0x201A, "florin": 0x0192, "quotedblbase": 0x201E,
		"ellipsis": 0x2026, "dagger": 0x2020, "daggerdbl": 0x2021, "circumflex": 0x02C6,
		"perthousand": 0x2030, "Scaron": 0x0160, "guilsinglleft": 0x2039, "OE": 0x0152,
		"Zcaron": 0x017D, "quoteleft": 0x2018, "quoteright": 0x2019, "quotedblleft": 0x201C,
		"quotedblright": 0x201D, "bullet": 0x2022, "endash": 0x2013, "emdash": 0x2014,
		"tilde": 0x02DC, "trademark": 0x2122, "scaron": 0x0161, "guilsinglright": 0x203A,
		"oe": 0x0153, "zcaron": 0x017E, "Ydieresis": 0x0178, "fi": 0xFB01, "fl": 0xFB02,
		"ff": 0xFB00, "ffi": 0xFB03, "ffl": 0xFB04, "dotlessi": 0x0131, "Lslash": 0x0141,
		"lslash": 0x0142, "minus": 0x2212, "fraction": 0x2044, "space.alt": 0x20,
		"nonbreakingspace": 0xA0, "ring": 0x02DA, "caron": 0x02C7, "breve": 0x02D8,
		"dotaccent": 0x02D9, "hungarumlaut": 0x02DD, "ogonek": 0x02DB, "middot": 0xB7,
		"arrowright": 0x2192, "arrowleft": 0x2190, "arrowup": 0x2191, "arrowdown": 0x2193,
		"checkmark": 0x2713, "degree": 0xB0, "mu1": 0xB5, "Omega": 0x2126, "Delta": 0x2206,
		"approxequal": 0x2248, "notequal": 0x2260, "lessequal": 0x2264, "greaterequal": 0x2265,
		"infinity": 0x221E, "summation": 0x2211, "product": 0x220F, "radical": 0x221A,
		"partialdiff": 0x2202, "integral": 0x222B, "lozenge": 0x25CA, "pi": 0x03C0,
		"Gbreve": 0x011E, "gbreve": 0x011F, "Idotaccent": 0x0130, "Scedilla": 0x015E,
		"scedilla": 0x015F, "Cacute": 0x0106, "cacute": 0x0107, "Ccaron": 0x010C, "ccaron": 0x010D,
		"Dcroat": 0x0110, "dcroat": 0x0111, "Ecaron": 0x011A, "ecaron": 0x011B, "Eogonek": 0x0118,
		"eogonek": 0x0119, "Aogonek": 0x0104, "aogonek": 0x0105, "Nacute": 0x0143, "nacute": 0x0144,
		"Ncaron": 0x0147, "ncaron": 0x0148, "Ohungarumlaut": 0x0150, "ohungarumlaut": 0x0151,
		"Rcaron": 0x0158, "rcaron": 0x0159, "Sacute": 0x015A, "sacute": 0x015B, "Tcaron": 0x0164,
		"tcaron": 0x0165, "Uring": 0x016E, "uring": 0x016F, "Uhungarumlaut": 0x0170,
		"uhungarumlaut": 0x0171, "Zacute": 0x0179, "zacute": 0x017A, "Zdotaccent": 0x017B,
		"zdotaccent": 0x017C, "Amacron": 0x0100, "amacron": 0x0101, "Emacron": 0x0112,
		"emacron": 0x0113, "Imacron": 0x012A, "imacron": 0x012B, "Omacron": 0x014C,
		"omacron": 0x014D, "Umacron": 0x016A, "umacron": 0x016B,
	} {
		m[n] = r
	}
	return m
}()
