// Package secret encrypts sensitive fields at rest with AES-256-GCM under a
// keyring: one active key encrypts, every key still in the ring decrypts, so
// keys can be rotated without rewriting old data at once.
package secret

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/healthhub/healthhub/backend/atomicfile"
)

// prefix marks sealed values and their format version.
const prefix = "hh1."

// Keyring holds the data-encryption keys.
type Keyring struct {
	mu     sync.RWMutex
	path   string // where the ring is kept; empty for an in-memory ring
	active string
	keys   map[string]cipher.AEAD
	raw    map[string][]byte

	wrapper KeyWrapper        // master key wrapping the data keys; nil for a plain ring
	wrapped map[string][]byte // id → wrapped data key, when wrapper is set

	shared *sharedRing // where processes sharing a database keep the ring; nil otherwise
}

type fileFormat struct {
	Format    string            `json:"format,omitempty"`     // empty for a plain ring, formatKMSv1 for a wrapped one
	MasterKey string            `json:"master_key,omitempty"` // KeyWrapper.ID of a wrapped ring
	Active    string            `json:"active"`
	Keys      map[string]string `json:"keys"` // id → base64 of 32 bytes, or of the wrapped key
}

// ErrDecrypt is returned for values that do not open: tampered, truncated or
// sealed under a key that is no longer in the ring.
var ErrDecrypt = errors.New("secret: value cannot be decrypted with this keyring")

// LoadOrCreate reads the keyring file at path, creating it with one fresh key
// and 0600 permissions if it does not exist.
func LoadOrCreate(path string) (*Keyring, error) {
	f, exists, err := readFile(path)
	if err != nil {
		return nil, err
	}
	if !exists {
		k := &Keyring{path: path, keys: map[string]cipher.AEAD{}, raw: map[string][]byte{}}
		if _, err := k.Rotate(); err != nil {
			return nil, err
		}
		return k, nil
	}
	if f.Format != "" {
		return nil, errWrappedWithoutWrapper(path, f)
	}
	k := &Keyring{path: path, active: f.Active, keys: map[string]cipher.AEAD{}, raw: map[string][]byte{}}
	for id, enc := range f.Keys {
		key, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("keyring %s: key %q is not 32 base64-encoded bytes", path, id)
		}
		if err := k.add(id, key); err != nil {
			return nil, err
		}
	}
	if _, ok := k.keys[k.active]; !ok {
		return nil, fmt.Errorf("keyring %s: active key %q is not in the ring", path, k.active)
	}
	return k, nil
}

// readFile reads and parses the keyring file at path; exists is false when
// there is no file yet.
func readFile(path string) (f fileFormat, exists bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, false, nil
	}
	if err != nil {
		return f, true, fmt.Errorf("read keyring: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return f, true, fmt.Errorf("keyring %s is readable by other users (mode %v); run chmod 600 on it", path, fi.Mode().Perm())
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, true, fmt.Errorf("keyring %s is not valid JSON: %w", path, err)
	}
	return f, true, nil
}

// NewEphemeral returns an in-memory keyring with one key, for tests and tools.
func NewEphemeral() *Keyring {
	k := &Keyring{keys: map[string]cipher.AEAD{}, raw: map[string][]byte{}}
	if _, err := k.Rotate(); err != nil {
		panic(err)
	}
	return k
}

func (k *Keyring) add(id string, key []byte) error {
	if id == "" || strings.ContainsAny(id, ".") {
		return fmt.Errorf("keyring: invalid key id %q", id)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	k.keys[id] = aead
	k.raw[id] = key
	return nil
}

// Rotate adds a fresh key, makes it the active one and saves the ring.
// Values sealed before stay readable. On a ring loaded with
// LoadOrCreateWrapped the new key comes from the KeyWrapper, with a time
// limit of rotateTimeout; RotateContext takes the caller's context instead.
func (k *Keyring) Rotate() (string, error) {
	ctx := context.Background()
	if k.wrapper != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, rotateTimeout)
		defer cancel()
	}
	return k.RotateContext(ctx)
}

// RotateContext is Rotate with a context for the KeyWrapper call of a
// wrapped ring; a plain ring does not use ctx.
func (k *Keyring) RotateContext(ctx context.Context) (string, error) {
	if k.shared != nil {
		return k.shared.rotate(ctx, k)
	}
	key, wrapped, err := k.newKey(ctx)
	if err != nil {
		return "", err
	}
	id := newKeyID()
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.add(id, key); err != nil {
		return "", err
	}
	if wrapped != nil {
		k.wrapped[id] = wrapped
	}
	prev := k.active
	k.active = id
	if err := k.saveLocked(); err != nil {
		delete(k.keys, id)
		delete(k.raw, id)
		delete(k.wrapped, id)
		k.active = prev
		return "", err
	}
	return id, nil
}

// encodeKey is a key (or wrapped key) as the ring file keeps it.
func encodeKey(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// newKeyID names a new key.
func newKeyID() string {
	idb := make([]byte, 6)
	rand.Read(idb)
	return "k" + base64.RawURLEncoding.EncodeToString(idb)
}

// ringFile is the ring as it is kept; k.mu must be held.
func (k *Keyring) ringFile() fileFormat {
	f := fileFormat{Active: k.active, Keys: map[string]string{}}
	if k.wrapper != nil {
		f.Format, f.MasterKey = formatKMSv1, k.wrapper.ID()
		for id, w := range k.wrapped {
			f.Keys[id] = base64.StdEncoding.EncodeToString(w)
		}
	} else {
		for id, key := range k.raw {
			f.Keys[id] = base64.StdEncoding.EncodeToString(key)
		}
	}
	return f
}

func (k *Keyring) saveLocked() error {
	if k.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(k.ringFile(), "", "  ")
	if err != nil {
		return err
	}
	// The keyring is the only way to read the encrypted data: it is
	// replaced whole and synced, never left half written.
	if err := atomicfile.Write(k.path, b, 0o600); err != nil {
		return fmt.Errorf("save keyring: %w", err)
	}
	return nil
}

// KeyIDs lists the ids in the ring, sorted.
func (k *Keyring) KeyIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Seal encrypts plaintext under the active key. The context binds the value
// to where it is stored (for example "user:ID:mfa"), so a sealed value copied
// into another row does not open.
func (k *Keyring) Seal(plaintext []byte, context string) (string, error) {
	k.mu.RLock()
	id, aead := k.active, k.keys[k.active]
	k.mu.RUnlock()
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, plaintext, []byte(context))
	return prefix + id + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value from Seal with the same context.
func (k *Keyring) Open(sealed, context string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return nil, ErrDecrypt
	}
	id, body, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, ErrDecrypt
	}
	k.mu.RLock()
	aead := k.keys[id]
	k.mu.RUnlock()
	if aead == nil && k.shared != nil && k.shared.refresh(k, id) {
		// Another process rotated the shared ring: read it again.
		k.mu.RLock()
		aead = k.keys[id]
		k.mu.RUnlock()
	}
	if aead == nil {
		return nil, ErrDecrypt
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(context))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// NeedsRotation reports whether sealed was made under a key other than the
// active one, so a background job can re-seal it.
func (k *Keyring) NeedsRotation(sealed string) bool {
	rest, _ := strings.CutPrefix(sealed, prefix)
	id, _, _ := strings.Cut(rest, ".")
	k.mu.RLock()
	defer k.mu.RUnlock()
	return id != k.active
}
