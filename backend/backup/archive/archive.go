// Package archive is the layout of a HealthHub snapshot once decrypted: a
// tar stream whose first entry is a JSON manifest (format, version, time,
// schema version, and each file's size and SHA-256), followed by exactly
// the files the manifest lists, in its order.
package archive

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// FormatVersion is the archive layout this package writes and reads.
const FormatVersion = 1

// ManifestName is the archive's first entry.
const ManifestName = "manifest.json"

// maxManifest bounds the manifest a reader accepts, so a damaged or hostile
// archive cannot make it allocate without limit.
const maxManifest = 16 << 20

// Manifest describes a snapshot: it is the archive's first entry, and a
// restore checks every file against it.
type Manifest struct {
	Format           int       `json:"format"`
	HealthHubVersion string    `json:"healthhub_version"`
	Created          time.Time `json:"created"`
	Engine           string    `json:"engine"`
	// Database is the path of the database copy in the archive.
	Database      string `json:"database"`
	SchemaVersion int    `json:"schema_version"`
	// Dirs are the folders to make, empty ones included; Files follow the
	// manifest in the archive in this order.
	Dirs  []string `json:"dirs"`
	Files []File   `json:"files"`
}

// File is one file of a snapshot.
type File struct {
	Path    string      `json:"path"` // slash-separated, relative to the data folder
	Size    int64       `json:"size"`
	SHA256  string      `json:"sha256"`
	Mode    fs.FileMode `json:"mode"`
	ModTime time.Time   `json:"mod_time"`
}

// Bytes is the total size of the manifest's files.
func (m *Manifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// validPath reports whether p is a clean, slash-separated path inside the
// folder being restored.
func validPath(p string) bool {
	return p != "" && p != "." && path.Clean(p) == p && !strings.ContainsAny(p, "\\\x00") && filepath.IsLocal(filepath.FromSlash(p))
}

// Check refuses a manifest a restore could not follow safely.
func (m *Manifest) Check() error {
	if m.Format != FormatVersion {
		return fmt.Errorf("archive format %d is not one this version reads (%d)", m.Format, FormatVersion)
	}
	if m.Engine != "sqlite" {
		return fmt.Errorf("the snapshot is of a %q database, not sqlite", m.Engine)
	}
	seen := make(map[string]bool, len(m.Files)+len(m.Dirs))
	for _, d := range m.Dirs {
		if !validPath(d) || seen[d] {
			return fmt.Errorf("manifest: bad or repeated folder %q", d)
		}
		seen[d] = true
	}
	hasDB := false
	for _, f := range m.Files {
		if !validPath(f.Path) || seen[f.Path] || f.Path == ManifestName {
			return fmt.Errorf("manifest: bad or repeated file %q", f.Path)
		}
		seen[f.Path] = true
		if f.Size < 0 {
			return fmt.Errorf("manifest: file %q has a negative size", f.Path)
		}
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("manifest: file %q has no valid SHA-256", f.Path)
		}
		hasDB = hasDB || f.Path == m.Database
	}
	if !hasDB {
		return fmt.Errorf("manifest: the database %q is not among the files", m.Database)
	}
	return nil
}

// Entry is a file to archive: its manifest record and where to read it.
type Entry struct {
	File
	Src string
}

// ErrChanged reports a file that changed between hashing and archiving.
var ErrChanged = errors.New("changed while the snapshot was being taken")

// Write writes the manifest and then each file, as a tar stream, to
// w. Each file is read again and must still match the size and SHA-256 the
// manifest records for it.
func Write(ctx context.Context, w io.Writer, m *Manifest, entries []Entry) error {
	tw := tar.NewWriter(w)
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Mode: 0o600, Size: int64(len(body)), ModTime: m.Created, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(body); err != nil {
		return err
	}
	for _, e := range entries {
		if err := writeEntry(ctx, tw, e); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeEntry(ctx context.Context, tw *tar.Writer, e Entry) error {
	f, err := os.Open(e.Src)
	if err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	defer f.Close()
	hdr := &tar.Header{Name: e.Path, Mode: int64(e.Mode.Perm()), Size: e.Size, ModTime: e.ModTime, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(ctxReader{ctx, f}, e.Size))
	if err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	if n != e.Size || hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
		return fmt.Errorf("%s %w", e.Path, ErrChanged)
	}
	return nil
}

// ErrDamaged is the error of an archive that is not whole: altered,
// truncated, or not a snapshot at all.
var ErrDamaged = errors.New("the snapshot is damaged or was altered")

// Damaged is ErrDamaged with what was found wrong.
func Damaged(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrDamaged, fmt.Sprintf(format, args...))
}

// Read reads a decrypted snapshot from r into the empty folder dir:
// the manifest, then every file it lists, in order, each checked against
// its size and SHA-256. Anything else in the stream, missing or extra, is
// refused. r is outside input: it may be anything. durable syncs each file
// to disk once written.
func Read(ctx context.Context, r io.Reader, dir string, durable bool) (*Manifest, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		return nil, Damaged("no manifest: %v", err)
	}
	if hdr.Name != ManifestName || hdr.Typeflag != tar.TypeReg || hdr.Size < 0 || hdr.Size > maxManifest {
		return nil, Damaged("the archive does not begin with its manifest")
	}
	body, err := io.ReadAll(tr)
	if err != nil {
		return nil, Damaged("manifest: %v", err)
	}
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, Damaged("manifest: %v", err)
	}
	if err := m.Check(); err != nil {
		return nil, Damaged("%v", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	for _, d := range m.Dirs {
		if err := root.MkdirAll(filepath.FromSlash(d), 0o700); err != nil {
			return nil, fmt.Errorf("make folder %s: %w", d, err)
		}
	}
	for _, f := range m.Files {
		hdr, err := tr.Next()
		if err != nil {
			return nil, Damaged("file %s is missing: %v", f.Path, err)
		}
		if hdr.Name != f.Path || hdr.Typeflag != tar.TypeReg || hdr.Size != f.Size {
			return nil, Damaged("expected file %s (%d bytes), found %q (%d bytes)", f.Path, f.Size, hdr.Name, hdr.Size)
		}
		if err := extractFile(ctx, root, tr, f, durable); err != nil {
			return nil, err
		}
	}
	if hdr, err := tr.Next(); err != io.EOF {
		if err == nil {
			return nil, Damaged("unexpected entry %q after the listed files", hdr.Name)
		}
		return nil, Damaged("end of archive: %v", err)
	}
	// The encryption authenticates the stream up to its last chunk: read it
	// all, so a cut-off or extended file is noticed too.
	if _, err := io.Copy(io.Discard, ctxReader{ctx, r}); err != nil {
		return nil, Damaged("end of archive: %v", err)
	}
	return &m, nil
}

func extractFile(ctx context.Context, root *os.Root, r io.Reader, f File, durable bool) error {
	name := filepath.FromSlash(f.Path)
	if d := filepath.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("make folder for %s: %w", f.Path, err)
		}
	}
	// Owner read and write at least, nothing for others beyond what was recorded.
	mode := f.Mode.Perm()&0o770 | 0o600
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("restore %s: %w", f.Path, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), ctxReader{ctx, r})
	if err == nil && durable {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return Damaged("file %s: %v", f.Path, err)
	}
	if n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
		return Damaged("file %s does not match its SHA-256 in the manifest", f.Path)
	}
	if !f.ModTime.IsZero() {
		root.Chtimes(name, f.ModTime, f.ModTime) // best effort: watchers compare times
	}
	return nil
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
