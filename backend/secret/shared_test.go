package secret

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// memRing is a RingStore in memory, as the settings table keeps it.
type memRing struct {
	mu    sync.Mutex
	ring  string
	swaps int
}

func (m *memRing) LoadRing(context.Context) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ring, m.ring != "", nil
}

func (m *memRing) CreateRing(_ context.Context, ring string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ring == "" {
		m.ring = ring
	}
	return m.ring, nil
}

func (m *memRing) SwapRing(_ context.Context, old, ring string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ring != old {
		return false, nil
	}
	m.ring = ring
	m.swaps++
	return true, nil
}

// Replicas starting together agree on one ring kept in the database; a
// rotation through one reaches the others the first time they meet a value
// sealed under the new key; rotations racing each other both keep their
// keys; the store holds only wrapped keys.
func TestSharedKeyringAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	fake, srv := newFakeKMS(t)
	w := NewKMSWrapper(newTestKMSClient(srv.URL), testKeyAlias)
	store := &memRing{}

	rings := make([]*Keyring, 3)
	var wg sync.WaitGroup
	for i := range rings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateShared(ctx, store, w)
			if err != nil {
				t.Error(err)
				return
			}
			rings[i] = k
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, k := range rings[1:] {
		if k.active != rings[0].active || len(k.keys) != 1 {
			t.Fatalf("processes disagree on the ring: %v vs %v", k.KeyIDs(), rings[0].KeyIDs())
		}
	}
	sealed, err := rings[0].Seal([]byte("JBSWY3DPEHPK3PXP"), "user:1:mfa")
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := rings[2].Open(sealed, "user:1:mfa"); err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("another process opens %q, %v", pt, err)
	}

	// Rotation through process 0: process 1 opens what 0 seals next.
	id, err := rings[0].RotateContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := rings[0].Seal([]byte("after rotation"), "user:2:mfa")
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := rings[1].Open(fresh, "user:2:mfa"); err != nil || string(pt) != "after rotation" {
		t.Fatalf("a value sealed under the rotated key on another process: %q, %v", pt, err)
	}
	if rings[1].active != id {
		t.Fatalf("process 1 seals under %s, want the new active key %s", rings[1].active, id)
	}
	if pt, err := rings[1].Open(sealed, "user:1:mfa"); err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("the old value after the rotation: %q, %v", pt, err)
	}

	// Two rotations at once: both keys stay in the ring.
	ids := make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := rings[i+1].RotateContext(ctx)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	check, err := LoadOrCreateShared(ctx, store, w)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, id := range check.KeyIDs() {
		have[id] = true
	}
	if !have[ids[0]] || !have[ids[1]] || !have[id] || len(have) != 4 {
		t.Fatalf("ring after racing rotations: %v; want the first key, %s, %s and %s", check.KeyIDs(), id, ids[0], ids[1])
	}
	// A value under a key no ring has is refused, without asking KMS again
	// and again.
	before := fake.count("Decrypt")
	for range 5 {
		if _, err := rings[0].Open(prefix+"kNOSUCHKEY."+"AAAA", "x"); err != ErrDecrypt {
			t.Fatalf("unknown key: %v", err)
		}
	}
	if got := fake.count("Decrypt") - before; got > 2 {
		t.Fatalf("%d KMS calls for values under an unknown key", got)
	}
	if store.ring == "" || containsRaw(store.ring, rings[0]) {
		t.Fatal("the stored ring holds a data key in the clear")
	}
}

// containsRaw reports whether any of k's data keys appears, encoded, in s.
func containsRaw(s string, k *Keyring) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, raw := range k.raw {
		if len(raw) > 0 && strings.Contains(s, encodeKey(raw)) {
			return true
		}
	}
	return false
}
