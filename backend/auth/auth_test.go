package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cheap keeps tests fast; production uses DefaultArgon2.
var cheap = Argon2Params{Memory: 64, Time: 1, Threads: 1}

type fixture struct {
	svc   *Service
	db    store.DB
	clock *clock
	ctx   context.Context
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	db := storetest.OpenSQLite(t)
	c := &clock{t: time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	log := audit.NewLog(db, c.Now, logger)
	t.Cleanup(log.Close)
	cfg := Config{Argon2: cheap, SelfRegistration: true, LoginPerIPPerMinute: -1, LoginPerAccountPerMinute: -1}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(context.Background(), cfg, db, log, secret.NewEphemeral(), c.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx := domain.WithRequestMeta(context.Background(), domain.RequestMeta{SourceIP: "192.0.2.10", UserAgent: "test", RequestID: "req"})
	return &fixture{svc: svc, db: db, clock: c, ctx: ctx}
}

func (f *fixture) user(t *testing.T, email string, role domain.Role) *domain.User {
	t.Helper()
	in := NewAccount{Email: email, Password: "correct horse battery", Name: "Test Person", Role: role}
	if role == domain.RoleDoctor {
		in.Specialization = "General practice"
	}
	u, err := f.svc.CreateUser(domain.WithPrincipal(f.ctx, domain.System), in)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func code(t *testing.T, err error, want string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != want {
		t.Fatalf("error = %v (code %q), want code %q", err, got, want)
	}
}

func TestPasswordPolicy(t *testing.T) {
	cases := map[string]string{
		"short":                        "at least 10",
		"password123":                  "too common",
		"aaaaaaaaaaaa":                 "variety",
		"mary.smith-rocks!":            "e-mail name",
		"Hippocrates was right":        "your name",
		strings.Repeat("ab3d", 70):     "at most",
		"tab\tinside password":         "control",
		"correct horse battery staple": "",
		"kein-Päßwort-für-dich":        "",
	}
	for pw, want := range cases {
		err := CheckPassword(pw, "mary.smith@example.org", "Hippocrates Jones")
		if want == "" {
			if err != nil {
				t.Errorf("%q refused: %v", pw, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) || domain.ErrorCode(err) != domain.EINVALID {
			t.Errorf("%q: err = %v, want %q", pw, err, want)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash = %s", h)
	}
	if !VerifyPassword("correct horse battery", h) || VerifyPassword("correct horse batterx", h) {
		t.Fatal("verification wrong")
	}
	h2, _ := HashPassword("correct horse battery", cheap)
	if h == h2 {
		t.Fatal("salts repeat")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=999999999,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "$bcrypt$", h[:len(h)-3]} {
		if VerifyPassword("x", bad) {
			t.Fatalf("accepted %q", bad)
		}
	}
}

func FuzzParsePasswordHash(f *testing.F) {
	h, _ := HashPassword("correct horse battery", cheap)
	f.Add(h)
	f.Add("$argon2id$v=19$m=1048576,t=16,p=16$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=-1,t=0,p=0$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := ParsePasswordHash(s)
		if err != nil {
			return
		}
		if p.Memory > 1<<20 || p.Time > 16 || p.Threads > 16 || len(salt) < 8 || len(key) < 16 {
			t.Fatalf("accepted out-of-range hash %q: %+v", s, p)
		}
	})
}

func TestLoginRefreshLogout(t *testing.T) {
	f := newFixture(t, nil)
	u := f.user(t, "Doc@Example.org", domain.RoleDoctor)
	if u.Email != "doc@example.org" {
		t.Fatalf("email not normalised: %s", u.Email)
	}
	pair, err := f.svc.Login(f.ctx, Credentials{Email: " DOC@example.org ", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	if pair.ExpiresIn != 900 || pair.User.ID != u.ID || !strings.HasPrefix(pair.RefreshToken, "hhr_") {
		t.Fatalf("pair = %+v", pair)
	}
	p, err := f.svc.Authenticate(f.ctx, pair.AccessToken)
	if err != nil || p.UserID != u.ID || p.Role != domain.RoleDoctor {
		t.Fatalf("authenticate = %+v, %v", p, err)
	}
	f.clock.Advance(time.Minute)
	next, err := f.svc.Refresh(f.ctx, pair.RefreshToken)
	if err != nil || next.RefreshToken == pair.RefreshToken {
		t.Fatalf("refresh = %+v, %v", next, err)
	}
	// The first refresh token is spent; using it again ends the session.
	_, err = f.svc.Refresh(f.ctx, pair.RefreshToken)
	if !errors.Is(err, domain.ErrRefreshReused) {
		t.Fatalf("reuse = %v", err)
	}
	_, err = f.svc.Refresh(f.ctx, next.RefreshToken)
	code(t, err, domain.EUNAUTHORIZED)
	_, err = f.svc.Authenticate(f.ctx, next.AccessToken)
	code(t, err, domain.EUNAUTHORIZED)

	// A new login, then logout: the access token stops working at once.
	pair, _ = f.svc.Login(f.ctx, Credentials{Email: "doc@example.org", Password: "correct horse battery"})
	p, _ = f.svc.Authenticate(f.ctx, pair.AccessToken)
	if err := f.svc.Logout(f.ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Authenticate(f.ctx, pair.AccessToken)
	code(t, err, domain.EUNAUTHORIZED)
	_, err = f.svc.Refresh(f.ctx, pair.RefreshToken)
	code(t, err, domain.EUNAUTHORIZED)

	evs, _ := f.db.ListAudit(context.Background(), domain.AuditFilter{Action: domain.ActionLogin})
	var failures int
	for _, e := range evs {
		if e.Outcome == domain.OutcomeFailure {
			failures++
		}
	}
	if len(evs) != 3 || failures != 1 {
		t.Fatalf("login audit events = %d (%d failures), want 2 logins and 1 reuse", len(evs), failures)
	}
}

func TestAccessTokenForgeries(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "p@example.org", domain.RolePatient)
	pair, _ := f.svc.Login(f.ctx, Credentials{Email: "p@example.org", Password: "correct horse battery"})
	parts := strings.Split(pair.AccessToken, ".")
	enc := base64.RawURLEncoding

	claims, _ := enc.DecodeString(parts[1])
	noneHeader := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	tamperedClaims := enc.EncodeToString([]byte(strings.Replace(string(claims), `"sub":"`, `"sub":"x`, 1)))
	otherKey := func(mod func(*jwt.RegisteredClaims)) string {
		c := jwt.RegisteredClaims{Issuer: "healthhub", Subject: pair.User.ID, Audience: jwt.ClaimStrings{"healthhub-api"},
			IssuedAt: jwt.NewNumericDate(f.clock.Now()), ExpiresAt: jwt.NewNumericDate(f.clock.Now().Add(time.Minute))}
		mod(&c)
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, accessClaims{SessionID: "x", RegisteredClaims: c}).SignedString(f.svc.signer.key)
		return s
	}
	forged := map[string]string{
		"alg none":        noneHeader + "." + parts[1] + ".",
		"tampered claims": parts[0] + "." + tamperedClaims + "." + parts[2],
		"bad signature":   parts[0] + "." + parts[1] + "." + enc.EncodeToString([]byte("not the signature")),
		"wrong issuer":    otherKey(func(c *jwt.RegisteredClaims) { c.Issuer = "someone-else" }),
		"wrong audience":  otherKey(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"other"} }),
		"no expiry":       otherKey(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil }),
		"unknown session": otherKey(func(c *jwt.RegisteredClaims) {}),
		"garbage":         "abc",
		"empty":           "",
		"huge":            strings.Repeat("a", 10000),
	}
	for name, tok := range forged {
		if _, err := f.svc.Authenticate(f.ctx, tok); domain.ErrorCode(err) != domain.EUNAUTHORIZED {
			t.Errorf("%s: err = %v, want unauthorized", name, err)
		}
	}
	// Expiry: 15 minutes and a little leeway later the token is refused.
	f.clock.Advance(16 * time.Minute)
	_, err := f.svc.Authenticate(f.ctx, pair.AccessToken)
	if domain.ErrorCode(err) != domain.EUNAUTHORIZED || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
}

func FuzzParseAccessToken(f *testing.F) {
	now := func() time.Time { return time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC) }
	s, _ := NewSigner([]byte("0123456789abcdef0123456789abcdef"), "healthhub", "healthhub-api", 15*time.Minute, now)
	good, _ := s.Issue("user", "session", now())
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		uid, sid, _, err := s.Parse(tok)
		if err == nil && tok != good && (uid != "user" || sid != "session") {
			t.Fatalf("forged token %q accepted as %s/%s", tok, uid, sid)
		}
		if err != nil && domain.ErrorCode(err) != domain.EUNAUTHORIZED {
			t.Fatalf("error code %q", domain.ErrorCode(err))
		}
	})
}

