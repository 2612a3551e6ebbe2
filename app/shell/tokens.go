package shell

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/healthhub/healthhub/backend/atomicfile"
	"github.com/zalando/go-keyring"
)

// Keychain is the part of the OS keychain the app uses.
type Keychain interface {
	Set(service, user, secret string) error
	Get(service, user string) (string, error)
	Delete(service, user string) error
}

// OSKeychain is the operating system's: Windows Credential Manager, the
// macOS keychain, or the Secret Service (GNOME Keyring, KWallet) on Linux.
type OSKeychain struct{}

func (OSKeychain) Set(service, user, secret string) error   { return keyring.Set(service, user, secret) }
func (OSKeychain) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (OSKeychain) Delete(service, user string) error        { return keyring.Delete(service, user) }

// Tokens keeps the signed-in session's refresh token between starts: in
// the OS keychain where there is one, else in a file encrypted with a key
// kept apart from it (readable by this user only).
type Tokens struct {
	Keychain Keychain
	Dir      string // for the fallback file and its key
}

const keychainService = "HealthHub"

// ErrNoToken says nothing is stored.
var ErrNoToken = errors.New("no stored session")

// Save stores token for account (the server's address).
func (t Tokens) Save(account, token string) error {
	if t.Keychain != nil {
		if err := t.Keychain.Set(keychainService, account, token); err == nil {
			os.Remove(t.file(account)) // one place only
			return nil
		}
	}
	return t.saveFile(account, token)
}

// Load returns the stored token for account, or ErrNoToken.
func (t Tokens) Load(account string) (string, error) {
	if t.Keychain != nil {
		if v, err := t.Keychain.Get(keychainService, account); err == nil {
			return v, nil
		}
	}
	return t.loadFile(account)
}

// Clear forgets the token of account (signing out).
func (t Tokens) Clear(account string) error {
	if t.Keychain != nil {
		// Not there, or no keychain at all: the file is what is left.
		t.Keychain.Delete(keychainService, account)
	}
	err := os.Remove(t.file(account))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (t Tokens) file(account string) string {
	return filepath.Join(t.Dir, "sessions", base64.RawURLEncoding.EncodeToString([]byte(account)))
}

// key returns the file key, made on first use.
func (t Tokens) key() ([]byte, error) {
	name := filepath.Join(t.Dir, "session.key")
	k, err := os.ReadFile(name)
	if err == nil && len(k) == 32 {
		return k, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k = make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, atomicfile.Write(name, k, 0o600)
}

func (t Tokens) saveFile(account, token string) error {
	k, err := t.key()
	if err != nil {
		return err
	}
	block, _ := aes.NewCipher(k)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := gcm.Seal(nonce, nonce, []byte(token), []byte(account))
	return atomicfile.Write(t.file(account), sealed, 0o600)
}

func (t Tokens) loadFile(account string) (string, error) {
	sealed, err := os.ReadFile(t.file(account))
	if errors.Is(err, fs.ErrNotExist) {
		return "", ErrNoToken
	}
	if err != nil {
		return "", err
	}
	k, err := t.key()
	if err != nil {
		return "", err
	}
	block, _ := aes.NewCipher(k)
	gcm, _ := cipher.NewGCM(block)
	if len(sealed) < gcm.NonceSize() {
		return "", fmt.Errorf("the stored session is damaged")
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], []byte(account))
	if err != nil {
		return "", fmt.Errorf("the stored session cannot be read: %w", err)
	}
	return string(plain), nil
}
