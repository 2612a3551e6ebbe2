package blob

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
)

// A local blob file is encrypted with a key of its own under a chunked
// AES-256-GCM construction (the STREAM construction of Hoang, Reyhanitabar,
// Rogaway and Vizár):
//
//	header   8 bytes   "HHBLOB", 0, version 1; the additional data of every chunk
//	chunks   each      AES-256-GCM of 64 KiB of content (the last: 0 to 64 KiB)
//	trailer  256 bytes length (2 bytes, big endian), the file key sealed by the
//	                   keyring for this blob's key, zeros
//
// Chunk i's nonce is i (big endian, bytes 3 to 10) and a last-chunk flag
// (byte 11), so chunks that are moved, dropped or added, and a file cut
// after any chunk, fail to decrypt. The file key is sealed under the blob's
// own key as context: a file copied under another name does not open. The
// content size follows from the file size alone.
const (
	tagSize     = 16
	trailerSize = 256
)

// format is the layout of blob files with chunks of a given size. Version 1
// files have 64 KiB chunks; other sizes exist for tests that want many
// chunks in few bytes.
type format struct{ chunk int64 }

var v1 = format{chunk: 64 << 10}

func (f format) sealedChunk() int64 { return f.chunk + tagSize }

var header = []byte("HHBLOB\x00\x01")

// Keyring seals the file keys of local blobs (secret.Keyring is one).
type Keyring interface {
	Seal(plaintext []byte, context string) (string, error)
	Open(sealed, context string) ([]byte, error)
}

func sealContext(k Key) string { return "blob:v1:" + string(k) }

func corrupt(k Key, format string, args ...any) error {
	return fmt.Errorf("blob %s: %s: %w", k, fmt.Sprintf(format, args...), ErrCorrupt)
}

func chunkNonce(nonce []byte, i int64, last bool) {
	clear(nonce)
	binary.BigEndian.PutUint64(nonce[3:11], uint64(i))
	if last {
		nonce[11] = 1
	}
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// layout gives the content size and the number of chunks of a blob file of
// fileSize bytes, or false when no blob file has that size.
func (f format) layout(fileSize int64) (size, chunks int64, ok bool) {
	body := fileSize - int64(len(header)) - trailerSize
	if body < tagSize {
		return 0, 0, false
	}
	full, rest := body/f.sealedChunk(), body%f.sealedChunk()
	switch {
	case rest == 0:
		return full * f.chunk, full, true
	case rest < tagSize:
		return 0, 0, false
	default:
		return full*f.chunk + rest - tagSize, full + 1, true
	}
}

// encrypt writes r, encrypted, to w as a blob file and returns its key and
// size. It holds two chunks in memory, whatever the size of r.
func (f format) encrypt(ctx context.Context, w io.Writer, r io.Reader, keys Keyring) (Ref, error) {
	fileKey := make([]byte, 32)
	if _, err := rand.Read(fileKey); err != nil {
		return Ref{}, err
	}
	aead, err := newGCM(fileKey)
	if err != nil {
		return Ref{}, err
	}
	if _, err := w.Write(header); err != nil {
		return Ref{}, err
	}
	e := &encrypter{w: w, aead: aead, h: sha256.New(), nonce: make([]byte, aead.NonceSize()), out: make([]byte, 0, f.sealedChunk())}
	cur, next := make([]byte, f.chunk), make([]byte, f.chunk)
	n, err := io.ReadFull(r, cur)
	cur = cur[:n]
	for err == nil {
		if err = ctx.Err(); err != nil {
			return Ref{}, err
		}
		// A full chunk is the last one only if nothing follows it.
		var m int
		m, err = io.ReadFull(r, next)
		if m == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.ErrUnexpectedEOF {
			return Ref{}, err
		}
		if werr := e.seal(cur, false); werr != nil {
			return Ref{}, werr
		}
		cur, next = next[:m], cur[:cap(cur)]
	}
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return Ref{}, err
	}
	if err := e.seal(cur, true); err != nil {
		return Ref{}, err
	}
	ref := Ref{Key: keyOf(e.h), Size: e.size}
	sealed, err := keys.Seal(fileKey, sealContext(ref.Key))
	if err != nil {
		return Ref{}, fmt.Errorf("seal the blob's file key: %w", err)
	}
	if len(sealed) > trailerSize-2 {
		return Ref{}, fmt.Errorf("the keyring's sealed file key is %d bytes; a blob file has room for %d", len(sealed), trailerSize-2)
	}
	trailer := make([]byte, trailerSize)
	binary.BigEndian.PutUint16(trailer, uint16(len(sealed)))
	copy(trailer[2:], sealed)
	if _, err := w.Write(trailer); err != nil {
		return Ref{}, err
	}
	return ref, nil
}

