// Package extract turns a clinic's document files (Markdown, plain text,
// HTML, PDF, DOCX) into plain text split into sections under their heading
// path, for the knowledge base to index.
//
// Every file is outside input: sizes, expansion (zip and compression bombs),
// nesting and time are bounded by Limits, the output is always valid UTF-8,
// and a file that cannot be read fails with an *Error whose Reason a caller
// can record and whose Message an admin can act on.
package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/domain"
)

// Format is a kind of document file.
type Format string

const (
	FormatMarkdown Format = "markdown"
	FormatText     Format = "text"
	FormatHTML     Format = "html"
	FormatPDF      Format = "pdf"
	FormatDOCX     Format = "docx"
)

// Document is the text of one file.
type Document struct {
	// Title comes from the format's own title (front matter, <title>, DOCX
	// core properties, PDF Info) or the first heading, else the file name.
	Title    string
	Format   Format
	Sections []Section
}

// Section is the text under one heading path, in document order.
type Section struct {
	// Headings is the heading path, outermost first; empty for text before
	// the first heading.
	Headings []string
	// Text holds paragraphs separated by blank lines; lines within a
	// paragraph (list items, table rows) by single newlines.
	Text string
	// Page is the 1-based page a PDF section is on, 0 for other formats.
	Page int
}

// Limits bound the work one file may cause. Zero fields take the defaults.
type Limits struct {
	MaxBytes        int64         // size of the file; default 50 MiB
	MaxTextBytes    int64         // extracted text; default 20 MiB
	MaxUncompressed int64         // decompressed DOCX parts and PDF streams; default 200 MiB
	MaxDepth        int           // HTML element nesting tracked; default 256
	Timeout         time.Duration // time for one file; default 1 minute
}

const mib = 1 << 20

// WithDefaults fills the zero fields with the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 50 * mib
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = 20 * mib
	}
	if l.MaxUncompressed <= 0 {
		l.MaxUncompressed = 200 * mib
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 256
	}
	if l.Timeout <= 0 {
		l.Timeout = time.Minute
	}
	return l
}

// Reason says why a file could not be extracted.
type Reason string

const (
	ReasonTooLarge    Reason = "too_large"   // over a size, expansion or time limit
	ReasonUnsupported Reason = "unsupported" // not a format this package reads
	ReasonMalformed   Reason = "malformed"   // damaged or not what its name says
	ReasonEncrypted   Reason = "encrypted"   // password-protected
	ReasonNoText      Reason = "no_text"     // empty, or only images
)

