// Package blobtest is the conformance suite every blob.Store passes: the
// local folder and S3 run the same tests.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/domain"
)

// LargeSize is the size of the blob that shows content streams through a
// store: larger than any buffer a store should hold.
const LargeSize = 64 << 20

// Run checks the stores open makes; each call returns a new, empty store.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Large", testLarge},
		{"SameContentIsOneBlob", testSameContent},
		{"ConcurrentPuts", testConcurrentPuts},
		{"NotFound", testNotFound},
		{"BadKeys", testBadKeys},
		{"Delete", testDelete},
		{"Ranges", testRanges},
		{"List", testList},
		{"FailedPutStoresNothing", testFailedPut},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// RunTamper checks that damage to a stored blob is found: open returns a
// new, empty store and a function that changes the stored bytes of a blob
// behind the store's back, as a disk or bucket fault would.
func RunTamper(t *testing.T, open func(t *testing.T) (blob.Store, func(blob.Key))) {
	for _, size := range []int{0, 1, 70_000, 300_000} {
		t.Run(fmt.Sprint(size, " bytes"), func(t *testing.T) {
			t.Parallel()
			s, tamper := open(t)
			ref := put(t, s, Random(size, uint64(size)))
			tamper(ref.Key)
			r, err := s.Open(context.Background(), ref.Key)
			if err == nil {
				_, err = io.Copy(io.Discard, r)
				r.Close()
			}
			if !errors.Is(err, blob.ErrCorrupt) {
				t.Fatalf("reading a damaged blob to its end: %v; want an error wrapping blob.ErrCorrupt", err)
			}
		})
	}
}

// Random returns n pseudo-random bytes from seed.
func Random(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8(seedOf(seed)).Read(b)
	return b
}

// Stream returns n pseudo-random bytes from seed, made as they are read.
func Stream(n int64, seed uint64) io.Reader {
	return io.LimitReader(rand.NewChaCha8(seedOf(seed)), n)
}

func seedOf(n uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(n >> (8 * i))
	}
	return s
}

// KeyOf is the key of content b.
func KeyOf(b []byte) blob.Key {
	sum := sha256.Sum256(b)
	return blob.Key(hex.EncodeToString(sum[:]))
}

func put(t *testing.T, s blob.Store, b []byte) blob.Ref {
	t.Helper()
	ref, err := s.Put(context.Background(), bytes.NewReader(b))
	if err != nil {
		t.Fatalf("put %d bytes: %v", len(b), err)
	}
	if want := (blob.Ref{Key: KeyOf(b), Size: int64(len(b))}); ref != want {
		t.Fatalf("put %d bytes gave %+v; want %+v", len(b), ref, want)
	}
	return ref
}

func read(t *testing.T, s blob.Store, k blob.Key) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), k)
	if err != nil {
		t.Fatalf("open %s: %v", k, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", k, err)
	}
	return b
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if !domain.IsCode(err, code) {
		t.Errorf("%s: %v; want a %s error", what, err, code)
	}
}

func testRoundTrip(t *testing.T, s blob.Store) {
	ctx := context.Background()
	for i, size := range []int{0, 1, 1000, 64<<10 - 1, 64 << 10, 64<<10 + 1, 200_000} {
		b := Random(size, uint64(i))
		before := time.Now()
		ref := put(t, s, b)
		if got := read(t, s, ref.Key); !bytes.Equal(got, b) {
			t.Fatalf("%d bytes read back as %d different bytes", size, len(got))
		}
		info, err := s.Stat(ctx, ref.Key)
		if err != nil || info.Ref != ref {
			t.Fatalf("stat %+v: %+v, %v", ref, info, err)
		}
		// S3 keeps whole seconds.
		if info.Modified.Before(before.Add(-2*time.Second)) || info.Modified.After(time.Now().Add(2*time.Second)) {
			t.Errorf("modified %v; stored between %v and now", info.Modified, before)
		}
	}
}

func testLarge(t *testing.T, s blob.Store) {
	ctx := context.Background()
	h := sha256.New()
	ref, err := s.Put(ctx, io.TeeReader(Stream(LargeSize, 64), h))
	if err != nil {
		t.Fatal(err)
	}
	if want := blob.Key(hex.EncodeToString(h.Sum(nil))); ref.Key != want || ref.Size != LargeSize {
		t.Fatalf("put gave %+v; want key %s and %d bytes", ref, want, LargeSize)
	}
	r, err := s.Open(ctx, ref.Key)
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	n, err := io.Copy(h, r)
	r.Close()
	if err != nil || n != LargeSize || blob.Key(hex.EncodeToString(h.Sum(nil))) != ref.Key {
		t.Fatalf("read back %d bytes (%v), hashing to %x", n, err, h.Sum(nil))
	}
	// The last bytes, by range.
	tail := Stream(LargeSize, 64)
	io.CopyN(io.Discard, tail, LargeSize-100_000)
	want, _ := io.ReadAll(tail)
	r, err = s.OpenRange(ctx, ref.Key, LargeSize-100_000, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the last 100,000 bytes read as %d bytes (%v), equal %v", len(got), err, bytes.Equal(got, want))
	}
}

