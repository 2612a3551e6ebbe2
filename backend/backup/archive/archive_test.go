package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// plainArchive is a small decrypted snapshot, the seed the fuzzer mutates.
func plainArchive(t testing.TB) []byte {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"healthhub.db": "SQLite format 3\x00 not really", "keyring.json": `{"keys":[]}`, "knowledge/a.md": "# A"}
	m := &Manifest{Format: FormatVersion, Created: time.Date(2026, 12, 7, 15, 30, 0, 0, time.UTC), Engine: "sqlite", Database: "healthhub.db",
		SchemaVersion: 3, Dirs: []string{"knowledge", "knowledge/empty"}}
	var entries []Entry
	for _, name := range []string{"healthhub.db", "keyring.json", "knowledge/a.md"} {
		src := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(src), 0o700)
		if err := os.WriteFile(src, []byte(files[name]), 0o600); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(files[name]))
		e := Entry{File: File{Path: name, Size: int64(len(files[name])), SHA256: hex.EncodeToString(sum[:]), Mode: 0o600}, Src: src}
		entries = append(entries, e)
		m.Files = append(m.Files, e.File)
	}
	var buf bytes.Buffer
	if err := Write(context.Background(), &buf, m, entries); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadArchiveReadsWhatWriteArchiveWrote(t *testing.T) {
	dir := t.TempDir()
	m, err := Read(context.Background(), bytes.NewReader(plainArchive(t)), dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 3 {
		t.Fatalf("manifest %+v", m)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "knowledge", "a.md")); string(b) != "# A" {
		t.Fatalf("knowledge/a.md is %q", b)
	}
	if info, err := os.Stat(filepath.Join(dir, "knowledge", "empty")); err != nil || !info.IsDir() {
		t.Fatalf("empty folder: %v", err)
	}
}

// FuzzReadArchive: whatever the (decrypted) input, the reader returns an
// error or files that match the manifest it returns; it never panics and
// never writes outside its folder.
func FuzzReadArchive(f *testing.F) {
	seed := plainArchive(f)
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add(seed[:512])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		parent, err := os.MkdirTemp("", "fuzz-archive-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(parent)
		dir := filepath.Join(parent, "into")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		m, err := Read(context.Background(), bytes.NewReader(data), dir, false)
		if entries, _ := os.ReadDir(parent); len(entries) != 1 {
			t.Fatalf("the reader wrote beside its folder: %v", entries)
		}
		if err != nil {
			return
		}
		for _, file := range m.Files {
			b, rerr := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file.Path)))
			sum := sha256.Sum256(b)
			if rerr != nil || int64(len(b)) != file.Size || hex.EncodeToString(sum[:]) != file.SHA256 {
				t.Fatalf("accepted file %s does not match its manifest entry (%v)", file.Path, rerr)
			}
		}
	})
}
