package extract

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// testPDF writes a PDF by hand: numbered objects, a cross-reference table
// with their real offsets, and a trailer.
type testPDF struct {
	objs []string
}

// add appends an object body and returns its number.
func (p *testPDF) add(body string) int {
	p.objs = append(p.objs, body)
	return len(p.objs)
}

// set replaces the body of object n (to close cycles).
func (p *testPDF) set(n int, body string) { p.objs[n-1] = body }

func (p *testPDF) stream(dict string, data []byte) int {
	return p.add(fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data))
}

func deflate(data []byte) []byte {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// bytes renders the file; trailer is the trailer dictionary's content.
func (p *testPDF) bytes(trailer string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")
	offs := make([]int, len(p.objs))
	for i, body := range p.objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, body)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(p.objs)+1)
	for _, off := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n", len(p.objs)+1, trailer, xref)
	return b.Bytes()
}

// pdfWithPages builds a PDF whose pages have the given content streams,
// with Helvetica as /F1 and an optional Info title.
func pdfWithPages(title string, contents ...string) []byte {
	var p testPDF
	catalog := p.add("")
	pages := p.add("")
	font := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	var kids []string
	for _, c := range contents {
		content := p.stream("", []byte(c))
		page := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>", pages, font, content))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pages))
	p.set(pages, fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids)))
	trailer := fmt.Sprintf("/Root %d 0 R", catalog)
	if title != "" {
		info := p.add(fmt.Sprintf("<< /Title (%s) >>", title))
		trailer += fmt.Sprintf(" /Info %d 0 R", info)
	}
	return p.bytes(trailer)
}

// textLines is a content stream showing lines of text, each at its size,
// top down, with the given extra gap before each line.
type pdfText struct {
	size float64
	gap  float64
	text string
}

func pdfContent(lines ...pdfText) string {
	var b strings.Builder
	y := 750.0
	b.WriteString("BT\n")
	for _, l := range lines {
		y -= l.size*1.2 + l.gap
		fmt.Fprintf(&b, "/F1 %g Tf\n1 0 0 1 72 %g Tm\n(%s) Tj\n", l.size, y, l.text)
	}
	b.WriteString("ET\n")
	return b.String()
}

// docxFile builds a DOCX in memory from part name → content.
func docxFile(t testing.TB, parts map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	names := []string{"[Content_Types].xml"}
	for n := range parts {
		if n != "[Content_Types].xml" {
			names = append(names, n)
		}
	}
	for _, n := range names {
		content, ok := parts[n]
		if !ok {
			content = `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`
		}
		f, err := w.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(content))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const wNS = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"`

func docxDocument(body ...string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ` + wNS + `><w:body>` + strings.Join(body, "") + `</w:body></w:document>`
}

// wp is a paragraph with an optional style and runs of text.
func wp(style string, runs ...string) string {
	var b strings.Builder
	b.WriteString("<w:p>")
	if style != "" {
		fmt.Fprintf(&b, `<w:pPr><w:pStyle w:val="%s"/></w:pPr>`, style)
	}
	for _, r := range runs {
		fmt.Fprintf(&b, `<w:r><w:t xml:space="preserve">%s</w:t></w:r>`, r)
	}
	b.WriteString("</w:p>")
	return b.String()
}

func coreXML(title string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>` + title + `</dc:title></cp:coreProperties>`
}

// sizedReader reports a size without holding the bytes; reading it is a
// test failure.
type sizedReader struct{ t testing.TB }

func (s sizedReader) ReadAt(p []byte, off int64) (int, error) {
	s.t.Error("a file over the size limit was read")
	return 0, io.EOF
}

func extractBytes(t testing.TB, name string, data []byte, lim Limits) (*Document, error) {
	t.Helper()
	return Extract(context.Background(), name, bytes.NewReader(data), int64(len(data)), lim)
}

// checkDocument verifies what every extraction promises: valid UTF-8, text
// within the limit, no bug turned into an error.
func checkDocument(t testing.TB, doc *Document, err error, lim Limits) {
	t.Helper()
	lim = lim.WithDefaults()
	var p *panicError
	if errors.As(err, &p) {
		t.Fatalf("extractor panicked: %v", p)
	}
	if err != nil {
		if ReasonOf(err) == "" && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			t.Fatalf("error without a reason: %v", err)
		}
		return
	}
	if !utf8.ValidString(doc.Title) {
		t.Fatalf("title is not UTF-8: %q", doc.Title)
	}
	var total int64
	for _, s := range doc.Sections {
		if !utf8.ValidString(s.Text) {
			t.Fatalf("text is not UTF-8: %q", s.Text)
		}
		for _, h := range s.Headings {
			if !utf8.ValidString(h) {
				t.Fatalf("heading is not UTF-8: %q", h)
			}
		}
		total += int64(len(s.Text))
	}
	if total > lim.MaxTextBytes {
		t.Fatalf("%d bytes of text exceed the limit of %d", total, lim.MaxTextBytes)
	}
}