func TestLockoutBacksOff(t *testing.T) {
	f := newFixture(t, nil)
	u := f.user(t, "lock@example.org", domain.RoleStaff)
	bad := Credentials{Email: "lock@example.org", Password: "wrong password!!"}
	for range 5 {
		_, err := f.svc.Login(f.ctx, bad)
		code(t, err, domain.EUNAUTHORIZED)
	}
	// Locked now: even the right password is refused, with a wait.
	_, err := f.svc.Login(f.ctx, Credentials{Email: "lock@example.org", Password: "correct horse battery"})
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.ERATELIMITED || de.RetryAfter != 60 {
		t.Fatalf("locked login = %v", err)
	}
	f.clock.Advance(61 * time.Second)
	_, err = f.svc.Login(f.ctx, bad) // sixth failure: two minutes
	code(t, err, domain.EUNAUTHORIZED)
	got, _ := f.db.UserByID(context.Background(), u.ID)
	if want := f.clock.Now().Add(2 * time.Minute); !got.LockedUntil.Equal(want) {
		t.Fatalf("locked until %v, want %v", got.LockedUntil, want)
	}
	f.clock.Advance(2*time.Minute + time.Second)
	if _, err := f.svc.Login(f.ctx, Credentials{Email: "lock@example.org", Password: "correct horse battery"}); err != nil {
		t.Fatalf("login after lock expired: %v", err)
	}
	got, _ = f.db.UserByID(context.Background(), u.ID)
	if got.FailedLogins != 0 || !got.LockedUntil.IsZero() {
		t.Fatalf("failures not reset: %+v", got)
	}
	if d := f.svc.lockUntil(40).Sub(f.clock.Now()); d != time.Hour {
		t.Fatalf("lock is capped at an hour, got %v", d)
	}
}

