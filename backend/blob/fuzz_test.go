package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/healthhub/healthhub/backend/secret"
)

// FuzzLocalBlobFile reads arbitrary bytes as a local blob file, as a
// damaged disk could leave one: every fault is an ErrCorrupt error, never a
// panic, and whatever does decrypt is the blob's own content.
func FuzzLocalBlobFile(f *testing.F) {
	// The same keyring in every fuzzing process, so each can open the
	// files the others make.
	ring := filepath.Join(f.TempDir(), "keyring.json")
	if err := os.WriteFile(ring, []byte(`{"active":"kfuzz","keys":{"kfuzz":"ZnV6ei1rZXktZm9yLWJsb2ItZmlsZXMtb25seS0wMDA="}}`), 0o600); err != nil {
		f.Fatal(err)
	}
	keys, err := secret.LoadOrCreate(ring)
	if err != nil {
		f.Fatal(err)
	}
	var (
		names    []Key
		contents = map[Key][]byte{}
	)
	// Chunks of 64 bytes: many chunks in inputs small enough to fuzz fast.
	small := format{chunk: 64}
	sealed := int(small.sealedChunk())
	for i, size := range []int{0, 1, 63, 64, 65, 200, 1000} {
		content := make([]byte, size)
		rand.NewChaCha8([32]byte{byte(i)}).Read(content)
		var file bytes.Buffer
		ref, err := small.encrypt(context.Background(), &file, bytes.NewReader(content), keys)
		if err != nil {
			f.Fatal(err)
		}
		names = append(names, ref.Key)
		contents[ref.Key] = content
		b := file.Bytes()
		f.Add(b, uint8(i), uint32(0), int32(-1))
		f.Add(b, uint8(i), uint32(size/2), int32(size/3+1))
		if len(b) > len(header)+trailerSize+2*sealed {
			moved := bytes.Clone(b)
			copy(moved[len(header):], b[len(header)+sealed:len(header)+2*sealed])
			copy(moved[len(header)+sealed:], b[len(header):len(header)+sealed])
			f.Add(moved, uint8(i), uint32(small.chunk), int32(10))
		}
		f.Add(b[:len(b)/2], uint8(i), uint32(1), int32(-1))
	}
	f.Fuzz(func(t *testing.T, file []byte, which uint8, offset uint32, length int32) {
		key := names[int(which)%len(names)]
		content := contents[key]
		bf, err := small.open(bytes.NewReader(file), int64(len(file)), key, keys)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("opening: %v; want ErrCorrupt", err)
			}
			return
		}
		got, err := io.ReadAll(newVerifier(io.NopCloser(bf.whole()), key, bf.size))
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("reading: %v; want ErrCorrupt", err)
		}
		if err == nil && !bytes.Equal(got, content) {
			t.Fatalf("read %d bytes that are not the blob's content without an error", len(got))
		}
		off := int64(offset) % (bf.size + 1)
		n, err := checkRange(bf.size, off, int64(length))
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(bf.reader(off, n))
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("reading a range: %v; want ErrCorrupt", err)
		}
		if int64(len(got)) > n || len(got) > 0 && (off > int64(len(content)) || !bytes.HasPrefix(content[off:], got)) {
			t.Fatalf("a range of %d bytes from %d read %d bytes that are not the blob's", n, off, len(got))
		}
	})
}
