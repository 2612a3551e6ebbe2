package extract

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"io"
)

// decode returns the decoded content of s, or nil when a filter is not one
// that carries text (images) or the data is unreadable. Each stream is
// decoded once; every byte produced counts against the budget, and passing
// it aborts extraction.
func (d *pdfDoc) decode(s *pdfStream) []byte {
	if out, ok := d.decoded[s]; ok {
		return out
	}
	d.decoded[s] = nil // a stream that refers to itself decodes to nothing
	data := s.raw
	filters := d.resolve(s.dict["Filter"])
	params := d.resolve(s.dict["DecodeParms"])
	var fl, ps []pdfObject
	switch f := filters.(type) {
	case pdfName:
		fl, ps = []pdfObject{f}, []pdfObject{params}
	case []pdfObject:
		fl = f
		ps, _ = params.([]pdfObject)
	}
	for i, f := range fl {
		var parm pdfDict
		if i < len(ps) {
			parm = d.dict(ps[i])
		}
		data = d.applyFilter(d.name(f), parm, data)
		if data == nil {
			break
		}
	}
	d.decoded[s] = data
	return data
}

// boundedBuffer refuses to grow past the document's decode budget.
type boundedBuffer struct {
	d   *pdfDoc
	buf bytes.Buffer
}

var errBudget = errors.New("decode budget exhausted")

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if int64(len(p)) > b.d.budget {
		return 0, errBudget
	}
	b.d.budget -= int64(len(p))
	b.d.tick()
	return b.buf.Write(p)
}

func (b *boundedBuffer) WriteByte(c byte) error {
	_, err := b.Write([]byte{c})
	return err
}

func (d *pdfDoc) errBomb() *Error {
	return newError(ReasonTooLarge, "the PDF's compressed content expands beyond %s (compression bomb?)", formatSize(d.lim.MaxUncompressed))
}

// produce runs fn into a bounded buffer; a decoding error keeps what was
// decoded before it (damaged streams often hold readable text), the budget
// running out aborts.
func (d *pdfDoc) produce(fn func(w *boundedBuffer) error) []byte {
	w := &boundedBuffer{d: d}
	if err := fn(w); errors.Is(err, errBudget) {
		d.fail(d.errBomb())
	}
	return w.buf.Bytes()
}

func (d *pdfDoc) applyFilter(name pdfName, parm pdfDict, in []byte) []byte {
	switch name {
	case "FlateDecode", "Fl":
		out := d.produce(func(w *boundedBuffer) error {
			var r io.Reader
			zr, err := zlib.NewReader(bytes.NewReader(in))
			if err != nil {
				r = flate.NewReader(bytes.NewReader(in))
			} else {
				r = zr
			}
			_, err = io.Copy(w, r)
			return err
		})
		return d.predict(parm, out)
	case "LZWDecode", "LZW":
		early := int64(1)
		if v, ok := d.int(parm["EarlyChange"]); ok {
			early = v
		}
		out := d.produce(func(w *boundedBuffer) error { return lzwDecode(w, in, early != 0) })
		return d.predict(parm, out)
	case "ASCIIHexDecode", "AHx":
		return d.produce(func(w *boundedBuffer) error {
			l := pdfLexer{data: in}
			_, err := w.Write(l.hexString())
			return err
		})
	case "ASCII85Decode", "A85":
		return d.produce(func(w *boundedBuffer) error { return ascii85Decode(w, in) })
	case "RunLengthDecode", "RL":
		return d.produce(func(w *boundedBuffer) error { return runLengthDecode(w, in) })
	}
	return nil // images (DCT, JPX, CCITT, JBIG2), Crypt, unknown
}