// Error is why one file could not be extracted. Message is written for the
// admin who uploaded the file. It unwraps to a *domain.Error, so
// domain.ErrorCode and domain.ErrorMessage work on it.
type Error struct {
	Reason  Reason
	Message string
	cause   error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Message + ": " + e.cause.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() []error {
	code := domain.EINVALID
	if e.Reason == ReasonTooLarge {
		code = domain.ETOOLARGE
	}
	errs := []error{&domain.Error{Code: code, Message: e.Message}}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

func newError(reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func wrapError(cause error, reason Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...), cause: cause}
}

// ReasonOf returns the reason err carries, or "" when it is not an *Error
// (a cancelled context, for instance).
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// panicError is a bug caught in an extractor; it is reported, never hidden
// as bad input, so fuzzing finds it.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", p.value, p.stack) }

// errUnsupportedBinary is the answer for anything that is not a document.
func errUnsupportedBinary() *Error {
	return newError(ReasonUnsupported, "unsupported or binary file: upload Markdown, plain text, HTML, PDF or DOCX")
}

// sniffLen is how much of a file Detect looks at.
const sniffLen = 8 << 10

// Detect names the format of a file from its first bytes (up to 8 KiB are
// used), with the name's extension as a hint where the content allows more
// than one reading.
func Detect(name string, head []byte) (Format, error) {
	if len(head) > sniffLen {
		head = head[:sniffLen]
	}
	ext := strings.ToLower(path.Ext(baseName(name)))
	if len(head) == 0 {
		return "", newError(ReasonNoText, "the file is empty")
	}
	if bytes.HasPrefix(bytes.TrimLeft(head, "\x00\t\n\f\r "), []byte("%PDF-")) {
		return FormatPDF, nil
	}
	if i := bytes.Index(head, []byte("%PDF-")); i >= 0 && i < 1024 && ext == ".pdf" {
		return FormatPDF, nil // junk before the header, which readers accept
	}
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		if ext == ".docx" || bytes.Contains(head, []byte("word/")) {
			return FormatDOCX, nil
		}
		return "", newError(ReasonUnsupported, "a ZIP archive that is not a Word (DOCX) document is not supported")
	case bytes.HasPrefix(head, []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")):
		return "", newError(ReasonUnsupported, "legacy Office files (.doc) and password-protected Office documents are not supported: save the document as DOCX without a password, or as PDF")
	}
	if ext == ".pdf" || ext == ".docx" {
		return "", newError(ReasonMalformed, "the file is named %s but its content is not a %s document", ext, strings.ToUpper(ext[1:]))
	}
	if !looksLikeText(head) {
		return "", errUnsupportedBinary()
	}
	if looksLikeHTML(head) {
		return FormatHTML, nil
	}
	switch ext {
	case ".md", ".markdown", ".mdown", ".mkd", ".mkdn":
		return FormatMarkdown, nil
	case ".html", ".htm", ".xhtml":
		return FormatHTML, nil
	}
	return FormatText, nil
}

// looksLikeText reports whether head reads as text: UTF-16 with a byte
// order mark, or bytes that are mostly valid UTF-8 (Latin-1 text passes,
// to be repaired) with no NULs and few control characters.
func looksLikeText(head []byte) bool {
	if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
		return len(head)%2 == 0 || len(head) >= sniffLen
	}
	bad, n := 0, 0
	for i := 0; i < len(head); {
		c := head[i]
		n++
		if c < utf8.RuneSelf {
			switch {
			case c == 0:
				return false
			case c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b:
				bad++
			case c == 0x7f:
				bad++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(head[i:])
		if r == utf8.RuneError && size == 1 {
			// A rune cut off by the end of head is not evidence of binary.
			if len(head)-i < utf8.UTFMax && !utf8.FullRune(head[i:]) {
				break
			}
			bad++
		}
		i += size
	}
	return bad*5 <= n // at most 20% junk
}

func looksLikeHTML(head []byte) bool {
	s := head
	s = bytes.TrimPrefix(s, []byte("\xEF\xBB\xBF"))
	if bytes.HasPrefix(s, []byte{0xFF, 0xFE}) || bytes.HasPrefix(s, []byte{0xFE, 0xFF}) {
		s = []byte(decodeUTF16(s))
	}
	s = bytes.TrimLeft(s, " \t\r\n\f")
	// Skip an XML declaration and comments before the root element.
	for range 8 {
		switch {
		case bytes.HasPrefix(s, []byte("<?xml")), bytes.HasPrefix(s, []byte("<!--")):
			end := []byte("?>")
			if s[1] == '!' {
				end = []byte("-->")
			}
			i := bytes.Index(s, end)
			if i < 0 {
				return false
			}
			s = bytes.TrimLeft(s[i+len(end):], " \t\r\n\f")
			continue
		}
		break
	}
	lower := bytes.ToLower(s[:min(len(s), 32)])
	for _, p := range []string{"<!doctype html", "<html", "<head", "<body"} {
		if bytes.HasPrefix(lower, []byte(p)) {
			return true
		}
	}
	return false
}

// Extract reads the document in r (size bytes, named name) within lim.
func Extract(ctx context.Context, name string, r io.ReaderAt, size int64, lim Limits) (*Document, error) {
	lim = lim.WithDefaults()
	if size > lim.MaxBytes {
		return nil, newError(ReasonTooLarge, "the file is larger than %s", formatSize(lim.MaxBytes))
	}
	if size <= 0 {
		return nil, newError(ReasonNoText, "the file is empty")
	}
	head := make([]byte, min(size, sniffLen))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("extract %s: read: %w", baseName(name), err)
	}
	format, err := Detect(name, head)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, lim.Timeout, errTimeout)
	defer cancel()
	doc, err := extractFormat(ctx, format, name, r, size, lim)
	if err != nil {
		if errors.Is(context.Cause(ctx), errTimeout) {
			return nil, wrapError(err, ReasonTooLarge, "reading the file took longer than %s; split it into smaller documents", lim.Timeout)
		}
		return nil, err
	}
	return doc, nil
}

var errTimeout = errors.New("time limit for one file reached")

// extractFormat runs one extractor, turning a panic into an error.
func extractFormat(ctx context.Context, format Format, name string, r io.ReaderAt, size int64, lim Limits) (doc *Document, err error) {
	defer func() {
		if v := recover(); v != nil {
			doc, err = nil, wrapError(&panicError{value: v, stack: debug.Stack()}, ReasonMalformed, "the file could not be read")
		}
	}()
	b := newBuilder(ctx, lim.MaxTextBytes)
	switch format {
	case FormatDOCX:
		err = extractDOCX(ctx, r, size, lim, b)
	default:
		data := make([]byte, size)
		if _, rerr := r.ReadAt(data, 0); rerr != nil && !(errors.Is(rerr, io.EOF)) {
			return nil, fmt.Errorf("extract %s: read: %w", baseName(name), rerr)
		}
		switch format {
		case FormatMarkdown:
			err = extractMarkdown(data, b)
		case FormatText:
			err = extractText(data, b)
		case FormatHTML:
			err = extractHTML(data, lim, b)
		case FormatPDF:
			err = extractPDF(ctx, data, lim, b)
		default:
			err = errUnsupportedBinary()
		}
	}
	if err != nil {
		return nil, err
	}
	doc, err = b.finish(format)
	if err != nil {
		return nil, err
	}
	if doc.Title == "" {
		doc.Title = titleFromName(name)
	}
	return doc, nil
}

func baseName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// titleFromName turns "repeat_prescriptions.v2.pdf" into
// "repeat prescriptions.v2".
func titleFromName(name string) string {
	base := baseName(name)
	base = strings.TrimSuffix(base, path.Ext(base))
	base = strings.NewReplacer("_", " ").Replace(base)
	return cleanTitle(base)
}

func formatSize(n int64) string {
	switch {
	case n >= mib && n%mib == 0:
		return fmt.Sprintf("%d MiB", n/mib)
	case n >= mib:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
