package auth

import (
	"sync"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// sessionCacheTTL bounds how long a session and account read from the
// database answer for later requests. Changes made through this process
// (logout, refresh-token reuse, disabling, role change) drop the entry at
// once; changes made through another replica take effect within this time.
const sessionCacheTTL = time.Second

// maxCached bounds each cache; when full it is emptied, which costs one
// database read per active session.
const maxCached = 50_000

type sessionEntry struct {
	sess    *domain.Session
	user    *domain.User
	fetched time.Time
}

type tokenEntry struct {
	userID, sessionID string
	expires           time.Time
}

// authCache remembers verified access tokens until they expire and recently
// read sessions for sessionCacheTTL, so an authenticated request usually
// needs neither a signature check nor a database read.
type authCache struct {
	// ttl is how long sessions and API keys read answer: sessionCacheTTL,
	// or 0 to read them on every request.
	ttl      time.Duration
	mu       sync.Mutex
	sessions map[string]sessionEntry
	tokens   map[string]tokenEntry
	apiKeys  map[string]apiKeyEntry // by the key's hash
	// forgets counts the times sessions or API keys were dropped. A
	// session or key read before a drop may predate the change that caused
	// it (a logout or revocation committed while the read was under way),
	// so it is not kept.
	forgets uint64
}

// apiKeyEntry is a valid API key's principal, read for sessionCacheTTL.
type apiKeyEntry struct {
	p       domain.Principal
	fetched time.Time
}

func newAuthCache(ttl time.Duration) *authCache {
	return &authCache{ttl: ttl, sessions: map[string]sessionEntry{}, tokens: map[string]tokenEntry{}, apiKeys: map[string]apiKeyEntry{}}
}

func (c *authCache) apiKey(hash string, now time.Time) (*domain.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.apiKeys[hash]
	if !ok || now.Sub(e.fetched) >= c.ttl || now.Before(e.fetched) {
		return nil, false
	}
	p := e.p
	return &p, true
}

// putAPIKey keeps a key's principal unless a session or key was dropped
// since epoch (sessionEpoch) was taken.
func (c *authCache) putAPIKey(hash string, p *domain.Principal, now time.Time, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != epoch || c.ttl <= 0 {
		return
	}
	if len(c.apiKeys) >= maxCached {
		clear(c.apiKeys)
	}
	c.apiKeys[hash] = apiKeyEntry{p: *p, fetched: now}
}

// forgetAPIKey drops a revoked key.
func (c *authCache) forgetAPIKey(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	for h, e := range c.apiKeys {
		if e.p.APIKeyID == id {
			delete(c.apiKeys, h)
		}
	}
}

func (c *authCache) token(tok string, now time.Time) (tokenEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.tokens[tok]
	if ok && !now.Before(e.expires) {
		delete(c.tokens, tok)
		return tokenEntry{}, false
	}
	return e, ok
}

func (c *authCache) putToken(tok string, e tokenEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.tokens) >= maxCached {
		clear(c.tokens)
	}
	c.tokens[tok] = e
}

func (c *authCache) session(id string, now time.Time) (sessionEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.sessions[id]
	if !ok || now.Sub(e.fetched) >= c.ttl || now.Before(e.fetched) {
		return sessionEntry{}, false
	}
	return e, true
}

// sessionEpoch is taken before reading a session from the database and
// given back to putSession.
func (c *authCache) sessionEpoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forgets
}

// putSession keeps e unless a session was dropped since epoch was taken.
func (c *authCache) putSession(e sessionEntry, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != epoch || c.ttl <= 0 {
		return
	}
	if len(c.sessions) >= maxCached {
		clear(c.sessions)
	}
	c.sessions[e.sess.ID] = e
}

// forgetSession drops one session.
func (c *authCache) forgetSession(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	delete(c.sessions, id)
}

// forgetAPIKeys drops every API key.
func (c *authCache) forgetAPIKeys() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	clear(c.apiKeys)
}

// forgetSessions drops every session.
func (c *authCache) forgetSessions() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	clear(c.sessions)
}

// forgetUser drops every session of one account.
func (c *authCache) forgetUser(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	for id, e := range c.sessions {
		if e.user.ID == userID {
			delete(c.sessions, id)
		}
	}
	for h, e := range c.apiKeys {
		if e.p.UserID == userID {
			delete(c.apiKeys, h)
		}
	}
}
