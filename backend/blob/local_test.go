package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/blob/blobtest"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/secret"
)

func newLocal(t testing.TB, dir string, keys blob.Keyring) *blob.Local {
	t.Helper()
	s, err := blob.NewLocal(dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocal(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newLocal(t, t.TempDir(), secret.NewEphemeral()) })
}

func blobPath(dir string, k blob.Key) string { return filepath.Join(dir, string(k[:2]), string(k)) }

func TestLocalTamper(t *testing.T) {
	blobtest.RunTamper(t, func(t *testing.T) (blob.Store, func(blob.Key)) {
		dir := t.TempDir()
		return newLocal(t, dir, secret.NewEphemeral()), func(k blob.Key) {
			// One bit in the middle of the encrypted content.
			b, err := os.ReadFile(blobPath(dir, k))
			if err != nil {
				t.Fatal(err)
			}
			b[8+(len(b)-8-256)/2] ^= 1
			if err := os.WriteFile(blobPath(dir, k), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	})
}

const (
	fileHeader  = 8
	fileChunk   = 64<<10 + 16
	fileTrailer = 256
)

// TestLocalDamage: chunks dropped, moved, repeated or cut, and a file under
// another blob's name or read with another keyring, fail with ErrCorrupt;
// none reads as content.
func TestLocalDamage(t *testing.T) {
	content := blobtest.Random(4*64<<10+1000, 1) // five chunks, the last short
	chunk := func(b []byte, i int) []byte {
		return b[fileHeader+i*fileChunk : min(fileHeader+(i+1)*fileChunk, len(b)-fileTrailer)]
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, c := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"a middle chunk dropped", func(b []byte) []byte {
			return cat(b[:fileHeader], chunk(b, 0), chunk(b, 2), chunk(b, 3), chunk(b, 4), b[len(b)-fileTrailer:])
		}},
		{"two chunks swapped", func(b []byte) []byte {
			return cat(b[:fileHeader], chunk(b, 1), chunk(b, 0), chunk(b, 2), chunk(b, 3), chunk(b, 4), b[len(b)-fileTrailer:])
		}},
		{"the last chunk dropped", func(b []byte) []byte {
			return cat(b[:fileHeader], chunk(b, 0), chunk(b, 1), chunk(b, 2), chunk(b, 3), b[len(b)-fileTrailer:])
		}},
		{"a chunk repeated at the end", func(b []byte) []byte {
			return cat(b[:fileHeader], chunk(b, 0), chunk(b, 1), chunk(b, 2), chunk(b, 3), chunk(b, 4), chunk(b, 3), b[len(b)-fileTrailer:])
		}},
		{"cut short", func(b []byte) []byte { return b[:len(b)-1] }},
		{"cut after the header", func(b []byte) []byte { return b[:fileHeader] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"another header", func(b []byte) []byte { b[6] = 9; return b }},
		{"the trailer's length changed", func(b []byte) []byte { b[len(b)-fileTrailer+1]++; return b }},
		{"the trailer's padding changed", func(b []byte) []byte { b[len(b)-1] = 1; return b }},
		{"the sealed key changed", func(b []byte) []byte { b[len(b)-fileTrailer+20] ^= 4; return b }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newLocal(t, dir, secret.NewEphemeral())
			ref, err := s.Put(context.Background(), bytes.NewReader(content))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(blobPath(dir, ref.Key))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(blobPath(dir, ref.Key), c.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			wantCorrupt(t, s, ref.Key)
		})
	}
	t.Run("another blob's file", func(t *testing.T) {
		dir := t.TempDir()
		s := newLocal(t, dir, secret.NewEphemeral())
		a, _ := s.Put(context.Background(), bytes.NewReader(content))
		b, _ := s.Put(context.Background(), bytes.NewReader([]byte("another")))
		data, _ := os.ReadFile(blobPath(dir, a.Key))
		os.WriteFile(blobPath(dir, b.Key), data, 0o600)
		wantCorrupt(t, s, b.Key)
	})
	t.Run("another keyring", func(t *testing.T) {
		dir := t.TempDir()
		ref, _ := newLocal(t, dir, secret.NewEphemeral()).Put(context.Background(), bytes.NewReader(content))
		wantCorrupt(t, newLocal(t, dir, secret.NewEphemeral()), ref.Key)
	})
}

// wantCorrupt: opening k, reading it whole or reading every range of it
// that touches a damaged chunk fails with ErrCorrupt, and no read returns
// more than the store can vouch for.
func wantCorrupt(t *testing.T, s blob.Store, k blob.Key) {
	t.Helper()
	ctx := context.Background()
	r, err := s.Open(ctx, k)
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		r.Close()
	}
	if !errors.Is(err, blob.ErrCorrupt) {
		t.Fatalf("reading the whole blob: %v; want ErrCorrupt", err)
	}
	r, err = s.OpenRange(ctx, k, 0, -1)
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		r.Close()
	}
	if !errors.Is(err, blob.ErrCorrupt) {
		t.Fatalf("reading the whole blob by range: %v; want ErrCorrupt", err)
	}
}

