package extract

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// DOCX is a ZIP archive of XML parts. Only word/document.xml, word/styles.xml
// and docProps/core.xml are read, each decompressed here (not by
// archive/zip) so that both the size an entry declares and the bytes it
// really expands to are checked against Limits.MaxUncompressed as they are
// read. Archives inside the archive are never opened.

// maxZipEntries bounds the parts of one DOCX; real documents have dozens.
const maxZipEntries = 10000

func errZipBomb(lim Limits) *Error {
	return newError(ReasonTooLarge, "the DOCX archive expands beyond %s (zip bomb?)", formatSize(lim.MaxUncompressed))
}

func extractDOCX(ctx context.Context, r io.ReaderAt, size int64, lim Limits, b *builder) error {
	if n, ok := zipEntryCount(r, size); ok && n > maxZipEntries {
		return newError(ReasonTooLarge, "the DOCX archive has more than %d parts (zip bomb?)", maxZipEntries)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return wrapError(err, ReasonMalformed, "the DOCX file is damaged: it is not a readable ZIP archive")
	}
	if len(zr.File) > maxZipEntries {
		return newError(ReasonTooLarge, "the DOCX archive has more than %d parts (zip bomb?)", maxZipEntries)
	}
	var declared uint64
	parts := map[string]*zip.File{}
	for _, f := range zr.File {
		declared += f.UncompressedSize64
		if declared > uint64(lim.MaxUncompressed) || f.UncompressedSize64 > uint64(lim.MaxUncompressed) {
			return errZipBomb(lim)
		}
		parts[strings.ToLower(f.Name)] = f
	}
	doc := parts["word/document.xml"]
	if doc == nil {
		return newError(ReasonUnsupported, "the ZIP archive is not a Word document: word/document.xml is missing")
	}
	budget := lim.MaxUncompressed
	open := func(f *zip.File) (io.Reader, error) { return openPart(f, &budget, lim) }

	if f := parts["docprops/core.xml"]; f != nil {
		rd, err := open(f)
		if err != nil {
			return err
		}
		title, err := coreTitle(rd)
		if err != nil {
			return err
		}
		b.setTitle(title)
	}
	styles := map[string]docxStyle{}
	if f := parts["word/styles.xml"]; f != nil {
		rd, err := open(f)
		if err != nil {
			return err
		}
		if styles, err = readStyles(ctx, rd); err != nil {
			return err
		}
	}
	rd, err := open(doc)
	if err != nil {
		return err
	}
	w := &docxWalker{b: b, styles: styles}
	if err := w.walk(rd); err != nil {
		return err
	}
	if b.title == "" && w.titlePara != "" {
		b.setTitle(w.titlePara)
	}
	return b.err
}

// zipEntryCount reads the entry count from the end of central directory
// record (ZIP64 too), before archive/zip allocates one File per entry.
func zipEntryCount(r io.ReaderAt, size int64) (uint64, bool) {
	const eocdLen, maxComment = 22, 0xFFFF
	n := min(size, eocdLen+maxComment)
	tail := make([]byte, n)
	if _, err := r.ReadAt(tail, size-n); err != nil && !errors.Is(err, io.EOF) {
		return 0, false
	}
	i := bytes.LastIndex(tail, []byte("PK\x05\x06"))
	if i < 0 || len(tail)-i < eocdLen {
		return 0, false
	}
	count := uint64(binary.LittleEndian.Uint16(tail[i+10:]))
	if count != 0xFFFF || i < 20 || !bytes.HasPrefix(tail[i-20:], []byte("PK\x06\x07")) {
		return count, true
	}
	off := binary.LittleEndian.Uint64(tail[i-20+8:])
	if off > uint64(size) {
		return 0, false
	}
	rec := make([]byte, 56)
	if _, err := r.ReadAt(rec, int64(off)); err != nil || !bytes.HasPrefix(rec, []byte("PK\x06\x06")) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(rec[32:]), true
}

// openPart returns the decompressed content of one entry, counted against
// what it declares and against the budget left.
func openPart(f *zip.File, budget *int64, lim Limits) (io.Reader, error) {
	if f.UncompressedSize64 > uint64(*budget) {
		return nil, errZipBomb(lim)
	}
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, wrapError(err, ReasonMalformed, "the DOCX file is damaged: %s cannot be read", f.Name)
	}
	var rd io.Reader
	switch f.Method {
	case zip.Store:
		rd = raw
	case zip.Deflate:
		rd = flate.NewReader(raw)
	default:
		return nil, newError(ReasonUnsupported, "the DOCX file uses an unsupported compression method (%d) for %s", f.Method, f.Name)
	}
	return &partReader{r: rd, f: f, budget: budget, lim: lim, crc: crc32.NewIEEE()}, nil
}

