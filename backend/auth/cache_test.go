package auth

import (
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// A key read before it was revoked is not kept: the revocation may have
// committed while the read was under way.
func TestAPIKeyReadBeforeARevocationIsNotKept(t *testing.T) {
	c := newAuthCache(sessionCacheTTL)
	now := time.Now()
	p := &domain.Principal{UserID: "u1", APIKeyID: "k1"}

	epoch := c.sessionEpoch() // the read starts
	c.forgetAPIKey("k1")      // the key is revoked meanwhile
	c.putAPIKey("hash", p, now, epoch)
	if _, ok := c.apiKey("hash", now); ok {
		t.Fatal("a key read before its revocation was kept")
	}

	c.putAPIKey("hash", p, now, c.sessionEpoch())
	if got, ok := c.apiKey("hash", now); !ok || got.APIKeyID != "k1" {
		t.Fatal("a key read after the revocation was not kept")
	}
	c.forgetAPIKey("k1")
	if _, ok := c.apiKey("hash", now); ok {
		t.Fatal("a revoked key is still cached")
	}
}