func testSameContent(t *testing.T, s blob.Store) {
	b := Random(100_000, 7)
	first := put(t, s, b)
	second := put(t, s, b)
	if first != second {
		t.Fatalf("the same content stored as %+v and %+v", first, second)
	}
	if keys := list(t, s, ""); len(keys) != 1 || keys[0] != first.Key {
		t.Fatalf("listed %v; want one blob", keys)
	}
}

func testConcurrentPuts(t *testing.T, s blob.Store) {
	same := Random(300_000, 8)
	var wg sync.WaitGroup
	refs := make([]blob.Ref, 12)
	errs := make([]error, len(refs))
	for i := range refs {
		wg.Go(func() {
			b := same
			if i%2 == 1 {
				b = Random(50_000+i, uint64(100+i))
			}
			refs[i], errs[i] = s.Put(context.Background(), bytes.NewReader(b))
		})
	}
	wg.Wait()
	want := map[blob.Key]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if i%2 == 0 && refs[i].Key != KeyOf(same) {
			t.Fatalf("put %d of the shared content gave %s", i, refs[i].Key)
		}
		want[refs[i].Key] = true
	}
	if got := read(t, s, KeyOf(same)); !bytes.Equal(got, same) {
		t.Fatal("the content put from several goroutines at once reads back different")
	}
	if keys := list(t, s, ""); len(keys) != len(want) {
		t.Fatalf("listed %d blobs; want %d", len(keys), len(want))
	}
}

// missing is a well-formed key of content no test stores.
var missing = KeyOf([]byte("never stored"))

func testNotFound(t *testing.T, s blob.Store) {
	ctx := context.Background()
	put(t, s, []byte("something else"))
	_, err := s.Open(ctx, missing)
	wantCode(t, "open", err, domain.ENOTFOUND)
	_, err = s.OpenRange(ctx, missing, 0, 10)
	wantCode(t, "open a range", err, domain.ENOTFOUND)
	_, err = s.OpenRange(ctx, missing, 0, 0)
	wantCode(t, "open an empty range", err, domain.ENOTFOUND)
	_, err = s.Stat(ctx, missing)
	wantCode(t, "stat", err, domain.ENOTFOUND)
	if err := s.Delete(ctx, missing); err != nil {
		t.Errorf("deleting a blob that is not there: %v", err)
	}
}

func testBadKeys(t *testing.T, s blob.Store) {
	ctx := context.Background()
	good := string(put(t, s, []byte("a blob")).Key)
	for _, k := range []string{
		"", "../../../etc/passwd", "..", "tmp", good[:63], good + "0", withSlash(good),
		"AB" + good[2:], "../" + good[3:], good[:2] + "/" + good[3:], " " + good[1:], "g" + good[1:],
		"sha256/" + good, good[:62] + "\x00a",
	} {
		key := blob.Key(k)
		_, err := s.Open(ctx, key)
		wantCode(t, fmt.Sprintf("open %q", k), err, domain.EINVALID)
		_, err = s.OpenRange(ctx, key, 0, 1)
		wantCode(t, fmt.Sprintf("open a range of %q", k), err, domain.EINVALID)
		_, err = s.Stat(ctx, key)
		wantCode(t, fmt.Sprintf("stat %q", k), err, domain.EINVALID)
		wantCode(t, fmt.Sprintf("delete %q", k), s.Delete(ctx, key), domain.EINVALID)
		if k != "" {
			wantCode(t, fmt.Sprintf("list after %q", k), s.List(ctx, key, func(blob.Info) error { return nil }), domain.EINVALID)
		}
	}
	if got := read(t, s, blob.Key(good)); string(got) != "a blob" {
		t.Fatalf("the blob now reads %q", got)
	}
}

// withSlash puts a slash in the middle of k.
func withSlash(k string) string { return k[:32] + "/" + k[33:] }

func testDelete(t *testing.T, s blob.Store) {
	ctx := context.Background()
	b := Random(90_000, 9)
	keep := put(t, s, []byte("kept"))
	ref := put(t, s, b)
	if err := s.Delete(ctx, ref.Key); err != nil {
		t.Fatal(err)
	}
	_, err := s.Stat(ctx, ref.Key)
	wantCode(t, "stat after delete", err, domain.ENOTFOUND)
	_, err = s.Open(ctx, ref.Key)
	wantCode(t, "open after delete", err, domain.ENOTFOUND)
	if err := s.Delete(ctx, ref.Key); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if keys := list(t, s, ""); len(keys) != 1 || keys[0] != keep.Key {
		t.Fatalf("listed %v after delete; want only %s", keys, keep.Key)
	}
	put(t, s, b)
	if got := read(t, s, ref.Key); !bytes.Equal(got, b) {
		t.Fatal("stored again after delete, the blob reads back different")
	}
}

