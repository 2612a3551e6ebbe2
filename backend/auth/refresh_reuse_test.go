package auth

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// Reusing a refresh token ends its session as logout does: the access token
// of the pair its first use gave is refused on its very next use, with no
// cache left to expire (the test clock stands still), and so is that pair's
// refresh token. Other sessions of the account go on.
func TestRefreshTokenReuseEndsTheSessionAtOnce(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, nil)
			if e.Name != "sqlite" {
				// Accounts and sessions in this engine; settings and the
				// audit log stay in the fixture's SQLite file.
				f.db = e.Open(t)
				f.svc.store = f.db
			}
			f.user(t, "reuse@example.org", domain.RoleStaff)
			creds := Credentials{Email: "reuse@example.org", Password: "correct horse battery"}
			first, err := f.svc.Login(f.ctx, creds)
			if err != nil {
				t.Fatal(err)
			}
			other, err := f.svc.Login(f.ctx, creds)
			if err != nil {
				t.Fatal(err)
			}
			second, err := f.svc.Refresh(f.ctx, first.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range []string{second.AccessToken, other.AccessToken} {
				if _, err := f.svc.Authenticate(f.ctx, tok); err != nil {
					t.Fatalf("before the reuse: %v", err)
				}
			}

			_, err = f.svc.Refresh(f.ctx, first.RefreshToken)
			if !errors.Is(err, domain.ErrRefreshReused) {
				t.Fatalf("reused refresh token: err = %v, want %v", err, domain.ErrRefreshReused)
			}
			_, err = f.svc.Authenticate(f.ctx, second.AccessToken)
			code(t, err, domain.EUNAUTHORIZED)
			_, err = f.svc.Authenticate(f.ctx, first.AccessToken)
			code(t, err, domain.EUNAUTHORIZED)
			_, err = f.svc.Refresh(f.ctx, second.RefreshToken)
			code(t, err, domain.EUNAUTHORIZED)

			if _, err := f.svc.Authenticate(f.ctx, other.AccessToken); err != nil {
				t.Fatalf("another session of the account was ended too: %v", err)
			}
		})
	}
}

// A request that read the session just before the reuse was found may
// finish, but what it read is not kept: the next use is refused.
func TestRefreshTokenReuseIsNotUndoneByARequestUnderWay(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "race@example.org", domain.RoleStaff)
	first, err := f.svc.Login(f.ctx, Credentials{Email: "race@example.org", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.Refresh(f.ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	held := &heldSessionReads{Store: f.db, read: make(chan struct{}), resume: make(chan struct{})}
	held.armed.Store(true)
	f.svc.store = held

	authenticated := make(chan error, 1)
	go func() {
		_, err := f.svc.Authenticate(f.ctx, second.AccessToken)
		authenticated <- err
	}()
	<-held.read // the request has read the session, still active
	_, err = f.svc.Refresh(f.ctx, first.RefreshToken)
	if !errors.Is(err, domain.ErrRefreshReused) {
		t.Fatalf("reused refresh token: err = %v, want %v", err, domain.ErrRefreshReused)
	}
	close(held.resume)
	if err := <-authenticated; err != nil {
		t.Fatalf("the request under way: %v", err)
	}
	_, err = f.svc.Authenticate(f.ctx, second.AccessToken)
	code(t, err, domain.EUNAUTHORIZED)
}

// heldSessionReads holds the first session read once armed, after it has
// read the database, until resume is closed.
type heldSessionReads struct {
	domain.Store
	armed  atomic.Bool
	read   chan struct{}
	resume chan struct{}
}

func (h *heldSessionReads) SessionWithUser(ctx context.Context, id string) (*domain.Session, *domain.User, error) {
	s, u, err := h.Store.SessionWithUser(ctx, id)
	if h.armed.CompareAndSwap(true, false) {
		close(h.read)
		<-h.resume
	}
	return s, u, err
}