type partReader struct {
	r      io.Reader
	f      *zip.File
	n      uint64
	budget *int64
	lim    Limits
	crc    hash.Hash32
}

func (p *partReader) Read(buf []byte) (int, error) {
	n, err := p.r.Read(buf)
	p.n += uint64(n)
	*p.budget -= int64(n)
	if p.n > p.f.UncompressedSize64 || *p.budget < 0 {
		return 0, errZipBomb(p.lim)
	}
	p.crc.Write(buf[:n])
	if errors.Is(err, io.EOF) {
		if p.n != p.f.UncompressedSize64 || (p.f.CRC32 != 0 && p.crc.Sum32() != p.f.CRC32) {
			return n, newError(ReasonMalformed, "the DOCX file is damaged: %s does not match its checksum", p.f.Name)
		}
	} else if err != nil {
		return n, wrapError(err, ReasonMalformed, "the DOCX file is damaged: %s cannot be decompressed", p.f.Name)
	}
	return n, err
}

// xmlError turns a decoding error into one for the admin, keeping the
// errors (limits, damage) the part reader raised.
func xmlError(err error, part string) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return wrapError(err, ReasonMalformed, "the DOCX file is damaged: %s is not valid XML", part)
}

const (
	nsDC   = "http://purl.org/dc/elements/1.1/"
	nsMC   = "http://schemas.openxmlformats.org/markup-compatibility/2006"
	maxXML = 1 << 20 // core.xml is a few hundred bytes
)

func coreTitle(r io.Reader) (string, error) {
	d := xml.NewDecoder(io.LimitReader(r, maxXML))
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", nil
			}
			return "", xmlError(err, "docProps/core.xml")
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Space == nsDC && se.Name.Local == "title" {
			var s string
			if err := d.DecodeElement(&s, &se); err != nil {
				return "", xmlError(err, "docProps/core.xml")
			}
			return s, nil
		}
	}
}

type docxStyle struct {
	name    string
	basedOn string
	outline int // w:outlineLvl + 1, 0 when unset
}

func readStyles(ctx context.Context, r io.Reader) (map[string]docxStyle, error) {
	styles := map[string]docxStyle{}
	d := xml.NewDecoder(r)
	var id string
	var cur docxStyle
	for i := 0; ; i++ {
		if i&0xfff == 0 && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return styles, nil
			}
			return nil, xmlError(err, "word/styles.xml")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "style":
				id, cur = attr(t, "styleId"), docxStyle{}
			case "name":
				cur.name = attr(t, "val")
			case "basedOn":
				cur.basedOn = attr(t, "val")
			case "outlineLvl":
				if n, err := strconv.Atoi(attr(t, "val")); err == nil && n >= 0 && n < 9 {
					cur.outline = n + 1
				}
			}
		case xml.EndElement:
			if t.Name.Local == "style" && id != "" && len(styles) < maxZipEntries {
				styles[id] = cur
				id = ""
			}
		}
	}
}

func attr(se xml.StartElement, local string) string {
	for _, a := range se.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// headingLevelOf returns 0 for the Title style, 1–9 for headings, -1
// otherwise, following basedOn a few steps.
func headingLevelOf(styles map[string]docxStyle, id string) int {
	for range 10 {
		if lvl := headingLevelFromName(id); lvl >= 0 {
			return lvl
		}
		s, ok := styles[id]
		if !ok {
			return -1
		}
		if lvl := headingLevelFromName(s.name); lvl >= 0 {
			return lvl
		}
		if s.outline > 0 {
			return s.outline
		}
		if s.basedOn == "" || s.basedOn == id {
			return -1
		}
		id = s.basedOn
	}
	return -1
}

// headingLevelFromName reads "Title", "Heading1", "heading 1" and the like.
func headingLevelFromName(s string) int {
	s = strings.ToLower(strings.ReplaceAll(s, " ", ""))
	if s == "title" {
		return 0
	}
	if rest, ok := strings.CutPrefix(s, "heading"); ok && len(rest) == 1 && rest[0] >= '1' && rest[0] <= '9' {
		return int(rest[0] - '0')
	}
	return -1
}

// docxWalker streams word/document.xml into the builder.
type docxWalker struct {
	b      *builder
	styles map[string]docxStyle

	paras     []docxPara // open paragraphs (text boxes nest them)
	deep      int        // open paragraphs nested too deep to track
	inPPr     int        // inside paragraph properties (w:tab there is a tab stop)
	table     int        // open tables
	cells     int        // cells so far in the current row
	skip      int        // open mc:Fallback elements (duplicates of mc:Choice)
	inText    bool       // inside w:t
	vanish    bool       // the current run is hidden
	titlePara string     // text of the first Title-style paragraph
}

type docxPara struct {
	style   string
	outline int // from the paragraph's own w:outlineLvl, +1
	list    bool
	decided bool
	level   int // heading level, -1 for body text
	hbuf    strings.Builder
}

func (w *docxWalker) walk(r io.Reader) error {
	d := xml.NewDecoder(r)
	for !w.b.failed() {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return xmlError(err, "word/document.xml")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			w.start(t)
		case xml.EndElement:
			w.end(t)
		case xml.CharData:
			if w.inText && w.skip == 0 && !w.vanish {
				w.write(string(t))
			}
		}
	}
	return w.b.err
}