// predict undoes a PNG or TIFF predictor.
func (d *pdfDoc) predict(parm pdfDict, data []byte) []byte {
	pred, _ := d.int(parm["Predictor"])
	if pred < 2 {
		return data
	}
	colors, bpc, columns := int64(1), int64(8), int64(1)
	if v, ok := d.int(parm["Colors"]); ok {
		colors = v
	}
	if v, ok := d.int(parm["BitsPerComponent"]); ok {
		bpc = v
	}
	if v, ok := d.int(parm["Columns"]); ok {
		columns = v
	}
	if colors < 1 || colors > 32 || bpc < 1 || bpc > 16 || columns < 1 || columns > 1<<20 {
		return nil
	}
	bpp := int(max((colors*bpc+7)/8, 1))
	row := int((colors*bpc*columns + 7) / 8)
	if row > 1<<20 {
		return nil
	}
	if pred == 2 {
		if bpc != 8 {
			return data
		}
		for start := 0; start+row <= len(data); start += row {
			for i := start + bpp; i < start+row; i++ {
				data[i] += data[i-bpp]
			}
		}
		return data
	}
	// PNG: each row starts with its filter type.
	return d.produce(func(w *boundedBuffer) error {
		prev := make([]byte, row)
		cur := make([]byte, row)
		for pos := 0; pos+1 <= len(data); pos += row + 1 {
			ft := data[pos]
			n := copy(cur, data[pos+1:min(pos+1+row, len(data))])
			clear(cur[n:])
			for i := range row {
				var a, c byte
				if i >= bpp {
					a, c = cur[i-bpp], prev[i-bpp]
				}
				b := prev[i]
				switch ft {
				case 1:
					cur[i] += a
				case 2:
					cur[i] += b
				case 3:
					cur[i] += byte((int(a) + int(b)) / 2)
				case 4:
					cur[i] += paeth(a, b, c)
				}
			}
			if _, err := w.Write(cur); err != nil {
				return err
			}
			prev, cur = cur, prev
		}
		return nil
	})
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func ascii85Decode(w *boundedBuffer, in []byte) error {
	var group [5]byte
	n := 0
	flush := func(count int) error {
		for i := count; i < 5; i++ {
			group[i] = 'u'
		}
		var v uint32
		for _, c := range group {
			v = v*85 + uint32(c-'!')
		}
		out := []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		_, err := w.Write(out[:count-1])
		return err
	}
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c == '~':
			i = len(in)
		case c == 'z' && n == 0:
			if _, err := w.Write([]byte{0, 0, 0, 0}); err != nil {
				return err
			}
		case c >= '!' && c <= 'u':
			group[n] = c
			n++
			if n == 5 {
				if err := flush(5); err != nil {
					return err
				}
				n = 0
			}
		}
	}
	if n > 1 {
		return flush(n)
	}
	return nil
}

func runLengthDecode(w *boundedBuffer, in []byte) error {
	for i := 0; i < len(in); {
		n := int(in[i])
		i++
		switch {
		case n == 128:
			return nil
		case n < 128:
			end := min(i+n+1, len(in))
			if _, err := w.Write(in[i:end]); err != nil {
				return err
			}
			i = end
		default:
			if i >= len(in) {
				return nil
			}
			if _, err := w.Write(bytes.Repeat(in[i:i+1], 257-n)); err != nil {
				return err
			}
			i++
		}
	}
	return nil
}

// lzwDecode decodes PDF's LZW (9–12 bit codes, most significant bit first;
// early change shifts the code width one code sooner).
func lzwDecode(w *boundedBuffer, in []byte, early bool) error {
	const clearCode, eod = 256, 257
	type entry struct {
		prefix int
		c      byte
		len    int
	}
	table := make([]entry, 4096)
	for i := range 256 {
		table[i] = entry{prefix: -1, c: byte(i), len: 1}
	}
	next, width, prev := 258, 9, -1
	var bits uint32
	nbits, pos := 0, 0
	buf := make([]byte, 0, 4096)
	emit := func(code int) (byte, error) {
		buf = buf[:table[code].len]
		for i, c := len(buf)-1, code; i >= 0; i-- {
			buf[i] = table[c].c
			c = table[c].prefix
		}
		_, err := w.Write(buf)
		return buf[0], err
	}
	for {
		for nbits < width && pos < len(in) {
			bits = bits<<8 | uint32(in[pos])
			pos++
			nbits += 8
		}
		if nbits < width {
			return nil
		}
		code := int(bits>>(nbits-width)) & (1<<width - 1)
		nbits -= width
		switch {
		case code == clearCode:
			next, width, prev = 258, 9, -1
			continue
		case code == eod:
			return nil
		case prev < 0:
			if code > 255 {
				return nil
			}
			if _, err := emit(code); err != nil {
				return err
			}
			prev = code
			continue
		}
		var first byte
		var err error
		if code < next {
			first, err = emit(code)
			if err != nil {
				return err
			}
		} else if code == next {
			// The code being defined: prev's string plus its own first byte.
			pf := prev
			for table[pf].prefix >= 0 {
				pf = table[pf].prefix
			}
			if next < 4096 {
				table[next] = entry{prefix: prev, c: table[pf].c, len: table[prev].len + 1}
			}
			if _, err = emit(code); err != nil {
				return err
			}
			prev = code
			next++
			width = lzwWidth(next, early)
			continue
		} else {
			return nil
		}
		if next < 4096 {
			table[next] = entry{prefix: prev, c: first, len: table[prev].len + 1}
			next++
		}
		width = lzwWidth(next, early)
		prev = code
	}
}

func lzwWidth(next int, early bool) int {
	e := 0
	if early {
		e = 1
	}
	switch {
	case next+e >= 2048:
		return 12
	case next+e >= 1024:
		return 11
	case next+e >= 512:
		return 10
	}
	return 9
}