// sections renders a document compactly for comparison.
func sections(doc *Document) []string {
	var out []string
	for _, s := range doc.Sections {
		prefix := strings.Join(s.Headings, " > ")
		if s.Page > 0 {
			prefix = fmt.Sprintf("p%d %s", s.Page, prefix)
		}
		out = append(out, prefix+": "+s.Text)
	}
	return out
}

// rawZip builds a DOCX whose document part declares the given size, with a
// wrong checksum when badCRC.
func rawZip(t testing.TB, name string, payload []byte, declared uint64, badCRC bool) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, err := flate.NewWriter(&comp, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(payload)
	fw.Close()
	sum := crc32.ChecksumIEEE(payload)
	if badCRC {
		sum++
	}
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, _ := w.Create("[Content_Types].xml")
	f.Write([]byte("<Types/>"))
	raw, err := w.CreateRaw(&zip.FileHeader{
		Name: name, Method: zip.Deflate, CRC32: sum,
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared,
	})
	if err != nil {
		t.Fatal(err)
	}
	raw.Write(comp.Bytes())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func manyEntries(t testing.TB, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, _ := w.Create("word/document.xml")
	f.Write([]byte(docxDocument(wp("", "x"))))
	for i := range n {
		if _, err := w.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("word/media/%d", i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	return b.Bytes()
}

const toUnicodeCMap = `/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
3 beginbfchar
<0001> <0048>
<0002> <0069>
<0004> <263A>
endbfchar
2 beginbfrange
<0020> <007E> <0020>
<0005> <0006> [<0041> <0042>]
endbfrange
endcmap
CMapName currentdict /CMap defineresource pop
end
end`

// type0PDF is what word processors write: compressed content, a subset
// Type0 font with Identity-H codes mapped by ToUnicode, and a form XObject.
func type0PDF() []byte {
	var p testPDF
	catalog := p.add("")
	pages := p.add("")
	helv := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	cmap := p.stream("/Filter /FlateDecode", deflate([]byte(toUnicodeCMap)))
	cid := p.add("<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ABCDEF+Calibri /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 500 /W [1 [600 300] 32 126 500] >>")
	t0 := p.add(fmt.Sprintf("<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+Calibri /Encoding /Identity-H /DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>", cid, cmap))
	form := p.stream(fmt.Sprintf("/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >>", helv),
		[]byte("BT /F1 12 Tf 72 700 Td (In a form) Tj ET"))
	content := p.stream("/Filter /FlateDecode", deflate([]byte(
		"BT /F2 12 Tf 72 700 Td <0001000200200004002000740068006500720065> Tj ET\nq 1 0 0 1 0 -18 cm /Fm1 Do Q")))
	page := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /Font << /F2 %d 0 R >> /XObject << /Fm1 %d 0 R >> >> /Contents [%d 0 R] >>", pages, t0, form, content))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pages))
	p.set(pages, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", page))
	return p.bytes(fmt.Sprintf("/Root %d 0 R", catalog))
}

// objStmPDF is a PDF 1.5 file: the catalog, page tree and font sit in a
// compressed object stream, found through a cross-reference stream with a
// PNG predictor.
func objStmPDF() []byte {
	packed := []string{
		"<< /Type /Catalog /Pages 3 0 R >>",
		"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 3 0 R /Resources << /Font << /F1 5 0 R >> >> /Contents 6 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var header, body strings.Builder
	for i, o := range packed {
		fmt.Fprintf(&header, "%d %d ", i+2, body.Len())
		body.WriteString(o + "\n")
	}
	objstm := deflate([]byte(header.String() + body.String()))

	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n")
	offs := map[int]int{}
	offs[1] = b.Len()
	fmt.Fprintf(&b, "1 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(packed), header.Len(), len(objstm), objstm)
	content := "BT /F1 12 Tf 72 700 Td (Packed objects) Tj ET"
	offs[6] = b.Len()
	fmt.Fprintf(&b, "6 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(content), content)
	offs[7] = b.Len()

	var rows [][]byte
	row := func(typ byte, a uint32, c uint16) {
		rows = append(rows, []byte{typ, byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a), byte(c >> 8), byte(c)})
	}
	row(0, 0, 0xFFFF)
	row(1, uint32(offs[1]), 0)
	for i := range packed {
		row(2, 1, uint16(i))
	}
	row(1, uint32(offs[6]), 0)
	row(1, uint32(offs[7]), 0)
	// PNG "Up" predictor: each row as the difference from the one above.
	var pred []byte
	prev := make([]byte, 7)
	for _, r := range rows {
		pred = append(pred, 2)
		for i := range r {
			pred = append(pred, r[i]-prev[i])
		}
		prev = r
	}
	xs := deflate(pred)
	fmt.Fprintf(&b, "7 0 obj\n<< /Type /XRef /Size 8 /W [1 4 2] /Root 2 0 R /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 7 >> /Length %d >>\nstream\n%s\nendstream\nendobj\n", len(xs), xs)
	fmt.Fprintf(&b, "startxref\n%d\n%%%%EOF\n", offs[7])
	return b.Bytes()
}

// breakOffsets moves every cross-reference entry a few bytes off.
func breakOffsets(pdf []byte) []byte {
	re := regexp.MustCompile(`(?m)^(\d{10}) 00000 n `)
	return re.ReplaceAllFunc(pdf, func(m []byte) []byte {
		off, _ := strconv.Atoi(string(m[:10]))
		return []byte(fmt.Sprintf("%010d 00000 n ", off+3))
	})
}

func differencesPDF() []byte {
	var p testPDF
	catalog := p.add("")
	pages := p.add("")
	font := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding << /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences [1 /fi /uni2013 /eacute.sc] >> >>")
	content := p.stream("", []byte("q 10 0 0 10 0 0 cm BI /W 4 /H 1 /BPC 8 /CS /G ID \x00((((\xffEIx EI Q\nBT /F1 11 Tf 72 700 Td (\\001ne \\002 caf\\003) Tj ET"))
	page := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>", pages, font, content))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pages))
	p.set(pages, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", page))
	return p.bytes(fmt.Sprintf("/Root %d 0 R", catalog))
}

// bombPDF has a content stream that inflates to n bytes.
func bombPDF(n int) []byte {
	return streamPDF("/Filter /FlateDecode", deflate(append([]byte("BT /F1 11 Tf 72 700 Td (x) Tj ET"), bytes.Repeat([]byte(" "), n)...)))
}

// nestedBombPDF compresses its content twice: small after the first
// inflation, huge after the second.
func nestedBombPDF() []byte {
	inner := deflate(bytes.Repeat([]byte(" "), 32<<20))
	return streamPDF("/Filter [/FlateDecode /FlateDecode]", deflate(inner))
}

func streamPDF(dict string, data []byte) []byte {
	var p testPDF
	catalog := p.add("")
	pages := p.add("")
	font := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	content := p.stream(dict, data)
	page := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>", pages, font, content))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pages))
	p.set(pages, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", page))
	return p.bytes(fmt.Sprintf("/Root %d 0 R", catalog))
}

// hugeXrefSize is a 150-byte file whose cross-reference stream claims two
// billion objects; a reader that allocates by /Size runs out of memory.
func hugeXrefSize() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n")
	off := b.Len()
	b.WriteString("1 0 obj\n<< /Type /XRef /Size 2000000000 /W [1 2 1] /Length 0 >>\nstream\n\nendstream\nendobj\n")
	fmt.Fprintf(&b, "startxref\n%d\n%%%%EOF\n", off)
	return b.Bytes()
}

func cyclicPagesPDF() []byte {
	var p testPDF
	catalog := p.add("")
	pages := p.add("")
	inner := p.add("")
	font := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	content := p.stream("", []byte("BT /F1 11 Tf 72 700 Td (looped) Tj ET"))
	page := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>", pages, font, content))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pages))
	p.set(pages, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R %d 0 R %d 0 R] /Count 2 >>", inner, page, pages))
	p.set(inner, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R %d 0 R] /Parent %d 0 R /Count 1 >>", pages, inner, pages))
	return p.bytes(fmt.Sprintf("/Root %d 0 R", catalog))
}

func selfFormPDF() []byte {
	var p testPDF
	catalog := p.add("")
	pages := p.add("")
	font := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	form := p.add("")
	p.set(form, fmt.Sprintf("<< /Type /XObject /Subtype /Form /Resources << /Font << /F1 %d 0 R >> /XObject << /Me %d 0 R >> >> /Length 40 >>\nstream\nBT /F1 11 Tf (again) Tj ET /Me Do      \nendstream", font, form))
	content := p.stream("", []byte("/Me Do"))
	page := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /XObject << /Me %d 0 R >> >> /Contents %d 0 R >>", pages, form, content))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pages))
	p.set(pages, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", page))
	return p.bytes(fmt.Sprintf("/Root %d 0 R", catalog))
}
