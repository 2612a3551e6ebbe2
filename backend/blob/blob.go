// Package blob stores large immutable content (images, recordings, uploaded
// documents, backups) by the SHA-256 of its bytes, in a local folder or an
// S3 bucket behind one interface. Content is streamed in and out, never held
// whole in memory, and every full read checks the bytes against their key.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// Key names a blob: the lowercase hex SHA-256 of its content (64 digits).
// Nothing else is a key, so a key can never name a path outside the store.
type Key string

// Ref is what a Put gives back: the blob's key and size in bytes.
type Ref struct {
	Key  Key
	Size int64
}

// Info describes a stored blob.
type Info struct {
	Ref
	// Modified is when the blob was last written. Garbage collection
	// should spare blobs younger than a grace period, since a Put's
	// caller may not have recorded its reference yet.
	Modified time.Time
}

// Store keeps blobs by content. Storing the same content twice keeps one
// blob. Implementations are safe for concurrent use.
type Store interface {
	// Put reads r to its end and stores what it read. Nothing is stored
	// when r or the store fails.
	Put(ctx context.Context, r io.Reader) (Ref, error)
	// Open streams a blob. Reading it to the end checks the content
	// against key: a blob that does not match ends in an error wrapping
	// ErrCorrupt instead of io.EOF.
	Open(ctx context.Context, key Key) (io.ReadCloser, error)
	// OpenRange streams length bytes from offset (to the end when length
	// is negative; fewer when the blob ends first). An offset past the end
	// is invalid. A part cannot be checked against the key as a whole: a
	// local blob is checked chunk by chunk by its encryption, an S3 blob
	// is trusted to S3.
	OpenRange(ctx context.Context, key Key, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, key Key) (Info, error)
	// Delete removes a blob; a blob that is not there is no error.
	Delete(ctx context.Context, key Key) error
	// List calls fn for each blob whose key sorts after after ("" for all),
	// in key order, until fn returns an error, which List returns. A blob
	// written or deleted during the walk may or may not be seen.
	List(ctx context.Context, after Key, fn func(Info) error) error
}

// ErrCorrupt marks content that does not match its key or a stored blob
// that cannot be decoded: a disk or bucket fault, or tampering.
var ErrCorrupt = errors.New("blob content is damaged or does not match its key")

// ParseKey checks that s is a key: 64 lowercase hex digits.
func ParseKey(s string) (Key, error) {
	if len(s) != 2*sha256.Size {
		return "", invalidKey(s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", invalidKey(s)
		}
	}
	return Key(s), nil
}

func invalidKey(s string) error {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return domain.Invalid("key", "%q is not a blob key: a key is the SHA-256 of the content in 64 lowercase hex digits", s)
}

// check returns k's own error when it is not a valid key.
func (k Key) check() error {
	_, err := ParseKey(string(k))
	return err
}

func notFound(k Key) error {
	return domain.Errorf(domain.ENOTFOUND, "Blob %s was not found.", k)
}

func keyOf(h hash.Hash) Key { return Key(hex.EncodeToString(h.Sum(nil))) }

// checkRange validates a range request against a blob of size bytes and
// returns the length to read.
func checkRange(size, offset, length int64) (int64, error) {
	if offset < 0 {
		return 0, domain.Invalid("offset", "the range cannot start before the blob (offset %d)", offset)
	}
	if offset > size {
		return 0, domain.Invalid("offset", "the range starts at byte %d, past the blob's end at %d", offset, size)
	}
	if length < 0 || length > size-offset {
		length = size - offset
	}
	return length, nil
}

// verifier hashes what is read through it and, at the end, turns io.EOF
// into an ErrCorrupt error unless the bytes match the key and size.
type verifier struct {
	r    io.ReadCloser
	key  Key
	size int64 // expected size, or -1 when unknown
	h    hash.Hash
	n    int64
	err  error
}

func newVerifier(r io.ReadCloser, key Key, size int64) *verifier {
	return &verifier{r: r, key: key, size: size, h: sha256.New()}
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		v.err = fmt.Errorf("blob %s: more than its %d bytes: %w", v.key, v.size, ErrCorrupt)
		return n, v.err
	}
	if err == io.EOF {
		if got := keyOf(v.h); got != v.key || v.size >= 0 && v.n != v.size {
			err = fmt.Errorf("blob %s: %d bytes read hash to %s: %w", v.key, v.n, got, ErrCorrupt)
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *verifier) Close() error { return v.r.Close() }
