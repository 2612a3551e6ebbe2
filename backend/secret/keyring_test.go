package secret

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpenRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "keyring.json")
	k, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	old, err := k.Seal([]byte("JBSWY3DPEHPK3PXP"), "user:1:mfa")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains([]byte(old), []byte("JBSWY3DP")) {
		t.Fatal("plaintext visible in sealed value")
	}
	if _, err := k.Open(old, "user:2:mfa"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("opened under another context: %v", err)
	}
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if !k.NeedsRotation(old) {
		t.Fatal("old value not flagged for re-sealing")
	}
	// A reloaded ring still opens values sealed before the rotation.
	k2, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(k2.KeyIDs()) != 2 {
		t.Fatalf("keys after rotation = %v", k2.KeyIDs())
	}
	pt, err := k2.Open(old, "user:1:mfa")
	if err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open after rotation = %q, %v", pt, err)
	}
	fresh, _ := k2.Seal([]byte("x"), "c")
	if k2.NeedsRotation(fresh) {
		t.Fatal("fresh value flagged for rotation")
	}
	// A different ring cannot open it.
	if _, err := NewEphemeral().Open(old, "user:1:mfa"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("foreign ring opened value: %v", err)
	}
}

func TestLoadRefusesLooseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, err := LoadOrCreate(path); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreate(path); err == nil {
		t.Fatal("world-readable keyring accepted")
	}
}

func FuzzOpen(f *testing.F) {
	k := NewEphemeral()
	good, _ := k.Seal([]byte("secret"), "ctx")
	f.Add(good)
	f.Add("hh1.")
	f.Add("hh1.k.AAAA")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		pt, err := k.Open(s, "ctx")
		if err == nil && s != good && string(pt) == "secret" {
			// Only an authentic value may open; GCM makes forgery infeasible.
			t.Fatalf("forged value %q opened", s)
		}
	})
}
