package auth

import (
	"context"
	"encoding/json"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// Peers carries cache invalidations between the server processes sharing a
// database (live.PGBridge on a channel of its own satisfies it).
type Peers interface {
	Send(ctx context.Context, e domain.Event) error
	// Listen delivers the other processes' events until ctx ends; missed is
	// called when some may have been lost (the connection was down).
	Listen(ctx context.Context, deliver func(domain.Event), missed func()) error
}

// forgetEvent is the one event type peers exchange.
const forgetEvent = "auth.forget"

// forget is what another process dropped from its caches.
type forget struct {
	Session  string `json:"session,omitempty"`
	User     string `json:"user,omitempty"`
	APIKey   string `json:"api_key,omitempty"`
	All      bool   `json:"all,omitempty"`      // every session
	Settings bool   `json:"settings,omitempty"` // the settings changed
}

// SharePeers makes this process tell the others what it drops from its
// caches (a logout, a revoked session or key, a disabled account, changed
// settings) and drop what they tell it, until ctx ends. A revocation then
// takes effect on every replica at once rather than within the caches'
// lifetime (sessionCacheTTL, settingsTTL), which stays the bound when a
// notification is lost: after the connection was down, every cache here is
// emptied.
func (s *Service) SharePeers(ctx context.Context, peers Peers) {
	s.peers = peers
	s.peersDone = make(chan struct{})
	go func() {
		defer close(s.peersDone)
		_ = peers.Listen(ctx, s.applyForget, func() {
			s.cache.forgetSessions()
			s.cache.forgetAPIKeys()
			s.settings.invalidate()
		})
	}()
}

// WaitPeers returns once the SharePeers listener has stopped.
func (s *Service) WaitPeers() {
	if s.peersDone != nil {
		<-s.peersDone
	}
}

func (s *Service) applyForget(e domain.Event) {
	if e.Type != forgetEvent {
		return
	}
	var f forget
	if err := json.Unmarshal(e.Data, &f); err != nil {
		s.logger.Warn("auth: unreadable cache invalidation from another server process; emptying the caches", "err", err)
		f = forget{All: true, Settings: true}
		s.cache.forgetAPIKeys()
	}
	switch {
	case f.All:
		s.cache.forgetSessions()
	case f.Session != "":
		s.cache.forgetSession(f.Session)
	}
	if f.User != "" {
		s.cache.forgetUser(f.User)
	}
	if f.APIKey != "" {
		s.cache.forgetAPIKey(f.APIKey)
	}
	if f.Settings {
		s.settings.invalidate()
	}
}

// tellPeers passes an invalidation on to the other processes. The change
// is committed already; failing to tell only delays it on other replicas by
// at most the caches' lifetime, so it is logged, not returned.
func (s *Service) tellPeers(ctx context.Context, f forget) {
	if s.peers == nil {
		return
	}
	data, _ := json.Marshal(f)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.peers.Send(sctx, domain.Event{Type: forgetEvent, At: s.now(), Data: data}); err != nil {
		s.logger.Warn("auth: could not tell the other server processes of a revocation; they apply it within seconds", "err", err)
	}
}

// forgetSession drops a session here and on the other processes.
func (s *Service) forgetSession(ctx context.Context, id string) {
	s.cache.forgetSession(id)
	s.tellPeers(ctx, forget{Session: id})
}

// forgetUser drops an account's sessions and keys here and on the others.
func (s *Service) forgetUser(ctx context.Context, userID string) {
	s.cache.forgetUser(userID)
	s.tellPeers(ctx, forget{User: userID})
}
