package extract

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// HTML is read with the streaming tokenizer, never built into a tree: the
// open elements sit on a stack of at most Limits.MaxDepth entries (deeper
// ones are counted, not kept), so any nesting costs linear time and bounded
// memory.

type htmlElem struct {
	tag     atom.Atom
	skip    bool // invisible: template, select, hidden
	heading int  // 1–6 for h1–h6
	pre     bool
	block   bool
}

type htmlReader struct {
	b        *builder
	maxDepth int
	stack    []htmlElem
	overflow int // open elements deeper than maxDepth

	skip    int // open invisible elements
	pre     int // open preformatted elements
	heading int // level of the heading being read, 0 outside one
	hbuf    strings.Builder
	cells   int // cells so far in the current table row
}

func extractHTML(data []byte, lim Limits, b *builder) error {
	h := &htmlReader{b: b, maxDepth: lim.MaxDepth}
	z := html.NewTokenizer(strings.NewReader(decodeHTML(data)))
	raw := "" // the raw-text element whose content comes next
	for !b.failed() {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if err := z.Err(); !errors.Is(err, io.EOF) {
				return wrapError(err, ReasonMalformed, "the HTML could not be read")
			}
			h.closeAll()
			return b.err
		case html.TextToken:
			text := string(z.Text())
			switch raw {
			case "title":
				if b.title == "" {
					b.setTitle(text)
				}
			case "plaintext", "xmp":
				b.preformatted(true)
				b.text(text)
				b.preformatted(h.pre > 0)
			case "":
				h.text(text)
			}
			raw = ""
		case html.StartTagToken, html.SelfClosingTagToken:
			raw = ""
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			switch a {
			case atom.Script, atom.Style, atom.Textarea, atom.Title, atom.Xmp, atom.Iframe, atom.Noembed, atom.Noframes, atom.Noscript, atom.Plaintext:
				raw = a.String()
				if a == atom.Xmp || a == atom.Plaintext {
					h.b.paragraph()
				}
				continue
			}
			hidden := hasAttr && hiddenByAttr(z)
			h.start(a, tt == html.SelfClosingTagToken, hidden)
		case html.EndTagToken:
			raw = ""
			name, _ := z.TagName()
			h.end(atom.Lookup(name))
		}
	}
	return b.err
}

// decodeHTML returns the document as UTF-8: a byte order mark or a
// declared charset is honoured; otherwise bad bytes become U+FFFD.
func decodeHTML(data []byte) string {
	if len(data) >= 2 && (data[0] == 0xFF && data[1] == 0xFE || data[0] == 0xFE && data[1] == 0xFF) {
		return decodeUTF16(data)
	}
	if utf8.Valid(data) {
		return strings.TrimPrefix(string(data), "\uFEFF")
	}
	if bytes.Contains(bytes.ToLower(data[:min(len(data), 1024)]), []byte("charset")) {
		if enc, name, _ := charset.DetermineEncoding(data, ""); name != "utf-8" && enc != nil {
			if out, err := enc.NewDecoder().Bytes(data); err == nil {
				return strings.ToValidUTF8(string(out), "\uFFFD")
			}
		}
	}
	return strings.ToValidUTF8(string(data), "\uFFFD")
}

func hiddenByAttr(z *html.Tokenizer) bool {
	for {
		key, val, more := z.TagAttr()
		switch string(key) {
		case "hidden":
			return true
		case "style":
			style := strings.ToLower(strings.Join(strings.Fields(string(val)), ""))
			if strings.Contains(style, "display:none") || strings.Contains(style, "visibility:hidden") {
				return true
			}
		}
		if !more {
			return false
		}
	}
}

var htmlVoid = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true, atom.Hr: true,
	atom.Img: true, atom.Input: true, atom.Link: true, atom.Meta: true, atom.Param: true,
	atom.Source: true, atom.Track: true, atom.Wbr: true,
}

var htmlBlock = map[atom.Atom]bool{
	atom.Address: true, atom.Article: true, atom.Aside: true, atom.Blockquote: true, atom.Body: true,
	atom.Caption: true, atom.Center: true, atom.Dd: true, atom.Details: true, atom.Dialog: true,
	atom.Div: true, atom.Dl: true, atom.Dt: true, atom.Fieldset: true, atom.Figcaption: true,
	atom.Figure: true, atom.Footer: true, atom.Form: true, atom.Header: true, atom.Hgroup: true,
	atom.Html: true, atom.Legend: true, atom.Li: true, atom.Listing: true, atom.Main: true,
	atom.Menu: true, atom.Nav: true, atom.Ol: true, atom.P: true, atom.Pre: true, atom.Section: true,
	atom.Summary: true, atom.Table: true, atom.Tbody: true, atom.Tfoot: true, atom.Thead: true,
	atom.Tr: true, atom.Ul: true,
}

