package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/domain"
	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters. The defaults follow RFC 9106's
// second recommended option (64 MiB, 3 passes); tests lower them.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2 is what production hashes use.
var DefaultArgon2 = Argon2Params{Memory: 64 * 1024, Time: 3, Threads: 2}

// Password length bounds. The upper bound keeps hashing cost bounded.
const (
	MinPasswordLength = 10
	MaxPasswordLength = 256
)

// HashPassword returns a PHC-format argon2id hash:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>.
func HashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// unmatchableHash returns a well-formed hash with the parameters p whose
// key is random: verifying any password against it costs one full
// Argon2 computation, as for a real account, and never succeeds. It takes
// no hashing to make, so the server starts without that cost.
func unmatchableHash(p Argon2Params) (string, error) {
	buf := make([]byte, 16+32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(buf[:16]), base64.RawStdEncoding.EncodeToString(buf[16:])), nil
}

// ParsePasswordHash reads a PHC argon2id string. It refuses parameters outside
// sane bounds so a corrupted row cannot make verification hang or exhaust memory.
func ParsePasswordHash(encoded string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("unsupported argon2 version")
	}
	var m, t, th uint64
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || n != 3 {
		return p, nil, nil, fmt.Errorf("bad argon2 parameters")
	}
	if m < 8 || m > 1<<20 || t < 1 || t > 16 || th < 1 || th > 16 {
		return p, nil, nil, fmt.Errorf("argon2 parameters out of range")
	}
	p = Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(th)}
	if salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, fmt.Errorf("bad salt")
	}
	if key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, fmt.Errorf("bad key")
	}
	return p, salt, key, nil
}

// VerifyPassword reports whether password matches encoded, in constant time.
func VerifyPassword(password, encoded string) bool {
	p, salt, key, err := ParsePasswordHash(encoded)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

// commonPasswords are refused outright (NIST SP 800-63B asks for a check
// against commonly used values).
var commonPasswords = map[string]bool{
	"password": true, "password1": true, "password12": true, "password123": true, "password1234": true,
	"1234567890": true, "12345678910": true, "123456789012": true, "qwertyuiop": true, "qwerty1234": true,
	"1q2w3e4r5t": true, "iloveyou12": true, "letmein123": true, "welcome123": true, "welcome1234": true,
	"admin12345": true, "administrator": true, "changeme123": true, "healthhub": true, "healthhub1": true,
	"healthhub123": true, "passw0rd123": true, "p@ssw0rd123": true, "abcdefghij": true, "0987654321": true,
	"1111111111": true, "0000000000": true, "football123": true, "sunshine123": true, "princess123": true,
	"doctor1234": true, "patient123": true, "clinic1234": true, "hospital123": true, "monkey12345": true,
}

// CheckPassword applies the password policy and returns an invalid error that
// tells the person what to change.
func CheckPassword(password, email, name string) error {
	if !utf8.ValidString(password) {
		return domain.Invalid("password", "The password contains characters that are not valid text.")
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLength {
		return domain.Invalid("password", "Choose a password of at least %d characters; a few unrelated words work well.", MinPasswordLength)
	}
	if len(password) > MaxPasswordLength {
		return domain.Invalid("password", "Choose a password of at most %d characters.", MaxPasswordLength)
	}
	lower := strings.ToLower(password)
	if commonPasswords[lower] {
		return domain.Invalid("password", "That password is too common and easy to guess; choose another.")
	}
	distinct := map[rune]bool{}
	for _, r := range lower {
		if unicode.IsControl(r) {
			return domain.Invalid("password", "The password may not contain control characters.")
		}
		distinct[r] = true
	}
	if len(distinct) < 4 {
		return domain.Invalid("password", "The password repeats too few characters; choose one with more variety.")
	}
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	if len(local) >= 4 && strings.Contains(lower, local) {
		return domain.Invalid("password", "The password may not contain your e-mail name.")
	}
	for _, part := range strings.Fields(strings.ToLower(name)) {
		if len(part) >= 4 && strings.Contains(lower, part) {
			return domain.Invalid("password", "The password may not contain your name.")
		}
	}
	return nil
}
