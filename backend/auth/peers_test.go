package auth

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// bus links processes' Peers in memory, as PostgreSQL's NOTIFY does.
type bus struct {
	mu      sync.Mutex
	members map[*busPeer]func(domain.Event)
}

type busPeer struct{ bus *bus }

func (b *bus) join() *busPeer { return &busPeer{bus: b} }

func (p *busPeer) Send(_ context.Context, e domain.Event) error {
	p.bus.mu.Lock()
	defer p.bus.mu.Unlock()
	for m, deliver := range p.bus.members {
		if m != p {
			deliver(e)
		}
	}
	return nil
}

func (p *busPeer) Listen(ctx context.Context, deliver func(domain.Event), missed func()) error {
	p.bus.mu.Lock()
	p.bus.members[p] = deliver
	p.bus.mu.Unlock()
	<-ctx.Done()
	p.bus.mu.Lock()
	delete(p.bus.members, p)
	p.bus.mu.Unlock()
	return nil
}

func (b *bus) listening(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.members) == n
}

// Two processes on one database: a logout, a disabled account and changed
// settings through one take effect on the other at once, though the other
// had the session cached and its clock stands still (no cache expires).
func TestPeersShareRevocations(t *testing.T) {
	a := newFixture(t, nil)
	b := newFixture(t, nil)
	b.db, b.svc.store, b.svc.settings.store = a.db, a.db, a.db // one database
	b.clock = a.clock
	b.svc.now, b.svc.signer = a.clock.Now, a.svc.signer
	ctx, cancel := context.WithCancel(context.Background())
	net := &bus{members: map[*busPeer]func(domain.Event){}}
	a.svc.SharePeers(ctx, net.join())
	b.svc.SharePeers(ctx, net.join())
	t.Cleanup(func() { cancel(); a.svc.WaitPeers(); b.svc.WaitPeers() })
	for !net.listening(2) {
		time.Sleep(time.Millisecond)
	}

	a.user(t, "peer@example.org", domain.RoleStaff)
	pair, err := a.svc.Login(a.ctx, Credentials{Email: "peer@example.org", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.svc.Authenticate(b.ctx, pair.AccessToken) // cached in b now
	if err != nil {
		t.Fatal(err)
	}
	if err := a.svc.Logout(a.ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.Authenticate(b.ctx, pair.AccessToken)
	code(t, err, domain.EUNAUTHORIZED)

	// Settings changed through a: b reads them again.
	admin := a.user(t, "admin@example.org", domain.RoleAdmin)
	actx := domain.WithPrincipal(a.ctx, &domain.Principal{UserID: admin.ID, Role: domain.RoleAdmin, Account: admin})
	if _, err := b.svc.Settings(b.ctx); err != nil {
		t.Fatal(err)
	}
	minutes := 7
	if _, err := a.svc.UpdateSettings(actx, SettingsPatch{IdleTimeoutMinutes: &minutes}); err != nil {
		t.Fatal(err)
	}
	if set, err := b.svc.Settings(b.ctx); err != nil || set.IdleTimeoutMinutes != 7 {
		t.Fatalf("settings on the other process: %+v, %v", set, err)
	}
}

// Without peers the other process keeps answering from its cache until the
// cache expires: what SharePeers removes.
func TestWithoutPeersACachedSessionOutlivesALogoutElsewhere(t *testing.T) {
	a := newFixture(t, nil)
	b := newFixture(t, nil)
	b.db, b.svc.store = a.db, a.db
	b.svc.now, b.svc.signer = a.clock.Now, a.svc.signer
	a.user(t, "lone@example.org", domain.RoleStaff)
	pair, err := a.svc.Login(a.ctx, Credentials{Email: "lone@example.org", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.svc.Authenticate(b.ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.svc.Logout(a.ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Authenticate(b.ctx, pair.AccessToken); err != nil {
		t.Fatalf("the cache did not answer (the test above proves nothing): %v", err)
	}
	a.clock.Advance(sessionCacheTTL)
	_, err = b.svc.Authenticate(b.ctx, pair.AccessToken)
	code(t, err, domain.EUNAUTHORIZED)
}

// With ReadSessionsAlways (replicas) a logout through another process is
// refused here from the moment it was answered, with no notification and no
// time passing: the session is read on every request.
func TestReadSessionsAlwaysSeesALogoutElsewhereAtOnce(t *testing.T) {
	a := newFixture(t, nil)
	b := newFixture(t, func(c *Config) { c.ReadSessionsAlways = true })
	b.db, b.svc.store = a.db, a.db
	b.svc.now, b.svc.signer = a.clock.Now, a.svc.signer
	a.user(t, "strict@example.org", domain.RoleStaff)
	pair, err := a.svc.Login(a.ctx, Credentials{Email: "strict@example.org", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.svc.Authenticate(b.ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Authenticate(b.ctx, pair.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := a.svc.Logout(a.ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.Authenticate(b.ctx, pair.AccessToken)
	code(t, err, domain.EUNAUTHORIZED)
}