// htmlSkip are elements whose content is not shown as text.
var htmlSkip = map[atom.Atom]bool{atom.Template: true, atom.Select: true, atom.Datalist: true, atom.Svg: true, atom.Object: true}

// closesSame are elements a start tag of the same kind implicitly closes.
func closesSame(a, open atom.Atom) bool {
	switch a {
	case atom.P, atom.Li, atom.Tr, atom.Option:
		return open == a
	case atom.Dt, atom.Dd:
		return open == atom.Dt || open == atom.Dd
	case atom.Td, atom.Th:
		return open == atom.Td || open == atom.Th
	}
	return headingLevel(a) > 0 && headingLevel(open) > 0
}

func headingLevel(a atom.Atom) int {
	switch a {
	case atom.H1:
		return 1
	case atom.H2:
		return 2
	case atom.H3:
		return 3
	case atom.H4:
		return 4
	case atom.H5:
		return 5
	case atom.H6:
		return 6
	}
	return 0
}

func (h *htmlReader) start(a atom.Atom, selfClosing, hidden bool) {
	switch a {
	case atom.Br:
		h.lineBreak()
		return
	case atom.Hr:
		h.b.paragraph()
		return
	}
	if htmlVoid[a] {
		return
	}
	if n := len(h.stack); n > 0 && h.overflow == 0 && closesSame(a, h.stack[n-1].tag) {
		h.pop(n - 1)
	}
	e := htmlElem{tag: a, skip: hidden || htmlSkip[a], heading: headingLevel(a), pre: a == atom.Pre || a == atom.Listing, block: htmlBlock[a]}
	if h.skip == 0 {
		h.open(e)
	}
	if selfClosing {
		if h.skip == 0 {
			h.close(e)
		}
		return
	}
	if len(h.stack) >= h.maxDepth {
		h.overflow++
		if h.skip == 0 {
			h.close(e)
		}
		return
	}
	h.stack = append(h.stack, e)
	if e.skip {
		h.skip++
	}
	if e.pre {
		h.pre++
	}
}

// open applies the effect of an element starting.
func (h *htmlReader) open(e htmlElem) {
	switch {
	case e.heading > 0:
		h.finishHeading()
		h.b.paragraph()
		h.heading = e.heading
		h.hbuf.Reset()
	case e.tag == atom.Tr:
		h.b.newline()
		h.cells = 0
	case e.tag == atom.Td || e.tag == atom.Th:
		if h.cells > 0 {
			h.text(" | ")
		}
		h.cells++
	case e.tag == atom.Li || e.tag == atom.Dt || e.tag == atom.Dd:
		h.b.newline()
	case e.block:
		h.b.paragraph()
	}
	if e.pre {
		h.b.preformatted(true)
	}
}

// close applies the effect of an element ending.
func (h *htmlReader) close(e htmlElem) {
	switch {
	case e.heading > 0:
		h.finishHeading()
	case e.tag == atom.Li || e.tag == atom.Dt || e.tag == atom.Dd || e.tag == atom.Tr:
		h.b.newline()
	case e.block:
		h.b.paragraph()
	}
	if e.pre && h.pre == 0 {
		h.b.preformatted(false)
	}
}

func (h *htmlReader) end(a atom.Atom) {
	if h.overflow > 0 {
		h.overflow--
		return
	}
	for i := len(h.stack) - 1; i >= 0; i-- {
		if h.stack[i].tag == a {
			h.pop(i)
			return
		}
	}
	// A stray end tag: browsers treat </br> as <br> and </p> as <p></p>.
	switch a {
	case atom.Br:
		h.lineBreak()
	case atom.P:
		h.b.paragraph()
	}
}

// pop closes the elements from the top of the stack down to index i.
func (h *htmlReader) pop(i int) {
	for len(h.stack) > i {
		e := h.stack[len(h.stack)-1]
		h.stack = h.stack[:len(h.stack)-1]
		if e.skip {
			h.skip--
		}
		if e.pre {
			h.pre--
		}
		if h.skip == 0 && !e.skip {
			h.close(e)
		}
	}
}

func (h *htmlReader) closeAll() {
	h.overflow = 0
	h.pop(0)
	h.finishHeading()
}

func (h *htmlReader) lineBreak() {
	if h.skip > 0 {
		return
	}
	if h.heading > 0 {
		h.text(" ")
		return
	}
	h.b.newline()
}

func (h *htmlReader) text(s string) {
	if h.skip > 0 {
		return
	}
	if h.heading > 0 {
		if h.hbuf.Len() < 2*maxHeading {
			h.hbuf.WriteString(s[:min(len(s), 2*maxHeading)])
			return
		}
		// A heading this long is not one: what follows is body text.
		h.finishHeading()
	}
	h.b.text(s)
}

func (h *htmlReader) finishHeading() {
	if h.heading > 0 {
		h.b.heading(h.heading, strings.ToValidUTF8(h.hbuf.String(), ""))
		h.heading = 0
		h.hbuf.Reset()
	}
}
