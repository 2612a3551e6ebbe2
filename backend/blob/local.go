package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Local keeps blobs encrypted in a folder: each in <dir>/<first two hex
// digits of its key>/<key>, written to <dir>/tmp first, synced to disk and
// renamed into place, so a crash leaves a whole blob or none.
type Local struct {
	dir  string
	keys Keyring
}

var _ Store = (*Local)(nil)

// staleTemp is the age after which a temporary file is taken to be left
// over from a Put that never finished (the process died).
const staleTemp = 24 * time.Hour

// NewLocal returns the store in dir, whose file keys keys seals. The folder
// is made on the first Put. Temporary files older than a day, left by Puts
// that never finished, are removed.
func NewLocal(dir string, keys Keyring) (*Local, error) {
	if dir == "" {
		return nil, errors.New("blob: the local store needs a folder")
	}
	if keys == nil {
		return nil, errors.New("blob: the local store needs a keyring to encrypt with")
	}
	l := &Local{dir: dir, keys: keys}
	l.removeStaleTemp(time.Now())
	return l, nil
}

func (l *Local) tmpDir() string { return filepath.Join(l.dir, "tmp") }

func (l *Local) path(k Key) string { return filepath.Join(l.dir, string(k[:2]), string(k)) }

func (l *Local) removeStaleTemp(now time.Time) {
	entries, err := os.ReadDir(l.tmpDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleTemp {
			os.Remove(filepath.Join(l.tmpDir(), e.Name()))
		}
	}
}

// Put encrypts r into a temporary file and renames it into place. When the
// blob is there already the new copy is dropped and the old one's time
// refreshed, so a collection of unused blobs in progress spares it.
func (l *Local) Put(ctx context.Context, r io.Reader) (Ref, error) {
	if err := ctx.Err(); err != nil {
		return Ref{}, err
	}
	if err := mkdir(l.tmpDir()); err != nil {
		return Ref{}, fmt.Errorf("blob folder: %w", err)
	}
	f, err := os.CreateTemp(l.tmpDir(), "put-*")
	if err != nil {
		return Ref{}, fmt.Errorf("blob folder: %w", err)
	}
	defer os.Remove(f.Name()) // gone after the rename; cleans up a failure
	ref, err := v1.encrypt(ctx, f, r, l.keys)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Ref{}, fmt.Errorf("store blob: %w", err)
	}
	final := l.path(ref.Key)
	if err := mkdir(filepath.Dir(final)); err != nil {
		return Ref{}, fmt.Errorf("blob folder: %w", err)
	}
	if _, err := os.Stat(final); err == nil {
		now := time.Now()
		os.Chtimes(final, now, now)
		return ref, nil
	}
	if err := os.Rename(f.Name(), final); err != nil {
		// A concurrent Put of the same content may hold the file open
		// where that forbids replacing it (Windows): it is there.
		if _, serr := os.Stat(final); serr == nil {
			return ref, nil
		}
		return Ref{}, fmt.Errorf("store blob: %w", err)
	}
	syncDir(filepath.Dir(final))
	return ref, nil
}

// mkdir makes dir (mode 0700) and its parents, syncing the parent of each
// folder it makes so the new folder survives a crash.
func mkdir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdir(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	syncDir(parent)
	return nil
}

// syncDir makes renames and new entries in dir durable where the system
// allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Open decrypts the blob as it is read; reading to the end also checks the
// content against key.
func (l *Local) Open(ctx context.Context, key Key) (io.ReadCloser, error) {
	f, bf, err := l.open(key)
	if err != nil {
		return nil, err
	}
	return readCloser{newVerifier(io.NopCloser(bf.whole()), key, bf.size), f}, nil
}

// OpenRange decrypts only the chunks that hold the range.
func (l *Local) OpenRange(ctx context.Context, key Key, offset, length int64) (io.ReadCloser, error) {
	f, bf, err := l.open(key)
	if err != nil {
		return nil, err
	}
	n, err := checkRange(bf.size, offset, length)
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{bf.reader(offset, n), f}, nil
}

func (l *Local) open(key Key) (*os.File, *blobFile, error) {
	if err := key.check(); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(l.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, notFound(key)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open blob: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("open blob: %w", err)
	}
	bf, err := v1.open(f, info.Size(), key, l.keys)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, bf, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Stat reads only the file's size and time: the content size follows.
func (l *Local) Stat(ctx context.Context, key Key) (Info, error) {
	if err := key.check(); err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(l.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, notFound(key)
	}
	if err != nil {
		return Info{}, fmt.Errorf("stat blob: %w", err)
	}
	return fileInfo(key, fi)
}

func fileInfo(key Key, fi fs.FileInfo) (Info, error) {
	size, _, ok := v1.layout(fi.Size())
	if !ok {
		return Info{}, corrupt(key, "a blob file cannot be %d bytes long", fi.Size())
	}
	return Info{Ref: Ref{Key: key, Size: size}, Modified: fi.ModTime()}, nil
}

// Delete removes the blob's file.
func (l *Local) Delete(ctx context.Context, key Key) error {
	if err := key.check(); err != nil {
		return err
	}
	if err := os.Remove(l.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob: %w", err)
	}
	return nil
}

// List walks the fan-out folders in order; files that are not blobs (such
// as the temporary folder) are passed over.
func (l *Local) List(ctx context.Context, after Key, fn func(Info) error) error {
	if after != "" {
		if err := after.check(); err != nil {
			return err
		}
	}
	dirs, err := os.ReadDir(l.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	for _, d := range dirs {
		prefix := d.Name()
		if !d.IsDir() || !isFanOut(prefix) || after != "" && prefix < string(after[:2]) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(l.dir, prefix))
		if err != nil {
			return fmt.Errorf("list blobs: %w", err)
		}
		for _, f := range files {
			key, err := ParseKey(f.Name())
			if err != nil || !strings.HasPrefix(f.Name(), prefix) || key <= after || !f.Type().IsRegular() {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			fi, err := f.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since the folder was read
			}
			if err != nil {
				return fmt.Errorf("list blobs: %w", err)
			}
			info, err := fileInfo(key, fi)
			if err != nil {
				return err
			}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

func isFanOut(name string) bool {
	if len(name) != 2 {
		return false
	}
	for i := 0; i < 2; i++ {
		if c := name[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