func TestLoginRateLimits(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.LoginPerIPPerMinute = 3; c.LoginPerAccountPerMinute = 100; c.LockoutThreshold = 100 })
	f.user(t, "rl@example.org", domain.RolePatient)
	for range 3 {
		f.svc.Login(f.ctx, Credentials{Email: "rl@example.org", Password: "nope nope nope"})
	}
	_, err := f.svc.Login(f.ctx, Credentials{Email: "rl@example.org", Password: "correct horse battery"})
	code(t, err, domain.ERATELIMITED)
	other := domain.WithRequestMeta(context.Background(), domain.RequestMeta{SourceIP: "192.0.2.99"})
	if _, err := f.svc.Login(other, Credentials{Email: "rl@example.org", Password: "correct horse battery"}); err != nil {
		t.Fatalf("other address limited too: %v", err)
	}

	g := newFixture(t, func(c *Config) { c.LoginPerIPPerMinute = 100; c.LoginPerAccountPerMinute = 2; c.LockoutThreshold = 100 })
	g.user(t, "acct@example.org", domain.RolePatient)
	for i := range 2 {
		ctx := domain.WithRequestMeta(context.Background(), domain.RequestMeta{SourceIP: "198.51.100." + string(rune('1'+i))})
		g.svc.Login(ctx, Credentials{Email: "acct@example.org", Password: "nope nope nope"})
	}
	_, err = g.svc.Login(g.ctx, Credentials{Email: "acct@example.org", Password: "correct horse battery"})
	code(t, err, domain.ERATELIMITED)
}