func testRanges(t *testing.T, s blob.Store) {
	ctx := context.Background()
	b := Random(200_000, 10)
	ref := put(t, s, b)
	for _, c := range []struct{ offset, length int64 }{
		{0, -1}, {0, 10}, {0, 200_000}, {65_530, 20}, {65_536, 65_536}, {1, 199_999}, {131_071, 2},
		{199_990, 100}, {199_999, -1}, {200_000, -1}, {200_000, 5}, {5, 0}, {200_000, 0}, {5, math.MaxInt64},
	} {
		r, err := s.OpenRange(ctx, ref.Key, c.offset, c.length)
		if err != nil {
			t.Errorf("range %+v: %v", c, err)
			continue
		}
		got, err := io.ReadAll(r)
		r.Close()
		end := int64(len(b))
		if c.length >= 0 && c.length < end {
			end = min(end, c.offset+c.length)
		}
		if err != nil || !bytes.Equal(got, b[c.offset:end]) {
			t.Errorf("range %+v read %d bytes (%v); want bytes %d to %d", c, len(got), err, c.offset, end)
		}
	}
	for _, c := range []struct{ offset, length int64 }{{200_001, 1}, {300_000, -1}, {200_001, 0}, {-1, 5}} {
		_, err := s.OpenRange(ctx, ref.Key, c.offset, c.length)
		wantCode(t, fmt.Sprintf("range %+v", c), err, domain.EINVALID)
	}
	empty := put(t, s, nil)
	r, err := s.OpenRange(ctx, empty.Key, 0, -1)
	if err != nil {
		t.Fatalf("the whole of an empty blob: %v", err)
	}
	if got, err := io.ReadAll(r); err != nil || len(got) != 0 {
		t.Fatalf("the whole of an empty blob: %d bytes, %v", len(got), err)
	}
	r.Close()
}

func list(t *testing.T, s blob.Store, after blob.Key) []blob.Key {
	t.Helper()
	var keys []blob.Key
	if err := s.List(context.Background(), after, func(i blob.Info) error {
		keys = append(keys, i.Key)
		return nil
	}); err != nil {
		t.Fatalf("list: %v", err)
	}
	return keys
}

func testList(t *testing.T, s blob.Store) {
	ctx := context.Background()
	if keys := list(t, s, ""); len(keys) != 0 {
		t.Fatalf("a new store lists %v", keys)
	}
	sizes := map[blob.Key]int64{}
	for i := range 25 {
		ref := put(t, s, Random(i*997, uint64(1000+i)))
		sizes[ref.Key] = ref.Size
	}
	want := make([]blob.Key, 0, len(sizes))
	for k := range sizes {
		want = append(want, k)
	}
	slices.Sort(want)
	var got []blob.Key
	if err := s.List(ctx, "", func(i blob.Info) error {
		got = append(got, i.Key)
		if i.Size != sizes[i.Key] || i.Modified.IsZero() {
			t.Errorf("listed %+v; want size %d and a time", i, sizes[i.Key])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v;\nwant %v", got, want)
	}
	if got := list(t, s, want[10]); !slices.Equal(got, want[11:]) {
		t.Fatalf("listed after the 11th: %v;\nwant %v", got, want[11:])
	}
	if got := list(t, s, want[len(want)-1]); len(got) != 0 {
		t.Fatalf("listed after the last: %v", got)
	}
	if got := list(t, s, missing); !slices.Equal(got, afterKey(want, missing)) {
		t.Fatalf("listed after a key not stored: %v", got)
	}
	stop := errors.New("enough")
	n := 0
	err := s.List(ctx, "", func(blob.Info) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("an error from fn: list returned %v after %d calls", err, n)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.List(cancelled, "", func(blob.Info) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("list with a cancelled context: %v", err)
	}
}

func afterKey(keys []blob.Key, after blob.Key) []blob.Key {
	var out []blob.Key
	for _, k := range keys {
		if k > after {
			out = append(out, k)
		}
	}
	return out
}

// failing gives n bytes and then err.
type failing struct {
	r   io.Reader
	err error
}

func (f *failing) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func testFailedPut(t *testing.T, s blob.Store) {
	ctx := context.Background()
	broken := errors.New("the upload broke off")
	// A small blob, and one large enough to be sent in parts.
	for _, n := range []int64{100_000, 40 << 20} {
		_, err := s.Put(ctx, &failing{Stream(n, uint64(n)), broken})
		if !errors.Is(err, broken) {
			t.Fatalf("put of a reader failing after %d bytes: %v; want its error", n, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cancelled, Stream(100_000, 11)); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with a cancelled context: %v", err)
	}
	if keys := list(t, s, ""); len(keys) != 0 {
		t.Fatalf("failed puts left %v", keys)
	}
}
