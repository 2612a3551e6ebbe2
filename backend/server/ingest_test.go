package server_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestIngestCommand(t *testing.T) {
	vars := testEnv(t, "")
	dir := t.TempDir()
	for name, text := range map[string]string{
		"a.md": "# A\n\nAlpha.", "b.md": "# B\n\nBravo.", "sub/c.txt": "Charlie.", "junk.bin": "\x00\x01\x02\x00\xff\x00",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := run(t, vars, "", "ingest", "--visibility", "everyone", dir)
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`3 indexed, 0 unchanged, 0 removed, 1 failed`).MatchString(out) || !strings.Contains(out, "failed junk.bin:") || !strings.Contains(out, "4/4 files") {
		t.Fatalf("first run printed:\n%s", out)
	}
	os.Remove(filepath.Join(dir, "b.md"))
	out, err = run(t, vars, "", "ingest", dir)
	if err != nil || !strings.Contains(out, "0 indexed, 3 unchanged, 1 removed, 0 failed") || !strings.Contains(out, "already a source visible to everyone") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"ingest"}, {"ingest", "/no/such/folder"}, {"ingest", "--visibility", "public", dir},
		{"ingest", "--embeddings", "word2vec", dir}, {"ingest", "--knowledge-starter", "maybe", dir}} {
		if out, err := run(t, vars, "", args...); exitCode(err) != 2 {
			t.Fatalf("%v: exit %d, %s", args, exitCode(err), out)
		}
	}
}