func TestMFA(t *testing.T) {
	f := newFixture(t, nil)
	u := f.user(t, "mfa@example.org", domain.RoleDoctor)
	pair, _ := f.svc.Login(f.ctx, Credentials{Email: "mfa@example.org", Password: "correct horse battery"})
	p, _ := f.svc.Authenticate(f.ctx, pair.AccessToken)
	code(t, f.svc.ConfirmMFA(f.ctx, p, "123456"), domain.ECONFLICT) // not enrolled yet
	enr, err := f.svc.EnrollMFA(f.ctx, p)
	if err != nil || !strings.HasPrefix(enr.URI, "otpauth://totp/HealthHub:mfa@example.org") {
		t.Fatalf("enroll = %+v, %v", enr, err)
	}
	stored, _ := f.db.UserByID(context.Background(), u.ID)
	if strings.Contains(stored.MFASecret, enr.Secret) || stored.MFAEnabled {
		t.Fatal("secret stored in the clear, or enabled before confirmation")
	}
	code(t, f.svc.ConfirmMFA(f.ctx, p, "000000"), domain.EINVALID)
	c, _ := TOTPCode(enr.Secret, f.clock.Now())
	if err := f.svc.ConfirmMFA(f.ctx, p, c); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.EnrollMFA(f.ctx, p)
	code(t, err, domain.ECONFLICT)

	_, err = f.svc.Login(f.ctx, Credentials{Email: "mfa@example.org", Password: "correct horse battery"})
	var de *domain.Error
	if !errors.As(err, &de) || de.Field != "totp_code" {
		t.Fatalf("login without code = %v", err)
	}
	_, err = f.svc.Login(f.ctx, Credentials{Email: "mfa@example.org", Password: "correct horse battery", TOTPCode: "111111"})
	code(t, err, domain.EUNAUTHORIZED)
	f.clock.Advance(2 * time.Minute) // an old code is refused
	_, err = f.svc.Login(f.ctx, Credentials{Email: "mfa@example.org", Password: "correct horse battery", TOTPCode: c})
	code(t, err, domain.EUNAUTHORIZED)
	c, _ = TOTPCode(enr.Secret, f.clock.Now())
	if _, err := f.svc.Login(f.ctx, Credentials{Email: "mfa@example.org", Password: "correct horse battery", TOTPCode: c}); err != nil {
		t.Fatal(err)
	}
	// An admin reset turns it off and ends sessions.
	admin := domain.WithPrincipal(f.ctx, domain.System)
	if _, err := f.svc.UpdateUser(admin, u.ID, UserPatch{ResetMFA: true}); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Authenticate(f.ctx, pair.AccessToken)
	code(t, err, domain.EUNAUTHORIZED)
	if _, err := f.svc.Login(f.ctx, Credentials{Email: "mfa@example.org", Password: "correct horse battery"}); err != nil {
		t.Fatalf("login after reset: %v", err)
	}
}

func TestMFARequiredForRole(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "adm@example.org", domain.RoleAdmin)
	f.user(t, "pat@example.org", domain.RolePatient)
	roles := []domain.Role{domain.RoleAdmin}
	if _, err := f.svc.UpdateSettings(domain.WithPrincipal(f.ctx, domain.System), SettingsPatch{MFARequiredRoles: &roles}); err != nil {
		t.Fatal(err)
	}
	pair, _ := f.svc.Login(f.ctx, Credentials{Email: "adm@example.org", Password: "correct horse battery"})
	if !pair.MFAEnrollmentRequired {
		t.Fatal("admin not told to enrol")
	}
	p, _ := f.svc.Authenticate(f.ctx, pair.AccessToken)
	if !p.MFAPending {
		t.Fatal("principal not marked MFA-pending")
	}
	pp, _ := f.svc.Login(f.ctx, Credentials{Email: "pat@example.org", Password: "correct horse battery"})
	if pp.MFAEnrollmentRequired {
		t.Fatal("patient told to enrol")
	}
	bad := []domain.Role{"superuser"}
	_, err := f.svc.UpdateSettings(domain.WithPrincipal(f.ctx, domain.System), SettingsPatch{MFARequiredRoles: &bad})
	code(t, err, domain.EINVALID)
}

func TestIdleLogoff(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.IdleTimeout = 10 * time.Minute; c.AccessTTL = time.Hour })
	f.user(t, "idle@example.org", domain.RoleStaff)
	pair, _ := f.svc.Login(f.ctx, Credentials{Email: "idle@example.org", Password: "correct horse battery"})
	for range 3 { // activity keeps the session alive past the idle period
		f.clock.Advance(8 * time.Minute)
		if _, err := f.svc.Authenticate(f.ctx, pair.AccessToken); err != nil {
			t.Fatalf("active session ended: %v", err)
		}
	}
	f.clock.Advance(11 * time.Minute)
	_, err := f.svc.Authenticate(f.ctx, pair.AccessToken)
	if domain.ErrorCode(err) != domain.EUNAUTHORIZED || !strings.Contains(err.Error(), "inactivity") {
		t.Fatalf("idle session: %v", err)
	}
	// Refreshing cannot revive it.
	_, err = f.svc.Refresh(f.ctx, pair.RefreshToken)
	code(t, err, domain.EUNAUTHORIZED)
}

