package backup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filippo.io/age"
)

// Key is a new age identity for snapshots: Identity (the secret, kept
// away from the installation) opens what is encrypted to Recipient.
type Key struct {
	Identity  string // AGE-SECRET-KEY-1…
	Recipient string // age1…
}

// NewKey makes a new X25519 identity.
func NewKey() (Key, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return Key{}, err
	}
	return Key{Identity: id.String(), Recipient: id.Recipient().String()}, nil
}

// IdentityFile is the key in age's identity file format, which age and
// 'healthhubd restore --identity' read.
func (k Key) IdentityFile(created time.Time) []byte {
	return fmt.Appendf(nil, "# HealthHub backup identity: it alone opens the snapshots; keep it away from the server\n"+
		"# created: %s\n# public key: %s\n%s\n", created.UTC().Format(time.RFC3339), k.Recipient, k.Identity)
}

// WriteIdentityFile writes the key's identity file to name, readable by
// its owner only; an existing file is never replaced.
func (k Key) WriteIdentityFile(name string, created time.Time) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(k.IdentityFile(created))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// ParseRecipients reads a comma-separated list of age X25519 recipients
// (age1…), as HEALTHHUB_BACKUP_RECIPIENTS holds them.
func ParseRecipients(list string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			if strings.HasPrefix(s, "AGE-SECRET-KEY-") {
				return nil, errors.New("HEALTHHUB_BACKUP_RECIPIENTS holds a secret identity (AGE-SECRET-KEY-…): give the age1… recipient instead, and keep the identity away from this machine")
			}
			return nil, fmt.Errorf("backup recipient %q is not an age1… recipient: %w", s, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, ErrNoRecipients
	}
	return out, nil
}

// ReadIdentities reads an age identity file.
func ReadIdentities(r io.Reader) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	return ids, nil
}
