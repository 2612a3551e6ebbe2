package secret

import (
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// RingStore keeps a wrapped keyring where every server process of a
// deployment reads it: the database, for replicas whose disks are their own
// and short-lived (containers). Only wrapped data keys are kept there; the
// master key never leaves the key service.
type RingStore interface {
	// LoadRing returns the stored ring; ok is false when there is none.
	LoadRing(ctx context.Context) (ring string, ok bool, err error)
	// CreateRing stores ring unless one is stored already, and returns the
	// ring stored.
	CreateRing(ctx context.Context, ring string) (string, error)
	// SwapRing replaces old with ring, and reports false (storing nothing)
	// when the stored ring is no longer old.
	SwapRing(ctx context.Context, old, ring string) (bool, error)
}

// sharedWhere names a shared ring in messages.
const sharedWhere = "in the database"

// refreshEvery bounds how often a value sealed under an unknown key makes a
// process read the shared ring again.
const refreshEvery = time.Second

// sharedRing is the link of a Keyring to its RingStore.
type sharedRing struct {
	store RingStore

	mu          sync.Mutex // one refresh or rotation at a time
	stored      string     // the ring as last read or written
	lastRefresh time.Time
}

// LoadOrCreateShared reads the wrapped keyring kept in rs and unwraps its
// data keys through w, or, when there is none, makes one with a fresh data
// key; processes starting together agree on one ring. Rotating the ring
// (RotateContext) swaps it in rs only if no other process changed it in
// between, and a process meeting a value sealed under a key it does not
// have reads the ring again, so a rotation reaches every process.
func LoadOrCreateShared(ctx context.Context, rs RingStore, w KeyWrapper) (*Keyring, error) {
	if w == nil || w.ID() == "" {
		return nil, errors.New("keyring: a shared keyring needs a master key; none is configured")
	}
	k := &Keyring{keys: map[string]cipher.AEAD{}, raw: map[string][]byte{}, wrapper: w, wrapped: map[string][]byte{},
		shared: &sharedRing{store: rs}}
	stored, ok, err := rs.LoadRing(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the keyring %s: %w", sharedWhere, err)
	}
	if !ok {
		fresh := &Keyring{keys: map[string]cipher.AEAD{}, raw: map[string][]byte{}, wrapper: w, wrapped: map[string][]byte{}}
		_, wrapped, err := fresh.newKey(ctx)
		if err != nil {
			return nil, err
		}
		id := newKeyID()
		fresh.wrapped[id], fresh.active = wrapped, id
		b, err := json.Marshal(fresh.ringFile())
		if err != nil {
			return nil, err
		}
		if stored, err = rs.CreateRing(ctx, string(b)); err != nil {
			return nil, fmt.Errorf("store the keyring %s: %w", sharedWhere, err)
		}
	}
	if err := k.shared.load(ctx, k, stored); err != nil {
		return nil, err
	}
	return k, nil
}

// load takes stored (a ring read from the store) into k: keys not yet in k
// are unwrapped, outside k's lock, and the active key follows the ring.
// s.mu must be held.
func (s *sharedRing) load(ctx context.Context, k *Keyring, stored string) error {
	var f fileFormat
	if err := json.Unmarshal([]byte(stored), &f); err != nil {
		return fmt.Errorf("the keyring %s is not valid JSON: %w", sharedWhere, err)
	}
	k.mu.RLock()
	next := &Keyring{keys: maps.Clone(k.keys), raw: maps.Clone(k.raw), wrapper: k.wrapper, wrapped: maps.Clone(k.wrapped)}
	k.mu.RUnlock()
	if err := next.fillWrapped(ctx, sharedWhere, f); err != nil {
		return err
	}
	k.mu.Lock()
	k.keys, k.raw, k.wrapped, k.active = next.keys, next.raw, next.wrapped, next.active
	k.mu.Unlock()
	s.stored = stored
	return nil
}

// refresh reads the ring again when a value names key id that k lacks, at
// most every refreshEvery, and reports whether k has id now.
func (s *sharedRing) refresh(k *Keyring, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k.mu.RLock()
	_, have := k.keys[id]
	k.mu.RUnlock()
	if have {
		return true // another caller read it meanwhile
	}
	if time.Since(s.lastRefresh) < refreshEvery {
		return false
	}
	s.lastRefresh = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), rotateTimeout)
	defer cancel()
	stored, ok, err := s.store.LoadRing(ctx)
	if err != nil || !ok || stored == s.stored {
		return false
	}
	if err := s.load(ctx, k, stored); err != nil {
		return false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	_, have = k.keys[id]
	return have
}

// rotate adds a fresh data key to the shared ring and makes it the active
// one: the ring stored is read, extended and swapped in only if unchanged,
// again until it is, so concurrent rotations both keep their keys.
func (s *sharedRing) rotate(ctx context.Context, k *Keyring) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, wrapped, err := k.newKey(ctx)
	if err != nil {
		return "", err
	}
	id := newKeyID()
	for range 10 {
		stored, ok, err := s.store.LoadRing(ctx)
		if err != nil || !ok {
			return "", fmt.Errorf("read the keyring %s: %w", sharedWhere, errors.Join(err, errIf(!ok, "it is gone")))
		}
		if err := s.load(ctx, k, stored); err != nil {
			return "", err
		}
		k.mu.RLock()
		f := k.ringFile()
		k.mu.RUnlock()
		f.Keys[id], f.Active = encodeKey(wrapped), id
		b, err := json.Marshal(f)
		if err != nil {
			return "", err
		}
		swapped, err := s.store.SwapRing(ctx, stored, string(b))
		if err != nil {
			return "", fmt.Errorf("store the keyring %s: %w", sharedWhere, err)
		}
		if swapped {
			if err := s.load(ctx, k, string(b)); err != nil {
				return "", err
			}
			return id, nil
		}
	}
	return "", errors.New("keyring: the shared ring kept changing while it was rotated; try again")
}

func errIf(cond bool, msg string) error {
	if cond {
		return errors.New(msg)
	}
	return nil
}
