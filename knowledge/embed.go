// Package starter holds the starter knowledge base: short sample documents
// of the kind a clinic keeps, which a new standalone install indexes so the
// assistant has something to answer from until the clinic adds its own.
package starter

import (
	"embed"
	"io/fs"
)

//go:embed *.md
var docs embed.FS

// Files returns the starter documents (Markdown, at the root).
func Files() fs.FS { return docs }