func TestDisableAndLastAdmin(t *testing.T) {
	f := newFixture(t, nil)
	a := f.user(t, "admin@example.org", domain.RoleAdmin)
	d := f.user(t, "d@example.org", domain.RoleDoctor)
	adminCtx := domain.WithPrincipal(f.ctx, domain.System)
	yes := true
	_, err := f.svc.UpdateUser(adminCtx, a.ID, UserPatch{Disabled: &yes})
	code(t, err, domain.ECONFLICT)
	staff := domain.RoleStaff
	_, err = f.svc.UpdateUser(adminCtx, a.ID, UserPatch{Role: &staff})
	code(t, err, domain.ECONFLICT)
	_, err = f.svc.UpdateUser(adminCtx, a.ID, UserPatch{})
	code(t, err, domain.EINVALID)

	pair, _ := f.svc.Login(f.ctx, Credentials{Email: "d@example.org", Password: "correct horse battery"})
	if _, err := f.svc.UpdateUser(adminCtx, d.ID, UserPatch{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Authenticate(f.ctx, pair.AccessToken)
	code(t, err, domain.EUNAUTHORIZED)
	_, err = f.svc.Login(f.ctx, Credentials{Email: "d@example.org", Password: "correct horse battery"})
	if err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("disabled login: %v", err)
	}
}

func TestAccountValidationAndRegistrationSetting(t *testing.T) {
	f := newFixture(t, nil)
	u, err := f.svc.PrepareAccount(f.ctx, NewAccount{Email: " New@Example.org ", Password: "correct horse battery", Name: " New Patient ", Role: domain.RolePatient})
	if err != nil || u.Email != "new@example.org" || u.Name != "New Patient" || !VerifyPassword("correct horse battery", u.PasswordHash) {
		t.Fatalf("prepared = %+v, %v", u, err)
	}
	for _, in := range []NewAccount{
		{Email: "not-an-email", Password: "correct horse battery", Name: "X", Role: domain.RolePatient},
		{Email: "Name <n@example.org>", Password: "correct horse battery", Name: "X", Role: domain.RolePatient},
		{Email: "n@localhost", Password: "correct horse battery", Name: "X", Role: domain.RolePatient},
		{Email: "ok@example.org", Password: "short", Name: "X", Role: domain.RolePatient},
		{Email: "ok@example.org", Password: "correct horse battery", Name: "  ", Role: domain.RolePatient},
		{Email: "ok@example.org", Password: "correct horse battery", Name: "bad\x00name", Role: domain.RolePatient},
		{Email: "ok@example.org", Password: "correct horse battery", Name: "X", Role: "root"},
	} {
		_, err := f.svc.PrepareAccount(f.ctx, in)
		code(t, err, domain.EINVALID)
	}
	if open, err := f.svc.SelfRegistrationOpen(f.ctx); !open || err != nil {
		t.Fatalf("default self-registration = %v %v", open, err)
	}
	no := false
	f.svc.UpdateSettings(domain.WithPrincipal(f.ctx, domain.System), SettingsPatch{SelfRegistration: &no})
	if open, _ := f.svc.SelfRegistrationOpen(f.ctx); open {
		t.Fatal("self-registration still open after the setting was turned off")
	}
}

func TestFirstAdminSetup(t *testing.T) {
	f := newFixture(t, nil)
	token, err := f.svc.PrepareSetup(f.ctx)
	if err != nil || !strings.HasPrefix(token, "hhs_") {
		t.Fatalf("prepare = %q, %v", token, err)
	}
	in := NewAccount{Email: "first@example.org", Password: "correct horse battery", Name: "First Admin"}
	_, err = f.svc.CompleteSetup(f.ctx, "hhs_wrong", in)
	code(t, err, domain.EFORBIDDEN)
	u, err := f.svc.CompleteSetup(f.ctx, token, in)
	if err != nil || u.Role != domain.RoleAdmin {
		t.Fatalf("setup = %+v, %v", u, err)
	}
	_, err = f.svc.CompleteSetup(f.ctx, token, NewAccount{Email: "second@example.org", Password: "correct horse battery", Name: "Second"})
	code(t, err, domain.EFORBIDDEN)
	if tok, _ := f.svc.PrepareSetup(f.ctx); tok != "" {
		t.Fatal("setup token made although an admin exists")
	}
}

func TestAPIKeys(t *testing.T) {
	f := newFixture(t, nil)
	u := f.user(t, "k@example.org", domain.RoleStaff)
	p := &domain.Principal{UserID: u.ID, Role: u.Role}
	key, k, err := f.svc.CreateAPIKey(f.ctx, p, "Reception scanner")
	if err != nil || !IsAPIKey(key) || k.Prefix != key[:10] {
		t.Fatalf("create = %q %+v %v", key, k, err)
	}
	got, err := f.svc.Authenticate(f.ctx, key)
	if err != nil || got.UserID != u.ID || got.APIKeyID != k.ID || got.SessionID != "" {
		t.Fatalf("authenticate key = %+v, %v", got, err)
	}
	if err := f.svc.RevokeAPIKey(f.ctx, p, k.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Authenticate(f.ctx, key)
	code(t, err, domain.EUNAUTHORIZED)
	_, err = f.svc.Authenticate(f.ctx, "hhk_doesnotexist")
	code(t, err, domain.EUNAUTHORIZED)
}

func TestSigningKeySharedThroughDatabase(t *testing.T) {
	db := storetest.OpenSQLite(t)
	keys := secret.NewEphemeral()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := func() time.Time { return time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC) }
	log := audit.NewLog(db, now, logger)
	defer log.Close()
	a, err := New(context.Background(), Config{Argon2: cheap}, db, log, keys, now, logger)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(context.Background(), Config{Argon2: cheap}, db, log, keys, now, logger)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.signer.key) != string(b.signer.key) {
		t.Fatal("two servers on one database made different signing keys")
	}
	if _, err := New(context.Background(), Config{Argon2: cheap}, db, log, secret.NewEphemeral(), now, logger); err == nil ||
		!strings.Contains(err.Error(), "keyring") {
		t.Fatalf("foreign keyring: %v", err)
	}
}