type encrypter struct {
	w     io.Writer
	aead  cipher.AEAD
	h     hash.Hash
	nonce []byte
	out   []byte
	i     int64
	size  int64
}

func (e *encrypter) seal(chunk []byte, last bool) error {
	e.h.Write(chunk)
	e.size += int64(len(chunk))
	chunkNonce(e.nonce, e.i, last)
	e.i++
	e.out = e.aead.Seal(e.out[:0], e.nonce, chunk, header)
	_, err := e.w.Write(e.out)
	return err
}

// blobFile is an opened blob file whose file key has been unsealed.
type blobFile struct {
	format
	key    Key
	r      io.ReaderAt
	aead   cipher.AEAD
	size   int64 // of the content
	chunks int64
}

// openBlobFile checks the header and trailer of the fileSize bytes in r and
// unseals the file key. Any fault is an error wrapping ErrCorrupt.
func (f format) open(r io.ReaderAt, fileSize int64, key Key, keys Keyring) (*blobFile, error) {
	size, chunks, ok := f.layout(fileSize)
	if !ok {
		return nil, corrupt(key, "a blob file cannot be %d bytes long", fileSize)
	}
	head := make([]byte, len(header))
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, readFault(key, err)
	}
	if string(head) != string(header) {
		return nil, corrupt(key, "the file does not start with a version 1 blob header")
	}
	trailer := make([]byte, trailerSize)
	if _, err := r.ReadAt(trailer, fileSize-trailerSize); err != nil {
		return nil, readFault(key, err)
	}
	n := int(binary.BigEndian.Uint16(trailer))
	if n == 0 || n > trailerSize-2 {
		return nil, corrupt(key, "the sealed file key's length %d is out of bounds", n)
	}
	for _, b := range trailer[2+n:] {
		if b != 0 {
			return nil, corrupt(key, "the trailer's padding is not zeros")
		}
	}
	fileKey, err := keys.Open(string(trailer[2:2+n]), sealContext(key))
	if err != nil || len(fileKey) != 32 {
		return nil, corrupt(key, "the file key does not open with this keyring for this blob")
	}
	aead, err := newGCM(fileKey)
	if err != nil {
		return nil, err
	}
	return &blobFile{format: f, key: key, r: r, aead: aead, size: size, chunks: chunks}, nil
}

func readFault(key Key, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt(key, "the file ends early")
	}
	return fmt.Errorf("read blob %s: %w", key, err)
}

// reader returns the decrypted content from offset for length bytes; both
// must lie within the content.
func (f *blobFile) reader(offset, length int64) *chunkReader {
	return &chunkReader{f: f, i: offset / f.chunk, skip: int(offset % f.chunk), left: length,
		nonce: make([]byte, f.aead.NonceSize()), buf: make([]byte, f.sealedChunk())}
}

// whole returns the decrypted content, every chunk checked: the last
// chunk too when it holds nothing.
func (f *blobFile) whole() *chunkReader {
	c := f.reader(0, f.size)
	c.whole = true
	return c
}

type chunkReader struct {
	f     *blobFile
	i     int64 // next chunk to decrypt
	skip  int   // bytes of that chunk before the range
	left  int64 // bytes still to return
	nonce []byte
	buf   []byte
	plain []byte // decrypted bytes not yet returned
	whole bool   // decrypt to the last chunk even when no bytes are left to return
	err   error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.plain) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.left == 0 && !(c.whole && c.i < c.f.chunks) {
			c.err = io.EOF
			return 0, c.err
		}
		if c.err = c.next(); c.err != nil {
			return 0, c.err
		}
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

// next decrypts chunk c.i into c.plain.
func (c *chunkReader) next() error {
	f := c.f
	if c.i >= f.chunks {
		return corrupt(f.key, "the content ends before its last chunk")
	}
	last := c.i == f.chunks-1
	n := f.sealedChunk()
	if last {
		n = f.size - c.i*f.chunk + tagSize
	}
	ct := c.buf[:n]
	if _, err := f.r.ReadAt(ct, int64(len(header))+c.i*f.sealedChunk()); err != nil {
		return readFault(f.key, err)
	}
	chunkNonce(c.nonce, c.i, last)
	plain, err := f.aead.Open(ct[:0], c.nonce, ct, header)
	if err != nil {
		return corrupt(f.key, "chunk %d does not decrypt: changed, moved or cut", c.i)
	}
	c.i++
	plain = plain[c.skip:]
	c.skip = 0
	if int64(len(plain)) > c.left {
		plain = plain[:c.left]
	}
	c.left -= int64(len(plain))
	c.plain = plain
	return nil
}
