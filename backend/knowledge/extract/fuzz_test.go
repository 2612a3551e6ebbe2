package extract

import (
	"strings"
	"testing"
	"time"
)

// fuzzLimits keep each input cheap, so the fuzzer explores rather than
// waits; the limits themselves are part of what is checked.
var fuzzLimits = Limits{MaxBytes: 1 << 20, MaxTextBytes: 256 << 10, MaxUncompressed: 4 << 20, MaxDepth: 64, Timeout: 2 * time.Second}

// fuzzExtract runs one format's extractor (chosen by the file name, and by
// sniffing the bytes) on any input: it never panics, its text is valid
// UTF-8 within the limit, and its errors carry a reason.
func fuzzExtract(f *testing.F, name string, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := extractBytes(t, name, data, fuzzLimits)
		checkDocument(t, doc, err, fuzzLimits)
	})
}

func FuzzMarkdown(f *testing.F) {
	fuzzExtract(f, "notes.md", []byte("---\ntitle: x\n---\n# A\n\ntext *em* [l](u)\n\n## B\n```\ncode\n```\n"), []byte("+++\ntitle = 'y'\n+++\n| a | b |\n|---|---|\n| 1 | 2 |"))
}

func FuzzText(f *testing.F) {
	fuzzExtract(f, "notes.txt", []byte("plain\r\ntext\xff\xfe"), []byte("\xff\xfeh\x00i\x00"), []byte("\uFEFFbom"))
}

func FuzzHTML(f *testing.F) {
	fuzzExtract(f, "page.html", []byte("<html><head><title>T</title><script>x()</script></head><body><h1>H</h1><p>a<b>b</b></p><div><div><div>deep</div></div></div></body></html>"),
		[]byte(`<meta charset="windows-1252"><p>caf`+"\xe9"+`</p>`))
}

func FuzzPDF(f *testing.F) {
	fuzzExtract(f, "leaflet.pdf", pdfWithPages("Title", pdfContent(pdfText{size: 12, text: "Hello"})), type0PDF(), objStmPDF(), []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"))
}

func FuzzDOCX(f *testing.F) {
	fuzzExtract(f, "policy.docx", docxFile(f, map[string]string{"word/document.xml": docxDocument(wp("Heading1", "Title"), wp("", "Body text"))}), []byte("PK\x03\x04junk"))
}

// TestDeeplyNestedHTML: nesting far beyond MaxDepth is read in bounded
// memory and time, and its text still comes out.
func TestDeeplyNestedHTML(t *testing.T) {
	for _, tag := range []string{"div", "b", "ul><li", "table><tr><td"} {
		open := "<" + tag + ">"
		data := []byte("<html><body><h1>Deep</h1>" + strings.Repeat(open, 200000) + "deep text" + "</body></html>")
		doc, err := extractBytes(t, "deep.html", data, Limits{})
		checkDocument(t, doc, err, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		if got := strings.Join(sections(doc), "\n"); !strings.Contains(got, "deep text") {
			t.Fatalf("%s: text lost: %.200q", tag, got)
		}
	}
}

// FuzzBuilderText: text, which copies runs of printable ASCII whole, builds
// the same line, pending space and byte count as feeding every rune through
// rune, in normal and preformatted mode, and fails exactly when it does.
func FuzzBuilderText(f *testing.F) {
	for _, s := range []string{"plain words  and\tspaces", "caf\xc3\xa9 \xff\xfe bad \x7f del", "  lead", "a\u00a0b\u2003c\r\nd", "\uFEFFbom\u00ADsoft"} {
		f.Add(s, false, int64(64))
		f.Add(s, true, int64(8))
	}
	f.Fuzz(func(t *testing.T, s string, pre bool, max int64) {
		if max < 0 {
			max = -max
		}
		fast, slow := newBuilder(t.Context(), max%4096), newBuilder(t.Context(), max%4096)
		fast.pre, slow.pre = pre, pre
		// Twice, so a space left pending by the first call meets the second.
		for range 2 {
			fast.text(s)
			for _, r := range s {
				if slow.err == nil {
					slow.rune(r)
				}
			}
		}
		// Over the limit both fail, and what was built is thrown away.
		if (fast.err == nil) != (slow.err == nil) ||
			(fast.err == nil && (fast.line.String() != slow.line.String() || fast.space != slow.space || fast.used != slow.used)) {
			t.Fatalf("text(%q, pre=%v) gives %q space=%v used=%d err=%v; rune by rune %q space=%v used=%d err=%v",
				s, pre, fast.line.String(), fast.space, fast.used, fast.err, slow.line.String(), slow.space, slow.used, slow.err)
		}
	})
}