// Another replica's changes reach this one within the session cache's TTL;
// this process's own changes at once.
func TestSessionCacheHonoursRevocation(t *testing.T) {
	f := newFixture(t, nil)
	u := f.user(t, "cache@example.org", domain.RoleStaff)
	pair, _ := f.svc.Login(f.ctx, Credentials{Email: "cache@example.org", Password: "correct horse battery"})
	if _, err := f.svc.Authenticate(f.ctx, pair.AccessToken); err != nil {
		t.Fatal(err)
	}
	// Revoked behind this process's back, as by another replica.
	p, _ := f.svc.Authenticate(f.ctx, pair.AccessToken)
	if err := f.db.RevokeSession(context.Background(), p.SessionID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(sessionCacheTTL)
	_, err := f.svc.Authenticate(f.ctx, pair.AccessToken)
	code(t, err, domain.EUNAUTHORIZED)

	// Disabled through this process: refused on the very next request.
	pair, _ = f.svc.Login(f.ctx, Credentials{Email: "cache@example.org", Password: "correct horse battery"})
	if _, err := f.svc.Authenticate(f.ctx, pair.AccessToken); err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := f.svc.UpdateUser(domain.WithPrincipal(f.ctx, domain.System), u.ID, UserPatch{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Authenticate(f.ctx, pair.AccessToken)
	code(t, err, domain.EUNAUTHORIZED)
}

func TestPasswordHashingIsBoundedAndRegistrationLimited(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.RegistrationsPerIPPerHour = 12 })
	// Every slot busy: a new hash waits, then is refused as busy, not run.
	for range cap(f.svc.kdfSlots) {
		f.svc.kdfSlots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(f.ctx, 50*time.Millisecond)
	_, err := f.svc.PrepareAccount(ctx, NewAccount{Email: "busy@example.org", Password: "correct horse battery", Name: "Busy", Role: domain.RolePatient})
	cancel()
	if err == nil {
		t.Fatal("hashed without a free slot")
	}
	for range cap(f.svc.kdfSlots) {
		<-f.svc.kdfSlots
	}
	// Registrations from one address: a burst, then rate limited.
	allowed := 0
	for range 10 {
		if f.svc.AllowRegistration(f.ctx) == nil {
			allowed++
		}
	}
	if allowed != 2 {
		t.Fatalf("%d registrations allowed in a burst, want 2", allowed)
	}
	code(t, f.svc.AllowRegistration(f.ctx), domain.ERATELIMITED)
	other := domain.WithRequestMeta(context.Background(), domain.RequestMeta{SourceIP: "203.0.113.50"})
	if err := f.svc.AllowRegistration(other); err != nil {
		t.Fatalf("another address limited too: %v", err)
	}
}
