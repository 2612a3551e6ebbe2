package secret

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"time"
)

// formatKMSv1 marks a keyring file whose data keys are stored wrapped under
// a master key (envelope encryption), never in the clear.
const formatKMSv1 = "kms-v1"

// rotateTimeout bounds the KeyWrapper call of Rotate on a wrapped ring.
const rotateTimeout = time.Minute

// KeyWrapper wraps and unwraps data keys under a master key held elsewhere.
type KeyWrapper interface {
	// NewDataKey returns a fresh 32-byte key and its wrapped (encrypted) form.
	NewDataKey(ctx context.Context) (plain, wrapped []byte, err error)
	Unwrap(ctx context.Context, wrapped []byte) ([]byte, error)
	// ID names the master key (e.g. the KMS key ARN or alias), recorded in the file.
	ID() string
}

// LoadOrCreateWrapped reads the wrapped keyring file at path and unwraps
// every data key through w, or, if there is no file, creates one with a
// fresh data key from w and 0600 permissions. The file holds only the
// wrapped keys and the name of the master key. A plain keyring file (from
// LoadOrCreate) is refused, as is a file wrapped under another master key.
func LoadOrCreateWrapped(ctx context.Context, path string, w KeyWrapper) (*Keyring, error) {
	if w == nil || w.ID() == "" {
		return nil, errors.New("keyring: a wrapped keyring needs a master key; none is configured")
	}
	if path == "" {
		return nil, errors.New("keyring: a wrapped keyring needs a file path")
	}
	f, exists, err := readFile(path)
	if err != nil {
		return nil, err
	}
	k := &Keyring{path: path, keys: map[string]cipher.AEAD{}, raw: map[string][]byte{}, wrapper: w, wrapped: map[string][]byte{}}
	if !exists {
		if _, err := k.RotateContext(ctx); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err := k.fillWrapped(ctx, path, f); err != nil {
		return nil, err
	}
	return k, nil
}

// fillWrapped unwraps into k (whose wrapper is set) every data key of f, a
// wrapped ring read from where, and takes f's active key.
func (k *Keyring) fillWrapped(ctx context.Context, where string, f fileFormat) error {
	w := k.wrapper
	switch f.Format {
	case formatKMSv1:
	case "":
		return fmt.Errorf("keyring %s holds plain (unwrapped) data keys, but master key %q is configured; "+
			"refusing to mix the two: either remove the master key setting to keep using this file, "+
			"or move the plain keyring to a wrapped one deliberately", where, w.ID())
	default:
		return fmt.Errorf("keyring %s has unknown format %q (this version reads %q)", where, f.Format, formatKMSv1)
	}
	if f.MasterKey == "" {
		return fmt.Errorf("keyring %s: format %q but no master_key recorded", where, f.Format)
	}
	if f.MasterKey != w.ID() {
		return fmt.Errorf("keyring %s was wrapped under master key %q, but %q is configured; "+
			"configure %q (a key alias and its ARN count as different names)", where, f.MasterKey, w.ID(), f.MasterKey)
	}
	ids := make([]string, 0, len(f.Keys))
	for id := range f.Keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		wrapped, err := base64.StdEncoding.DecodeString(f.Keys[id])
		if err != nil || len(wrapped) == 0 {
			return fmt.Errorf("keyring %s: wrapped key %q is not valid base64", where, id)
		}
		if known, ok := k.wrapped[id]; ok && bytes.Equal(known, wrapped) {
			continue // unwrapped before (a shared ring read again)
		}
		key, err := w.Unwrap(ctx, wrapped)
		if err != nil {
			return fmt.Errorf("keyring %s: cannot unwrap data key %q with master key %q "+
				"(check that this server's IAM identity has the permission kms:Decrypt on that key "+
				"and that the configured region is the key's region): %w", where, id, w.ID(), err)
		}
		if len(key) != 32 {
			return fmt.Errorf("keyring %s: data key %q unwrapped with master key %q is %d bytes, not 32", where, id, w.ID(), len(key))
		}
		if err := k.add(id, key); err != nil {
			return err
		}
		k.wrapped[id] = wrapped
	}
	k.active = f.Active
	if _, ok := k.keys[k.active]; !ok {
		return fmt.Errorf("keyring %s: active key %q is not in the ring", where, k.active)
	}
	return nil
}

// newKey returns a fresh data key: from the wrapper, with its wrapped form,
// on a wrapped ring; from crypto/rand otherwise (wrapped is then nil).
func (k *Keyring) newKey(ctx context.Context) (plain, wrapped []byte, err error) {
	if k.wrapper == nil {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, nil, err
		}
		return key, nil, nil
	}
	plain, wrapped, err = k.wrapper.NewDataKey(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: cannot get a new data key from master key %q "+
			"(check that this server's IAM identity has the permission kms:GenerateDataKey on that key "+
			"and that the configured region is the key's region): %w", k.wrapper.ID(), err)
	}
	if len(plain) != 32 || len(wrapped) == 0 {
		return nil, nil, fmt.Errorf("keyring: master key %q returned a %d-byte data key with a %d-byte wrapped form; want 32 bytes and a wrapped form",
			k.wrapper.ID(), len(plain), len(wrapped))
	}
	return plain, wrapped, nil
}

func errWrappedWithoutWrapper(path string, f fileFormat) error {
	if f.Format != formatKMSv1 {
		return fmt.Errorf("keyring %s has unknown format %q", path, f.Format)
	}
	return fmt.Errorf("keyring %s holds data keys wrapped under master key %q (format %q); "+
		"it can only be loaded with that master key configured, not as a plain keyring", path, f.MasterKey, f.Format)
}