func (w *docxWalker) para() *docxPara {
	if len(w.paras) == 0 {
		return nil
	}
	return &w.paras[len(w.paras)-1]
}

func (w *docxWalker) start(t xml.StartElement) {
	if t.Name.Space == nsMC && t.Name.Local == "Fallback" {
		w.skip++
		return
	}
	if w.skip > 0 {
		return
	}
	p := w.para()
	switch t.Name.Local {
	case "p":
		if len(w.paras) < 32 {
			w.paras = append(w.paras, docxPara{level: -1})
		} else {
			w.deep++
		}
	case "pStyle":
		if p != nil {
			p.style = attr(t, "val")
		}
	case "outlineLvl":
		if n, err := strconv.Atoi(attr(t, "val")); err == nil && n >= 0 && n < 9 && p != nil {
			p.outline = n + 1
		}
	case "numPr":
		if p != nil {
			p.list = true
		}
	case "r":
		w.vanish = false
	case "vanish":
		if w.inPPr == 0 {
			v := attr(t, "val")
			w.vanish = v != "0" && v != "false"
		}
	case "t":
		w.inText = true
	case "pPr":
		w.inPPr++
	case "tab":
		if p != nil && w.inPPr == 0 && !w.vanish {
			w.write("\t")
		}
	case "br", "cr":
		if w.vanish {
			return
		}
		if p != nil && p.decided && p.level >= 0 {
			w.write(" ")
		} else if w.table > 0 {
			w.write(" ")
		} else {
			w.decide()
			w.b.newline()
		}
	case "noBreakHyphen":
		w.write("-")
	case "tbl":
		w.b.paragraph()
		w.table++
	case "tr":
		w.cells = 0
	case "tc":
		if w.cells > 0 {
			w.b.text(" | ")
		}
		w.cells++
	}
}

func (w *docxWalker) end(t xml.EndElement) {
	if t.Name.Space == nsMC && t.Name.Local == "Fallback" {
		w.skip--
		return
	}
	if w.skip > 0 {
		return
	}
	switch t.Name.Local {
	case "t":
		w.inText = false
	case "r":
		w.vanish = false
	case "pPr":
		w.inPPr = max(w.inPPr-1, 0)
		w.decide()
	case "p":
		if w.deep > 0 {
			w.deep--
			return
		}
		w.endPara()
	case "tr":
		w.b.newline()
	case "tbl":
		if w.table > 0 {
			w.table--
		}
		if w.table == 0 {
			w.b.paragraph()
		}
	}
}

// decide settles what the current paragraph is, once its properties are
// known.
func (w *docxWalker) decide() {
	p := w.para()
	if p == nil || p.decided {
		return
	}
	p.decided = true
	p.level = -1
	if w.table == 0 {
		if p.style != "" {
			p.level = headingLevelOf(w.styles, p.style)
		}
		if p.level < 0 && p.outline > 0 {
			p.level = p.outline
		}
	}
	switch {
	case p.level >= 0:
	case w.table > 0:
	case p.list:
		w.b.newline()
		w.b.text("- ")
	default:
		w.b.paragraph()
	}
}

func (w *docxWalker) write(s string) {
	w.decide()
	p := w.para()
	if p != nil && p.level >= 0 {
		if p.hbuf.Len() < 2*maxHeading {
			p.hbuf.WriteString(s[:min(len(s), 2*maxHeading)])
		}
		return
	}
	w.b.text(s)
}

func (w *docxWalker) endPara() {
	p := w.para()
	if p == nil {
		return
	}
	w.decide()
	switch {
	case p.level >= 0:
		text := strings.ToValidUTF8(p.hbuf.String(), "")
		if p.level == 0 && w.titlePara == "" {
			w.titlePara = text
		}
		w.b.heading(p.level, text)
	case w.table > 0:
		w.b.text(" ")
	case p.list:
		w.b.newline()
	default:
		w.b.paragraph()
	}
	w.paras = w.paras[:len(w.paras)-1]
}
