package extract

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		head   []byte
		want   Format
		reason Reason
	}{
		{"pdf", "a.bin", []byte("%PDF-1.7\n..."), FormatPDF, ""},
		{"pdf after junk named .pdf", "a.pdf", []byte("\x00\x01junk%PDF-1.4\n"), FormatPDF, ""},
		{"docx by content", "upload", []byte("PK\x03\x04....word/document.xml"), FormatDOCX, ""},
		{"docx by name", "leaflet.DOCX", []byte("PK\x03\x04....[Content_Types].xml"), FormatDOCX, ""},
		{"other zip", "photos.zip", []byte("PK\x03\x04....IMG_0001.jpg"), "", ReasonUnsupported},
		{"legacy doc", "old.doc", []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00"), "", ReasonUnsupported},
		{"html doctype", "page.txt", []byte("  <!DOCTYPE html><html><body>x"), FormatHTML, ""},
		{"html tag", "x", []byte("<HTML><head>"), FormatHTML, ""},
		{"html after comment", "x", []byte("<!-- saved --><html>"), FormatHTML, ""},
		{"html fragment by name", "snippet.htm", []byte("<p>Opening hours</p>"), FormatHTML, ""},
		{"markdown by name", "README.md", []byte("# Title\n"), FormatMarkdown, ""},
		{"markdown long name", "notes.markdown", []byte("text"), FormatMarkdown, ""},
		{"text", "notes.txt", []byte("# not a heading in a text file\n"), FormatText, ""},
		{"text without name", "", []byte("plain words"), FormatText, ""},
		{"utf-16 text", "w.txt", []byte("\xFF\xFEh\x00i\x00"), FormatText, ""},
		{"text mentioning pdf", "a.md", []byte("How to save as %PDF-1.4 ..."), FormatMarkdown, ""},
		{"binary junk", "x.txt", []byte("\x00\x01\x02\x03\xFF\xFE\xFD\x89PNG"), "", ReasonUnsupported},
		{"png", "scan.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "", ReasonUnsupported},
		{"mostly invalid utf-8", "x", bytes.Repeat([]byte{0xC3, 0x28, 0xA0, 'a'}, 50), "", ReasonUnsupported},
		{"some invalid utf-8", "x.txt", append([]byte(strings.Repeat("clinic ", 40)), 0xFF), FormatText, ""},
		{"pdf name, not pdf", "report.pdf", []byte("hello"), "", ReasonMalformed},
		{"empty", "a.txt", nil, "", ReasonNoText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(tt.file, tt.head)
			if tt.reason != "" {
				if ReasonOf(err) != tt.reason {
					t.Fatalf("Detect = %q, %v; want reason %s", got, err, tt.reason)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Detect = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestExtractLimitsAndErrors(t *testing.T) {
	big := strings.Repeat("Repeat prescriptions can be ordered online.\n", 30_000) // ~1.3 MB
	tests := []struct {
		name    string
		file    string
		data    []byte
		size    int64 // when set, a claimed size with no bytes behind it
		lim     Limits
		reason  Reason
		message string
		code    string
	}{
		{name: "2 GB claim", file: "huge.pdf", size: 2 << 30, reason: ReasonTooLarge, message: "the file is larger than 50 MiB", code: domain.ETOOLARGE},
		{name: "over a custom limit", file: "a.txt", data: []byte("0123456789"), lim: Limits{MaxBytes: 5}, reason: ReasonTooLarge, message: "the file is larger than 5 bytes"},
		{name: "empty", file: "a.txt", data: nil, reason: ReasonNoText, message: "the file is empty", code: domain.EINVALID},
		{name: "only whitespace", file: "a.txt", data: []byte(" \n\t\n"), reason: ReasonNoText, message: "the document contains no text"},
		{name: "binary junk", file: "a.txt", data: []byte{0x00, 0xFF, 0x13, 0x37, 0x00, 0x00, 0x89, 0x50}, reason: ReasonUnsupported, message: "unsupported or binary file"},
		{name: "text over the text limit", file: "a.txt", data: []byte(big), lim: Limits{MaxTextBytes: 1 << 20}, reason: ReasonTooLarge, message: "the extracted text is larger than 1 MiB"},
		{name: "timeout", file: "a.txt", data: []byte(big), lim: Limits{Timeout: time.Nanosecond}, reason: ReasonTooLarge, message: "took longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc *Document
			var err error
			if tt.size > 0 {
				doc, err = Extract(context.Background(), tt.file, sizedReader{t}, tt.size, tt.lim)
			} else {
				doc, err = extractBytes(t, tt.file, tt.data, tt.lim)
			}
			if ReasonOf(err) != tt.reason {
				t.Fatalf("Extract = %v, %v; want reason %s", doc, err, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
			if tt.code != "" && domain.ErrorCode(err) != tt.code {
				t.Errorf("domain code %q, want %q", domain.ErrorCode(err), tt.code)
			}
			if msg := domain.ErrorMessage(err); !strings.Contains(msg, tt.message) {
				t.Errorf("domain message %q does not say %q", msg, tt.message)
			}
		})
	}
}

func TestExtractCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := []byte(strings.Repeat("line\n", 100_000))
	_, err := Extract(ctx, "a.txt", bytes.NewReader(data), int64(len(data)), Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		title string
		want  []string
	}{
		{
			name:  "paragraphs and lines",
			data:  "Opening hours\n\nMonday  to\tFriday: 8am–6pm\nSaturday: closed\n\n\n\nCall 0123.",
			title: "surgery hours",
			want:  []string{": Opening hours\n\nMonday to Friday: 8am–6pm\nSaturday: closed\n\nCall 0123."},
		},
		{
			name:  "headings are not guessed",
			data:  "# Not a heading\n\nINTRODUCTION\n=====\ntext",
			title: "surgery hours",
			want:  []string{": # Not a heading\n\nINTRODUCTION\n=====\ntext"},
		},
		{
			name:  "invalid UTF-8 repaired",
			data:  "Opening hours at the caf\xe9 \xff\xfe ok\x01\x7f \x1b[1m",
			title: "surgery hours",
			want:  []string{": Opening hours at the caf\uFFFD \uFFFD ok [1m"},
		},
		{
			name:  "CRLF and BOM",
			data:  "\uFEFFline one\r\nline two\r\n\r\nnext",
			title: "surgery hours",
			want:  []string{": line one\nline two\n\nnext"},
		},
		{
			name:  "UTF-16 with BOM",
			data:  "\xFF\xFEH\x00i\x00\n\x00\xE9\x00",
			title: "surgery hours",
			want:  []string{": Hi\né"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := extractBytes(t, "surgery_hours.txt", []byte(tt.data), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, doc, err, Limits{})
			if doc.Format != FormatText || doc.Title != tt.title {
				t.Errorf("format %q title %q", doc.Format, doc.Title)
			}
			if got := sections(doc); !slices.Equal(got, tt.want) {
				t.Errorf("sections\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		title string
		want  []string
	}{
		{
			name: "heading path",
			data: "Intro text.\n\n# Repeat prescriptions\n\nAsk at reception.\n\n## Ordering online\n\nUse the **app** or [the website](https://example.org \"site\").\n\n## By phone ##\n\nCall us.\n\n# Vaccinations\n\nFlu jabs.",
			want: []string{
				": Intro text.",
				"Repeat prescriptions: Ask at reception.",
				"Repeat prescriptions > Ordering online: Use the app or the website.",
				"Repeat prescriptions > By phone: Call us.",
				"Vaccinations: Flu jabs.",
			},
			title: "Repeat prescriptions",
		},
		{
			name: "setext headings and skipped levels",
			data: "Clinic guide\n============\n\nWelcome.\n\nParking\n-------\n\nBehind the building.\n\n#### Disabled bays\n\nTwo bays.",
			want: []string{
				": Welcome.",
				"Parking: Behind the building.",
				"Parking > Disabled bays: Two bays.",
			},
			title: "Clinic guide",
		},
		{
			name: "the title heading is not repeated in the heading path",
			data: "---\ntitle: Opening hours\n---\n# Opening hours\n\n## Regular hours\n\nMonday.\n\n## Emergencies\n\nCall 112.",
			want: []string{
				"Regular hours: Monday.",
				"Emergencies: Call 112.",
			},
			title: "Opening hours",
		},
		{
			name:  "front matter title",
			data:  "---\ntitle: \"Travel vaccines\"\nauthor: x\n---\n# Overview\n\nBook early.",
			want:  []string{"Overview: Book early."},
			title: "Travel vaccines",
		},
		{
			name:  "toml front matter",
			data:  "+++\ntitle = 'Sick notes'\n+++\nText.",
			want:  []string{": Text."},
			title: "Sick notes",
		},
		{
			name:  "code fence kept verbatim",
			data:  "# Setup\n\n```sh\n  echo *not emphasis*\n\n  [not](a link)\n```\nAfter.",
			want:  []string{":   echo *not emphasis*\n  [not](a link)\n\nAfter."},
			title: "Setup",
		},
		{
			name:  "lists stay lines",
			data:  "Bring:\n\n- your **NHS number**\n- a list of\n  medicines\n* photo ID\n1. first\n2) second\n- [x] done",
			want:  []string{": Bring:\n\n- your NHS number\n- a list of medicines\n- photo ID\n1. first\n2) second\n- [x] done"},
			title: "guide",
		},
		{
			name:  "soft breaks join, hard breaks keep",
			data:  "one\ntwo  \nthree\\\nfour",
			want:  []string{": one two\nthree\nfour"},
			title: "guide",
		},
		{
			name:  "emphasis over a soft break",
			data:  "Order at least **three\nworking days** before.",
			want:  []string{": Order at least three working days before."},
			title: "guide",
		},
		{
			name:  "inline markup",
			data:  "A *b* _c_ __d__ ~~e~~ `*f*` snake_case_name 2 * 3 \\*g\\* ![alt text](x.png) <https://nhs.uk> <b>bold</b> &amp; [ref][1]\n\n[1]: https://example.org",
			want:  []string{": A b c d e *f* snake_case_name 2 * 3 *g* alt text https://nhs.uk bold & ref"},
			title: "guide",
		},
		{
			name:  "tables and quotes",
			data:  "| Day | Hours |\n|-----|:-----:|\n| Mon | 8–6 |\n\n> Quoted **advice**\n> > nested",
			want:  []string{": Mon: 8–6\n\nQuoted advice nested"},
			title: "guide",
		},
		{
			name:  "table rows read as text, cells paired with their headers",
			data:  "Our hours:\n\n| Day | Morning | Afternoon |\n| --- | --- | --- |\n| **Monday** | 8:00–12:00 | 13:00–18:00 |\n| Saturday | 9:00–12:00 | |\nAfter the table.\n\n| no | header |",
			want:  []string{": Our hours:\n\nMonday — Morning: 8:00–12:00; Afternoon: 13:00–18:00\nSaturday — Morning: 9:00–12:00\n\nAfter the table.\n\nno: header"},
			title: "guide",
		},
		{
			name:  "thematic break splits paragraphs",
			data:  "above\n\n***\n\nbelow",
			want:  []string{": above\n\nbelow"},
			title: "guide",
		},
		{
			name:  "empty heading ignored, heading without text kept",
			data:  "#\n\n# Contact",
			want:  []string{"Contact: "},
			title: "Contact",
		},
		{
			name:  "invalid UTF-8",
			data:  "# Caf\xe9\n\nbad \xff byte",
			want:  []string{": bad \uFFFD byte"},
			title: "Caf\uFFFD",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := extractBytes(t, "guide.md", []byte(tt.data), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, doc, err, Limits{})
			if doc.Format != FormatMarkdown || doc.Title != tt.title {
				t.Errorf("format %q title %q, want title %q", doc.Format, doc.Title, tt.title)
			}
			if got := sections(doc); !slices.Equal(got, tt.want) {
				t.Errorf("sections\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestMarkdownPathological(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"many backtick runs", strings.Repeat("` `` ``` ", 50_000)},
		{"many emphasis openers", strings.Repeat("*a _b ~c ", 100_000)},
		{"deep blockquote", strings.Repeat(">", 500_000) + " x"},
		{"one huge heading", "# " + strings.Repeat("word ", 200_000)},
		{"unclosed fence", "```\n" + strings.Repeat("code\n", 100_000)},
		{"unclosed front matter", "---\n" + strings.Repeat("title: x\n", 10_000)},
		{"brackets", strings.Repeat("[", 200_000) + strings.Repeat("](", 100_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			doc, err := extractBytes(t, "x.md", []byte(tt.data), Limits{})
			checkDocument(t, doc, err, Limits{})
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			if doc != nil && len(doc.Title) > maxHeading+len("…") {
				t.Errorf("title of %d bytes", len(doc.Title))
			}
		})
	}
}

func TestHTML(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		title string
		want  []string
	}{
		{
			name: "visible text and heading path",
			data: `<!DOCTYPE html><html><head><title>Our  services</title><style>p{color:red}</style><script>var x = "<p>hidden</p>";</script></head>
<body><nav>Home</nav><h1>Repeat prescriptions</h1><p>Ask at <b>reception</b>.</p>
<h2>Ordering online</h2><p>Use the app.<br>Or the website.</p><noscript>Enable JS</noscript><template><p>tpl</p></template>
<div hidden>secret</div><div style="display: none">also secret</div>
<h2>By phone</h2><ul><li>Call 0123</li><li>Press 2</li></ul>
<h1>Opening hours</h1><table><tr><th>Day</th><th>Hours</th></tr><tr><td>Mon</td><td>8&ndash;6</td></tr></table>
<pre>  keep   spaces
  here</pre><p>caf&eacute; &amp; more</p></body></html>`,
			title: "Our services",
			want: []string{
				": Home",
				"Repeat prescriptions: Ask at reception.",
				"Repeat prescriptions > Ordering online: Use the app.\nOr the website.",
				"Repeat prescriptions > By phone: Call 0123\nPress 2",
				"Opening hours: Day | Hours\nMon | 8–6\n\n  keep   spaces\n  here\n\ncafé & more",
			},
		},
		{
			name:  "title from first heading, unclosed tags",
			data:  "<html><body><h2>Flu <i>clinic</i></h2><p>One<p>Two<li>a<li>b",
			title: "Flu clinic",
			want:  []string{": One\n\nTwo\na\nb"},
		},
		{
			name:  "declared charset",
			data:  "<html><head><meta charset=\"windows-1252\"><title>Caf\xe9</title></head><body><p>\x93quoted\x94</p></body></html>",
			title: "Café",
			want:  []string{": “quoted”"},
		},
		{
			name:  "invalid UTF-8 without charset",
			data:  "<html><body><p>bad \xff byte</p></body></html>",
			title: "page",
			want:  []string{": bad \uFFFD byte"},
		},
		{
			name:  "stray end tags",
			data:  "<html><body></div></span>text</br>more</p>end</body></html>",
			title: "page",
			want:  []string{": text\nmore\n\nend"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := extractBytes(t, "page.html", []byte(tt.data), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, doc, err, Limits{})
			if doc.Format != FormatHTML || doc.Title != tt.title {
				t.Errorf("format %q title %q, want %q", doc.Format, doc.Title, tt.title)
			}
			if got := sections(doc); !slices.Equal(got, tt.want) {
				t.Errorf("sections\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestHTMLDeepNesting(t *testing.T) {
	const n = 100_000
	tests := []struct {
		name string
		data string
		want string
	}{
		{"closed divs", "<html><body>" + strings.Repeat("<div>", n) + "deep" + strings.Repeat("</div>", n) + "<p>after</p></body></html>", "deep\n\nafter"},
		{"unclosed inline", "<html><body>" + strings.Repeat("<b>", n) + "deep</body></html>", "deep"},
		{"unmatched end tags", "<html><body>" + strings.Repeat("<span>", 300) + strings.Repeat("</div>", n) + "x</body></html>", "x"},
		{"deep heading", "<html><body>" + strings.Repeat("<div>", n) + "<h1>Deep</h1>text" + "</body></html>", "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			doc, err := extractBytes(t, "deep.html", []byte(tt.data), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, doc, err, Limits{})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			if got := doc.Sections[len(doc.Sections)-1].Text; !strings.Contains(got, tt.want) {
				t.Errorf("text %q does not contain %q", got, tt.want)
			}
		})
	}
}

func TestDOCX(t *testing.T) {
	styles := `<?xml version="1.0"?><w:styles ` + wNS + `>
<w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style>
<w:style w:type="paragraph" w:styleId="MyHeading"><w:name w:val="Custom"/><w:basedOn w:val="berschrift1"/></w:style>
<w:style w:type="paragraph" w:styleId="Outline3"><w:name w:val="Numbered"/><w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>
</w:styles>`
	tests := []struct {
		name  string
		parts map[string]string
		title string
		want  []string
	}{
		{
			name: "headings, core title, runs",
			parts: map[string]string{
				"docProps/core.xml": coreXML("Practice leaflet"),
				"word/document.xml": docxDocument(
					wp("", "Welcome to the ", "practice."),
					wp("Heading1", "Repeat prescriptions"),
					wp("", "Allow two ", "working days."),
					wp("Heading2", "Ordering online"),
					`<w:p><w:r><w:t>Name</w:t><w:tab/><w:t>Date</w:t><w:br/><w:t>Second line</w:t></w:r></w:p>`,
					wp("Heading1", "Contact"),
					`<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>Phone</w:t></w:r></w:p>`,
					`<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>Email</w:t></w:r></w:p>`,
					wp("", "Thanks."),
				),
			},
			title: "Practice leaflet",
			want: []string{
				": Welcome to the practice.",
				"Repeat prescriptions: Allow two working days.",
				"Repeat prescriptions > Ordering online: Name Date\nSecond line",
				"Contact: - Phone\n- Email\n\nThanks.",
			},
		},
		{
			name: "Title style, localized and inherited styles, tables",
			parts: map[string]string{
				"word/styles.xml": styles,
				"word/document.xml": docxDocument(
					wp("Title", "Patient guide"),
					wp("berschrift1", "Anmeldung"),
					wp("", "Text."),
					wp("MyHeading", "Custom based on heading"),
					wp("Outline3", "Outline level"),
					`<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Day</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Hours</w:t></w:r></w:p></w:tc></w:tr>`+
						`<w:tr><w:tc><w:p><w:r><w:t>Mon</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>8-6</w:t></w:r></w:p></w:tc></w:tr></w:tbl>`,
				),
			},
			title: "Patient guide",
			want: []string{
				"Anmeldung: Text.",
				"Custom based on heading > Outline level: Day | Hours\nMon | 8-6",
			},
		},
		{
			name: "hidden, deleted, field codes and fallback content skipped",
			parts: map[string]string{
				"word/document.xml": docxDocument(
					`<w:p><w:r><w:rPr><w:vanish/></w:rPr><w:t>hidden</w:t></w:r><w:r><w:t>shown</w:t></w:r>` +
						`<w:del><w:r><w:delText>deleted</w:delText></w:r></w:del>` +
						`<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGE</w:instrText></w:r><w:r><w:t xml:space="preserve"> 3</w:t></w:r>` +
						`<mc:AlternateContent><mc:Choice Requires="wps"><w:r><w:t xml:space="preserve"> box</w:t></w:r></mc:Choice><mc:Fallback><w:r><w:t>box again</w:t></w:r></mc:Fallback></mc:AlternateContent></w:p>`,
				),
			},
			title: "leaflet",
			want:  []string{": shown 3 box"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := extractBytes(t, "leaflet.docx", docxFile(t, tt.parts), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, doc, err, Limits{})
			if doc.Format != FormatDOCX || doc.Title != tt.title {
				t.Errorf("format %q title %q, want %q", doc.Format, doc.Title, tt.title)
			}
			if got := sections(doc); !slices.Equal(got, tt.want) {
				t.Errorf("sections\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDOCXBad(t *testing.T) {
	payload := []byte(docxDocument(wp("", strings.Repeat("a", 10<<20))))

	valid := docxFile(t, map[string]string{"word/document.xml": docxDocument(wp("", "hello"))})
	tests := []struct {
		name    string
		data    []byte
		lim     Limits
		reason  Reason
		message string
	}{
		{
			name:    "compressible entry declaring a small size",
			data:    rawZip(t, "word/document.xml", payload, 1000, false),
			reason:  ReasonTooLarge,
			message: "zip bomb",
		},
		{
			name:    "entry declaring a huge size",
			data:    rawZip(t, "word/document.xml", payload, 1<<40, false),
			reason:  ReasonTooLarge,
			message: "DOCX archive expands beyond 200 MiB (zip bomb?)",
		},
		{
			name:    "honest entry over the limit",
			data:    rawZip(t, "word/document.xml", payload, uint64(len(payload)), false),
			lim:     Limits{MaxUncompressed: 1 << 20},
			reason:  ReasonTooLarge,
			message: "expands beyond 1 MiB",
		},
		{
			name:    "too many entries",
			data:    manyEntries(t, maxZipEntries+1),
			reason:  ReasonTooLarge,
			message: "more than 10000 parts",
		},
		{
			name:    "bad checksum",
			data:    rawZip(t, "word/document.xml", payload, uint64(len(payload)), true),
			reason:  ReasonMalformed,
			message: "checksum",
		},
		{
			name:    "no document part",
			data:    docxFile(t, map[string]string{"word/other.xml": "<x/>"}),
			reason:  ReasonUnsupported,
			message: "word/document.xml is missing",
		},
		{
			name:    "truncated archive",
			data:    valid[:len(valid)/2],
			reason:  ReasonMalformed,
			message: "not a readable ZIP archive",
		},
		{
			name:    "not XML",
			data:    docxFile(t, map[string]string{"word/document.xml": "<w:document><w:body><w:p>"}),
			reason:  ReasonMalformed,
			message: "not valid XML",
		},
		{
			name:    "no text",
			data:    docxFile(t, map[string]string{"word/document.xml": docxDocument(wp(""))}),
			reason:  ReasonNoText,
			message: "contains no text",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := extractBytes(t, "bad.docx", tt.data, tt.lim)
			checkDocument(t, doc, err, tt.lim)
			if ReasonOf(err) != tt.reason {
				t.Fatalf("Extract = %v, %v; want reason %s", doc, err, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
		})
	}
}

func TestPDF(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		title string
		want  []string
	}{
		{
			name: "pages, paragraphs and headings by size",
			data: pdfWithPages("Practice leaflet",
				pdfContent(
					pdfText{20, 0, "Repeat prescriptions"},
					pdfText{11, 0, "Allow two working days for"},
					pdfText{11, 0, "your prescription."},
					pdfText{11, 10, "Collect it from reception."},
					pdfText{16, 10, "Ordering online"},
					pdfText{11, 0, "Use the app."},
				),
				pdfContent(
					pdfText{11, 0, "Or the website."},
					pdfText{20, 10, "Contact"},
					pdfText{11, 0, "Call 0123 (caf\\351)."},
				),
			),
			title: "Practice leaflet",
			want: []string{
				"p1 Repeat prescriptions: Allow two working days for\nyour prescription.\n\nCollect it from reception.",
				"p1 Repeat prescriptions > Ordering online: Use the app.",
				"p2 Repeat prescriptions > Ordering online: Or the website.",
				"p2 Contact: Call 0123 (café).",
			},
		},
		{
			name: "words placed apart and TJ spacing",
			data: pdfWithPages("",
				"BT /F1 12 Tf 72 700 Td (Opening) Tj 60 0 Td (hours) Tj ET\n"+
					"BT /F1 12 Tf 72 680 Td [(Mon) -2000 (8-6)] TJ ET\n"+
					"BT /F1 12 Tf 14 TL 72 660 Td (line one) Tj T* (line two) Tj (+) ' ET"),
			title: "plain",
			want:  []string{"p1 : Opening hours\nMon 8-6\nline one\nline two\n+"},
		},
		{
			name:  "info title cleaned",
			data:  pdfWithPages("Microsoft Word - leaflet.docx", pdfContent(pdfText{11, 0, "Body."})),
			title: "leaflet",
			want:  []string{"p1 : Body."},
		},
		{
			name:  "compressed streams, Type0 font with ToUnicode, form XObject",
			data:  type0PDF(),
			title: "plain",
			want:  []string{"p1 : Hi ☺ there\nIn a form"},
		},
		{
			name:  "cross-reference stream and object stream",
			data:  objStmPDF(),
			title: "plain",
			want:  []string{"p1 : Packed objects"},
		},
		{
			name:  "wrong xref offsets are rebuilt",
			data:  breakOffsets(pdfWithPages("", pdfContent(pdfText{11, 0, "Still readable."}))),
			title: "plain",
			want:  []string{"p1 : Still readable."},
		},
		{
			name:  "differences encoding and inline image",
			data:  differencesPDF(),
			title: "plain",
			want:  []string{"p1 : ﬁne – café"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := extractBytes(t, "plain.pdf", tt.data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			checkDocument(t, doc, err, Limits{})
			if doc.Format != FormatPDF || doc.Title != tt.title {
				t.Errorf("format %q title %q, want %q", doc.Format, doc.Title, tt.title)
			}
			if got := sections(doc); !slices.Equal(got, tt.want) {
				t.Errorf("sections\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestPDFBad(t *testing.T) {
	good := pdfWithPages("T", pdfContent(pdfText{11, 0, "Hello."}))
	tests := []struct {
		name    string
		data    []byte
		lim     Limits
		reason  Reason
		message string
	}{
		{
			name:    "no text (scanned image)",
			data:    pdfWithPages("", "q 612 0 0 792 0 0 cm 0 0 m 100 100 l S Q"),
			reason:  ReasonNoText,
			message: "not a PDF text layer: the PDF has no extractable text (scanned image?)",
		},
		{
			name:    "truncated in the header",
			data:    good[:20],
			reason:  ReasonMalformed,
			message: "damaged or truncated",
		},
		{
			name:    "truncated before the pages",
			data:    good[:bytes.Index(good, []byte("3 0 obj"))],
			reason:  ReasonMalformed,
			message: "damaged or truncated",
		},
		{
			name:    "encrypted",
			data:    bytes.Replace(good, []byte("/Size"), []byte("/Encrypt << /Filter /Standard /V 1 >> /Size"), 1),
			reason:  ReasonEncrypted,
			message: "password-protected",
		},
		{
			name:    "compression bomb",
			data:    bombPDF(4 << 20),
			lim:     Limits{MaxUncompressed: 1 << 20},
			reason:  ReasonTooLarge,
			message: "expands beyond 1 MiB (compression bomb?)",
		},
		{
			name:    "nested compression bomb",
			data:    nestedBombPDF(),
			lim:     Limits{MaxUncompressed: 8 << 20},
			reason:  ReasonTooLarge,
			message: "compression bomb",
		},
		{
			name:    "text over the limit",
			data:    pdfWithPages("", strings.Repeat("BT /F1 11 Tf 72 700 Td (0123456789) Tj ET\n", 20_000)),
			lim:     Limits{MaxTextBytes: 64 << 10},
			reason:  ReasonTooLarge,
			message: "extracted text is larger than 64 KiB",
		},
		{
			name:    "xref stream claiming two billion objects",
			data:    hugeXrefSize(),
			reason:  ReasonMalformed,
			message: "damaged or truncated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := extractBytes(t, "bad.pdf", tt.data, tt.lim)
			checkDocument(t, doc, err, tt.lim)
			if ReasonOf(err) != tt.reason {
				t.Fatalf("Extract = %v, %v; want reason %s", sectionsOrNil(doc), err, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not say %q", err, tt.message)
			}
		})
	}
}

func sectionsOrNil(doc *Document) []string {
	if doc == nil {
		return nil
	}
	return sections(doc)
}

// TestPDFHostile checks structures that loop or recurse: they must end
// quickly, with text or with an error.
func TestPDFHostile(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"deeply nested arrays", pdfWithPages("", "BT /F1 11 Tf "+strings.Repeat("[", 200_000)+" (x) Tj ET")},
		{"deeply nested dictionaries", pdfWithPages("", strings.Repeat("<<", 200_000))},
		{"page tree cycle", cyclicPagesPDF()},
		{"self-drawing form", selfFormPDF()},
		{"unterminated string", pdfWithPages("", "BT /F1 11 Tf ("+strings.Repeat("a", 100_000))},
		{"operand flood", pdfWithPages("", strings.Repeat("1 ", 500_000)+"BT /F1 11 Tf (x) Tj ET")},
		{"every cut of a small PDF", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			if tt.data == nil {
				good := type0PDF()
				for i := 0; i < len(good); i += 7 {
					doc, err := extractBytes(t, "cut.pdf", good[:i], Limits{})
					checkDocument(t, doc, err, Limits{})
				}
			} else {
				doc, err := extractBytes(t, "hostile.pdf", tt.data, Limits{})
				checkDocument(t, doc, err, Limits{})
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}
