// Package frontend exposes the built web UI (frontend/dist) to the Go
// binaries. The build writes dist before compiling Go; without it the server
// runs API-only.
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the built UI with index.html at its root, or nil when this
// binary was built without one.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return nil
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil
	}
	return sub
}
