package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/healthhub/healthhub/backend/domain"
)

// Token prefixes tell the kinds apart at a glance (and in secret scanners).
const (
	refreshPrefix = "hhr_"
	apiKeyPrefix  = "hhk_"
)

// accessClaims are the claims of an access token. The session id lets the
// server end every token of a session at once.
type accessClaims struct {
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// Signer issues and checks access tokens: HS256 only, issuer and audience
// pinned, expiry required.
type Signer struct {
	key      []byte
	issuer   string
	audience string
	ttl      time.Duration
	parser   *jwt.Parser
}

// NewSigner returns a signer with a key of at least 32 bytes.
func NewSigner(key []byte, issuer, audience string, ttl time.Duration, now func() time.Time) (*Signer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("token signing key must be at least 32 bytes")
	}
	return &Signer{
		key: key, issuer: issuer, audience: audience, ttl: ttl,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(issuer), jwt.WithAudience(audience),
			jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
			jwt.WithLeeway(5*time.Second), jwt.WithTimeFunc(now),
		),
	}, nil
}

// Issue returns a signed access token for the user's session.
func (s *Signer) Issue(userID, sessionID string, now time.Time) (string, error) {
	id := make([]byte, 12)
	rand.Read(id)
	c := accessClaims{SessionID: sessionID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: s.issuer, Subject: userID, Audience: jwt.ClaimStrings{s.audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)), ID: base64.RawURLEncoding.EncodeToString(id),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
}

// Parse checks an access token and returns its user and session ids and
// when it expires.
func (s *Signer) Parse(token string) (userID, sessionID string, expires time.Time, err error) {
	if len(token) > 4096 {
		return "", "", time.Time{}, errInvalidToken("The access token is too long.")
	}
	var c accessClaims
	_, err = s.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", "", time.Time{}, errInvalidToken("Your session token has expired; refresh it or sign in again.")
	case err != nil:
		return "", "", time.Time{}, errInvalidToken("The access token is not valid.")
	case c.Subject == "" || c.SessionID == "":
		return "", "", time.Time{}, errInvalidToken("The access token is not valid.")
	}
	return c.Subject, c.SessionID, c.ExpiresAt.Time, nil
}

func errInvalidToken(msg string) error {
	return &domain.Error{Code: domain.EUNAUTHORIZED, Message: msg}
}

// newOpaqueToken returns prefix + 32 random bytes, and the SHA-256 hex of the
// whole token, which is all the database keeps.
func newOpaqueToken(prefix string) (token, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// IsAPIKey reports whether a bearer credential is an API key rather than an
// access token.
func IsAPIKey(bearer string) bool { return strings.HasPrefix(bearer, apiKeyPrefix) }
