package httpapi

import (
	"bytes"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// handleUI serves the built web UI: hashed assets are cached for a year,
// index.html never, and client-side routes fall back to index.html. Without
// a built UI it serves a short page saying where the API is.
func (s *Server) handleUI() http.Handler {
	index, err := fs.ReadFile(orEmpty(s.cfg.UI), "index.html")
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
			w.Write([]byte(noUIPage))
		})
	}
	files := http.FileServerFS(s.cfg.UI)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; frame-ancestors 'none'")
		p := strings.TrimPrefix(path.Clean("/"+r.PathValue("path")), "/")
		if p != "" && p != "index.html" {
			if st, err := fs.Stat(s.cfg.UI, p); err == nil && !st.IsDir() {
				if strings.HasPrefix(p, "assets/") {
					w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
				} else {
					w.Header().Set("Cache-Control", "no-cache")
				}
				files.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(index))
	})
}

type emptyFS struct{}

func (emptyFS) Open(string) (fs.File, error) { return nil, fs.ErrNotExist }

func orEmpty(f fs.FS) fs.FS {
	if f == nil {
		return emptyFS{}
	}
	return f
}

const noUIPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>HealthHub</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#1f2933}</style></head>
<body><h1>HealthHub server is running</h1>
<p>This build has no web UI bundled. The API is described at <a href="/api/openapi.json">/api/openapi.json</a>;
health at <a href="/healthz">/healthz</a> and <a href="/readyz">/readyz</a>.</p></body></html>`
