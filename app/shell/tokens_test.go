package shell

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// memKeychain is a keychain that works, or fails like a machine without one.
type memKeychain struct {
	m      map[string]string
	broken bool
}

func (k *memKeychain) Set(s, u, v string) error {
	if k.broken {
		return errors.New("no secret service")
	}
	k.m[s+"/"+u] = v
	return nil
}

func (k *memKeychain) Get(s, u string) (string, error) {
	if v, ok := k.m[s+"/"+u]; ok && !k.broken {
		return v, nil
	}
	return "", errors.New("not found")
}

func (k *memKeychain) Delete(s, u string) error { delete(k.m, s+"/"+u); return nil }

func TestTokensUseTheKeychainWhenThereIsOne(t *testing.T) {
	k := &memKeychain{m: map[string]string{}}
	tok := Tokens{Keychain: k, Dir: t.TempDir()}
	if err := tok.Save("https://clinic.lan", "refresh-1"); err != nil {
		t.Fatal(err)
	}
	if k.m["HealthHub/https://clinic.lan"] != "refresh-1" {
		t.Fatalf("keychain holds %v", k.m)
	}
	if _, err := os.Stat(filepath.Join(tok.Dir, "sessions")); err == nil {
		t.Fatal("a file was written although the keychain works")
	}
	if v, err := tok.Load("https://clinic.lan"); err != nil || v != "refresh-1" {
		t.Fatalf("load %q %v", v, err)
	}
	tok.Clear("https://clinic.lan")
	if _, err := tok.Load("https://clinic.lan"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("after clear: %v", err)
	}
}

func TestTokensFallBackToAnEncryptedFile(t *testing.T) {
	tok := Tokens{Keychain: &memKeychain{m: map[string]string{}, broken: true}, Dir: t.TempDir()}
	if _, err := tok.Load("this computer"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("nothing stored: %v", err)
	}
	if err := tok.Save("this computer", "secret-refresh-token"); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(tok.Dir, "sessions", "*"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	if strings.Contains(string(raw), "secret-refresh-token") {
		t.Fatal("the token is stored in the clear")
	}
	if info, _ := os.Stat(files[0]); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", info.Mode())
	}
	if v, err := tok.Load("this computer"); err != nil || v != "secret-refresh-token" {
		t.Fatalf("load %q %v", v, err)
	}
	// A file moved to another account's name does not open.
	os.MkdirAll(filepath.Dir(tok.file("other")), 0o700)
	os.WriteFile(tok.file("other"), raw, 0o600)
	if _, err := tok.Load("other"); err == nil {
		t.Fatal("a session opened under another account")
	}
	if err := tok.Clear("this computer"); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Load("this computer"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("after clear: %v", err)
	}
}