// TestLocalFiles: blobs are encrypted at rest, kept by key in fan-out
// folders, readable by the server's user alone, and a failed Put leaves no
// temporary file.
func TestLocalFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	s := newLocal(t, dir, secret.NewEphemeral())
	content := bytes.Repeat([]byte("Patient: Ada Lovelace, diagnosis: asthma. "), 5000)
	ref, err := s.Put(context.Background(), bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(blobPath(dir, ref.Key))
	if err != nil {
		t.Fatalf("the blob is not at <dir>/<2 hex>/<key>: %v", err)
	}
	if bytes.Contains(b, []byte("Lovelace")) || bytes.Contains(b, content[:32]) {
		t.Fatal("the blob file holds its content in the clear")
	}
	if runtime.GOOS != "windows" {
		for _, p := range []string{dir, filepath.Dir(blobPath(dir, ref.Key)), filepath.Join(dir, "tmp")} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: %v %v; want a folder with mode 0700", p, fi.Mode(), err)
			}
		}
		if fi, _ := os.Stat(blobPath(dir, ref.Key)); fi.Mode().Perm() != 0o600 {
			t.Errorf("blob file mode %v; want 0600", fi.Mode())
		}
	}
	_, err = s.Put(context.Background(), io.MultiReader(bytes.NewReader(content), iotestErr{}))
	if err == nil {
		t.Fatal("a failing reader stored a blob")
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Fatalf("a failed put left %d temporary files", len(left))
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("disk unplugged") }

// TestLocalKeyRotation: blobs stored before the keyring's key is rotated
// still open; the new key seals the new ones.
func TestLocalKeyRotation(t *testing.T) {
	dir := t.TempDir()
	keys := secret.NewEphemeral()
	s := newLocal(t, dir, keys)
	old, err := s.Put(context.Background(), bytes.NewReader([]byte("before rotation")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	fresh, err := s.Put(context.Background(), bytes.NewReader([]byte("after rotation")))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []blob.Key{old.Key, fresh.Key} {
		r, err := s.Open(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(r); err != nil {
			t.Fatalf("%s after rotation: %v", k, err)
		}
		r.Close()
	}
}

// TestLocalRemovesStaleTemporaryFiles: a temporary file a dead process
// left a day ago goes when the store opens; a recent one may be a Put in
// progress in another process and stays.
func TestLocalRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	os.MkdirAll(tmp, 0o700)
	old, recent := filepath.Join(tmp, "put-old"), filepath.Join(tmp, "put-recent")
	os.WriteFile(old, []byte("x"), 0o600)
	os.WriteFile(recent, []byte("x"), 0o600)
	long := time.Now().Add(-25 * time.Hour)
	os.Chtimes(old, long, long)
	newLocal(t, dir, secret.NewEphemeral())
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a day-old temporary file stayed: %v", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent temporary file went: %v", err)
	}
}

// TestLocalStreams: storing and reading a large blob allocates a small,
// fixed amount, not the blob's size.
func TestLocalStreams(t *testing.T) {
	s := newLocal(t, t.TempDir(), secret.NewEphemeral())
	ctx := context.Background()
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	var ref blob.Ref
	put := allocated(func() {
		var err error
		if ref, err = s.Put(ctx, blobtest.Stream(blobtest.LargeSize, 3)); err != nil {
			t.Fatal(err)
		}
	})
	get := allocated(func() {
		r, err := s.Open(ctx, ref.Key)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if n, err := io.Copy(io.Discard, r); err != nil || n != blobtest.LargeSize {
			t.Fatalf("read %d bytes: %v", n, err)
		}
	})
	t.Logf("allocated for %d MiB: put %d KiB, read %d KiB", blobtest.LargeSize>>20, put>>10, get>>10)
	if limit := uint64(4 << 20); put > limit || get > limit {
		t.Fatalf("a %d MiB blob allocated %d bytes to store and %d to read; want under %d", blobtest.LargeSize>>20, put, get, limit)
	}
}

func TestLocalRefusesBadSettings(t *testing.T) {
	if _, err := blob.NewLocal("", secret.NewEphemeral()); err == nil {
		t.Error("no folder accepted")
	}
	if _, err := blob.NewLocal(t.TempDir(), nil); err == nil {
		t.Error("no keyring accepted")
	}
	s := newLocal(t, filepath.Join(t.TempDir(), "not", "made", "yet"), secret.NewEphemeral())
	var n int
	if err := s.List(context.Background(), "", func(blob.Info) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("listing a store whose folder is not made yet: %d, %v", n, err)
	}
	_, err := s.Stat(context.Background(), blobtest.KeyOf(nil))
	if !domain.IsCode(err, domain.ENOTFOUND) {
		t.Fatalf("stat in a store whose folder is not made yet: %v", err)
	}
}

func BenchmarkLocalPut(b *testing.B) {
	s := newLocal(b, b.TempDir(), secret.NewEphemeral())
	content := blobtest.Random(16<<20, 1)
	b.SetBytes(int64(len(content)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		content[0], content[1], content[2] = byte(i), byte(i>>8), byte(i>>16) // a new blob each time
		if _, err := s.Put(context.Background(), bytes.NewReader(content)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLocalOpen(b *testing.B) {
	s := newLocal(b, b.TempDir(), secret.NewEphemeral())
	ref, err := s.Put(context.Background(), bytes.NewReader(blobtest.Random(16<<20, 1)))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(ref.Size)
	for b.Loop() {
		r, err := s.Open(context.Background(), ref.Key)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
