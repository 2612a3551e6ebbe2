package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/migrate"
)

// Run runs every conformance test against fresh stores from e. Each subtest
// gets a database (or schema) of its own and runs in parallel.
func Run(t *testing.T, e Engine) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db store.DB)
	}{
		{"Users", testUsers},
		{"UserFieldsKeepMetacharacters", testUserMetacharacters},
		{"LoginFailures", testLoginFailures},
		{"Sessions", testSessions},
		{"RefreshRotation", testRefreshRotation},
		{"RefreshRotationRace", testRefreshRotationRace},
		{"APIKeys", testAPIKeys},
		{"Settings", testSettings},
		{"AuditChain", testAuditChain},
		{"AuditConcurrentAppends", testAuditConcurrent},
		{"AuditAppendOnly", testAuditAppendOnly},
		{"AuditFilters", testAuditFilters},
		{"AuditNames", testAuditNames},
		{"MigrateIsIdempotent", testMigrateIdempotent},
		{"NewerSchemaRefused", testNewerSchemaRefused},
		{"BackupCanary", testBackupCanary},
	}
	for _, tc := range append(append(append(append(append(append(append(tests, clinicTests...), knowledgeTests...), chatTests...), syncTests...), emergencyTests...), retentionTests...), consultTests...) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, e.Open(t))
		})
	}
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)

func newUser(email string, role domain.Role) *domain.User {
	return &domain.User{Email: email, Name: "Name of " + email, Role: role, PasswordHash: "hash", CreatedAt: t0, UpdatedAt: t0}
}

func mustCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func testUsers(t *testing.T, db store.DB) {
	ctx := context.Background()
	a := newUser("a@example.org", domain.RoleAdmin)
	if err := db.CreateUser(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.ID == "" {
		t.Fatal("CreateUser did not assign an id")
	}
	mustCode(t, db.CreateUser(ctx, newUser("a@example.org", domain.RolePatient)), domain.ECONFLICT)
	for i, r := range []domain.Role{domain.RolePatient, domain.RolePatient, domain.RoleDoctor} {
		if err := db.CreateUser(ctx, newUser(fmt.Sprintf("u%d@example.org", i), r)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.UserByEmail(ctx, "a@example.org")
	if err != nil || got.ID != a.ID || got.Role != domain.RoleAdmin || !got.CreatedAt.Equal(t0) {
		t.Fatalf("UserByEmail = %+v, %v", got, err)
	}
	_, err = db.UserByID(ctx, "nope")
	mustCode(t, err, domain.ENOTFOUND)
	_, err = db.UserByEmail(ctx, "nope@example.org")
	mustCode(t, err, domain.ENOTFOUND)

	if n, err := db.CountUsers(ctx, ""); err != nil || n != 4 {
		t.Fatalf("CountUsers = %d, %v", n, err)
	}
	if n, err := db.CountUsers(ctx, domain.RolePatient); err != nil || n != 2 {
		t.Fatalf("CountUsers(patient) = %d, %v", n, err)
	}
	ps, err := db.ListUsers(ctx, domain.UserFilter{Role: domain.RolePatient})
	if err != nil || len(ps) != 2 {
		t.Fatalf("ListUsers(patient) = %d, %v", len(ps), err)
	}
	q, err := db.ListUsers(ctx, domain.UserFilter{Query: "U1@EXAMPLE"})
	if err != nil || len(q) != 1 || q[0].Email != "u1@example.org" {
		t.Fatalf("ListUsers(query) = %v, %v", q, err)
	}
	page, err := db.ListUsers(ctx, domain.UserFilter{Limit: 2, Offset: 3})
	if err != nil || len(page) != 1 {
		t.Fatalf("ListUsers(page) = %d, %v", len(page), err)
	}

	got.Name, got.Role, got.MFAEnabled, got.MFASecret, got.Disabled = "Renamed", domain.RoleStaff, true, "sealed", true
	got.UpdatedAt = t0.Add(time.Hour)
	if err := db.UpdateUser(ctx, got); err != nil {
		t.Fatal(err)
	}
	again, _ := db.UserByID(ctx, a.ID)
	if again.Name != "Renamed" || again.Role != domain.RoleStaff || !again.MFAEnabled || again.MFASecret != "sealed" ||
		!again.Disabled || !again.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after update: %+v", again)
	}
	again.Email = "u0@example.org"
	mustCode(t, db.UpdateUser(ctx, again), domain.ECONFLICT)
	mustCode(t, db.UpdateUser(ctx, &domain.User{ID: "missing", Role: domain.RolePatient}), domain.ENOTFOUND)
}

func testUserMetacharacters(t *testing.T, db store.DB) {
	ctx := context.Background()
	evil := []string{`Robert'); DROP TABLE users;--`, `" OR 1=1 --`, `%_\`, "名前 \u00e9\u0301", `$1 ? :name`}
	for i, s := range evil {
		u := newUser(fmt.Sprintf("m%d@example.org", i), domain.RolePatient)
		u.Name = s
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		got, err := db.UserByID(ctx, u.ID)
		if err != nil || got.Name != s {
			t.Fatalf("round trip of %q = %q, %v", s, got.Name, err)
		}
	}
	found, err := db.ListUsers(ctx, domain.UserFilter{Query: `%_`})
	if err != nil || len(found) != 1 {
		t.Fatalf("query with LIKE wildcards matched %d users (%v); want the one literal match", len(found), err)
	}
	if n, _ := db.CountUsers(ctx, ""); n != len(evil) {
		t.Fatalf("count = %d after metacharacter names", n)
	}
}

func testLoginFailures(t *testing.T, db store.DB) {
	ctx := context.Background()
	u := newUser("lock@example.org", domain.RolePatient)
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	lockAt := t0.Add(time.Minute)
	policy := func(n int) time.Time {
		if n >= 25 {
			return lockAt
		}
		return time.Time{}
	}
	var wg sync.WaitGroup
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := db.RecordLoginFailure(ctx, u.ID, policy); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _ := db.UserByID(ctx, u.ID)
	if got.FailedLogins != 25 || !got.LockedUntil.Equal(lockAt) {
		t.Fatalf("after 25 concurrent failures: failed=%d locked=%v", got.FailedLogins, got.LockedUntil)
	}
	if err := db.ResetLoginFailures(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = db.UserByID(ctx, u.ID)
	if got.FailedLogins != 0 || !got.LockedUntil.IsZero() {
		t.Fatalf("after reset: %+v", got)
	}
	_, err := db.RecordLoginFailure(ctx, "missing", policy)
	mustCode(t, err, domain.ENOTFOUND)
}

func newSession(t *testing.T, db store.DB, id string) (*domain.User, *domain.Session) {
	t.Helper()
	u := newUser(id+"@example.org", domain.RolePatient)
	if err := db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	s := &domain.Session{ID: id, UserID: u.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(12 * time.Hour), SourceIP: "192.0.2.1", UserAgent: "test"}
	if err := db.CreateSession(context.Background(), s, &domain.RefreshToken{Hash: "rt-" + id, IssuedAt: t0}); err != nil {
		t.Fatal(err)
	}
	return u, s
}

func testSessions(t *testing.T, db store.DB) {
	ctx := context.Background()
	u, s := newSession(t, db, "s1")
	got, err := db.SessionByID(ctx, s.ID)
	if err != nil || got.UserID != u.ID || !got.LastSeenAt.Equal(t0) || !got.RevokedAt.IsZero() || got.SourceIP != "192.0.2.1" {
		t.Fatalf("SessionByID = %+v, %v", got, err)
	}
	if err := db.TouchSession(ctx, s.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Touching with an older time never moves last-seen backwards.
	if err := db.TouchSession(ctx, s.ID, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, _ = db.SessionByID(ctx, s.ID)
	if !got.LastSeenAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("last seen = %v", got.LastSeenAt)
	}
	if !got.Active(t0.Add(2*time.Minute), 15*time.Minute) || got.Active(t0.Add(20*time.Minute), 15*time.Minute) {
		t.Fatal("idle timeout not applied")
	}
	if err := db.RevokeSession(ctx, s.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = db.SessionByID(ctx, s.ID)
	if !got.RevokedAt.Equal(t0.Add(time.Hour)) || got.Active(t0.Add(2*time.Minute), 0) {
		t.Fatalf("revoked session: %+v", got)
	}
	// Revoking all of a user's sessions.
	s2 := &domain.Session{ID: "s2", UserID: u.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := db.CreateSession(ctx, s2, &domain.RefreshToken{Hash: "rt-s2", IssuedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeUserSessions(ctx, u.ID, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = db.SessionByID(ctx, "s2")
	if got.RevokedAt.IsZero() {
		t.Fatal("RevokeUserSessions left a session active")
	}
	// The earlier revocation time is kept.
	got, _ = db.SessionByID(ctx, s.ID)
	if !got.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revocation time overwritten: %v", got.RevokedAt)
	}
	_, err = db.SessionByID(ctx, "missing")
	mustCode(t, err, domain.ENOTFOUND)

	js, ju, err := db.SessionWithUser(ctx, "s2")
	if err != nil || js.ID != "s2" || js.RevokedAt.IsZero() || ju.ID != u.ID || ju.Email != u.Email || !ju.CreatedAt.Equal(t0) {
		t.Fatalf("SessionWithUser = %+v %+v %v", js, ju, err)
	}
	_, _, err = db.SessionWithUser(ctx, "missing")
	mustCode(t, err, domain.ENOTFOUND)
}

func testRefreshRotation(t *testing.T, db store.DB) {
	ctx := context.Background()
	_, s := newSession(t, db, "r1")
	next := &domain.RefreshToken{Hash: "rt-r1-2", IssuedAt: t0.Add(time.Minute)}
	got, err := db.RotateRefreshToken(ctx, "rt-r1", next)
	if err != nil || got.ID != s.ID || next.SessionID != s.ID {
		t.Fatalf("rotate = %+v, %v", got, err)
	}
	// Using the first token again is reuse: the family is revoked.
	_, err = db.RotateRefreshToken(ctx, "rt-r1", &domain.RefreshToken{Hash: "rt-r1-3", IssuedAt: t0.Add(2 * time.Minute)})
	if !errors.Is(err, domain.ErrRefreshReused) {
		t.Fatalf("reuse err = %v", err)
	}
	sess, _ := db.SessionByID(ctx, s.ID)
	if sess.RevokedAt.IsZero() {
		t.Fatal("reuse did not revoke the session")
	}
	_, err = db.RotateRefreshToken(ctx, "unknown", &domain.RefreshToken{Hash: "x", IssuedAt: t0})
	mustCode(t, err, domain.EUNAUTHORIZED)
}

func testRefreshRotationRace(t *testing.T, db store.DB) {
	ctx := context.Background()
	newSession(t, db, "race")
	var wins, reuses atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.RotateRefreshToken(ctx, "rt-race", &domain.RefreshToken{Hash: fmt.Sprintf("rt-race-%d", i), IssuedAt: t0.Add(time.Second)})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, domain.ErrRefreshReused):
				reuses.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || reuses.Load() != 9 {
		t.Fatalf("wins=%d reuses=%d; exactly one rotation may win", wins.Load(), reuses.Load())
	}
}

func testAPIKeys(t *testing.T, db store.DB) {
	ctx := context.Background()
	u, _ := newSession(t, db, "k1")
	other, _ := newSession(t, db, "k2")
	k := &domain.APIKey{UserID: u.ID, Name: "scanner", Prefix: "hhk_abcd", Hash: "h1", CreatedAt: t0}
	if err := db.CreateAPIKey(ctx, k); err != nil || k.ID == "" {
		t.Fatalf("create = %v id=%q", err, k.ID)
	}
	mustCode(t, db.CreateAPIKey(ctx, &domain.APIKey{UserID: u.ID, Name: "dup", Hash: "h1", CreatedAt: t0}), domain.ECONFLICT)
	got, err := db.APIKeyByHash(ctx, "h1")
	if err != nil || got.ID != k.ID || got.Name != "scanner" || !got.RevokedAt.IsZero() {
		t.Fatalf("by hash = %+v, %v", got, err)
	}
	mustCode(t, db.RevokeAPIKey(ctx, other.ID, k.ID, t0), domain.ENOTFOUND)
	if err := db.RevokeAPIKey(ctx, u.ID, k.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.RevokeAPIKey(ctx, u.ID, k.ID, t0.Add(time.Hour)), domain.ENOTFOUND)
	list, err := db.ListAPIKeys(ctx, u.ID)
	if err != nil || len(list) != 1 || !list[0].RevokedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("list = %+v, %v", list, err)
	}
	_, err = db.APIKeyByHash(ctx, "missing")
	mustCode(t, err, domain.ENOTFOUND)
}

func testSettings(t *testing.T, db store.DB) {
	ctx := context.Background()
	if _, ok, err := db.Setting(ctx, "k"); ok || err != nil {
		t.Fatalf("missing setting: ok=%v err=%v", ok, err)
	}
	if v, err := db.PutSettingIfAbsent(ctx, "k", "first"); err != nil || v != "first" {
		t.Fatalf("PutSettingIfAbsent = %q, %v", v, err)
	}
	if v, err := db.PutSettingIfAbsent(ctx, "k", "second"); err != nil || v != "first" {
		t.Fatalf("PutSettingIfAbsent again = %q, %v", v, err)
	}
	if err := db.PutSetting(ctx, "k", "third"); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := db.Setting(ctx, "k"); v != "third" || !ok || err != nil {
		t.Fatalf("Setting = %q %v %v", v, ok, err)
	}
	if ok, err := db.SwapSetting(ctx, "k", "second", "fourth"); ok || err != nil {
		t.Fatalf("SwapSetting from a value no longer there = %v, %v", ok, err)
	}
	if ok, err := db.SwapSetting(ctx, "k", "third", "fourth"); !ok || err != nil {
		t.Fatalf("SwapSetting = %v, %v", ok, err)
	}
	if ok, err := db.SwapSetting(ctx, "missing", "", "x"); ok || err != nil {
		t.Fatalf("SwapSetting of a missing key = %v, %v", ok, err)
	}
	if v, _, _ := db.Setting(ctx, "k"); v != "fourth" {
		t.Fatalf("after the swap: %q", v)
	}
}

func auditEvent(i int, patient string) *domain.AuditEvent {
	return &domain.AuditEvent{
		ID: fmt.Sprintf("ev-%05d", i), Time: t0.Add(time.Duration(i) * time.Second), ActorID: fmt.Sprintf("actor-%d", i%3),
		ActorRole: "doctor", Action: domain.ActionRead, ResourceType: "patient", ResourceID: patient, PatientID: patient,
		Outcome: domain.OutcomeSuccess, SourceIP: "203.0.113.9", UserAgent: "ua", RequestID: fmt.Sprintf("req-%d", i),
	}
}

// checkChain walks the whole log and fails on any broken link.
func checkChain(t *testing.T, db store.DB, want int) {
	t.Helper()
	ctx := context.Background()
	prev, seq, n := "", int64(0), 0
	for {
		page, err := db.ScanAudit(ctx, seq, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Seq != seq+1 || e.PrevHash != prev || e.ComputeHash() != e.Hash {
				t.Fatalf("broken chain at seq %d (after %d)", e.Seq, seq)
			}
			seq, prev = e.Seq, e.Hash
			n++
		}
	}
	hs, hh, err := db.AuditHead(ctx)
	if err != nil || hs != seq || hh != prev || n != want {
		t.Fatalf("head = %d %q (%v); walked %d events to %d %q, want %d", hs, hh, err, n, seq, prev, want)
	}
}

func testAuditChain(t *testing.T, db store.DB) {
	ctx := context.Background()
	if seq, hash, err := db.AuditHead(ctx); seq != 0 || hash != "" || err != nil {
		t.Fatalf("empty head = %d %q %v", seq, hash, err)
	}
	if err := db.AppendAudit(ctx, []*domain.AuditEvent{auditEvent(1, "p1")}); err != nil {
		t.Fatal(err)
	}
	batch := make([]*domain.AuditEvent, 0, 20)
	for i := 2; i <= 21; i++ {
		batch = append(batch, auditEvent(i, "p2"))
	}
	if err := db.AppendAudit(ctx, batch); err != nil {
		t.Fatal(err)
	}
	checkChain(t, db, 21)
	// Times survive the round trip to the microsecond, so hashes recompute.
	got, _ := db.ScanAudit(ctx, 0, 1)
	if !got[0].Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("time = %v, want %v", got[0].Time, t0.Add(time.Second))
	}
	// A duplicate event id fails the whole batch and leaves the chain as it was.
	err := db.AppendAudit(ctx, []*domain.AuditEvent{auditEvent(22, "p"), auditEvent(1, "p")})
	if err == nil {
		t.Fatal("duplicate event id accepted")
	}
	checkChain(t, db, 21)
}

func testAuditConcurrent(t *testing.T, db store.DB) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				n := g*100 + i
				if err := db.AppendAudit(ctx, []*domain.AuditEvent{auditEvent(n, "p"), auditEvent(n+50, "p")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	checkChain(t, db, 160)
}

func testAuditAppendOnly(t *testing.T, db store.DB) {
	ctx := context.Background()
	if err := db.AppendAudit(ctx, []*domain.AuditEvent{auditEvent(1, "p"), auditEvent(2, "p")}); err != nil {
		t.Fatal(err)
	}
	raw, ok := db.(Raw)
	if !ok {
		t.Fatalf("%T does not expose Exec for tamper tests", db)
	}
	for _, q := range []string{
		`UPDATE audit_events SET outcome = 'failure' WHERE seq = 1`,
		`DELETE FROM audit_events WHERE seq = 2`,
		`UPDATE audit_head SET seq = 0, hash = '' WHERE id = 1`,
		`DELETE FROM audit_head`,
	} {
		if err := raw.Exec(ctx, q); err == nil {
			t.Errorf("the database accepted %q", q)
		}
	}
	if db.Engine() == "postgres" {
		if err := raw.Exec(ctx, `TRUNCATE audit_events`); err == nil {
			t.Error("the database accepted TRUNCATE audit_events")
		}
	}
	checkChain(t, db, 2)
}

func testAuditFilters(t *testing.T, db store.DB) {
	ctx := context.Background()
	var evs []*domain.AuditEvent
	for i := 1; i <= 30; i++ {
		p := "p-even"
		if i%2 == 1 {
			p = "p-odd"
		}
		evs = append(evs, auditEvent(i, p))
	}
	evs[4].Action = domain.ActionUpdate
	if err := db.AppendAudit(ctx, evs); err != nil {
		t.Fatal(err)
	}
	all, err := db.ListAudit(ctx, domain.AuditFilter{Limit: 1000})
	if err != nil || len(all) != 30 || all[0].Seq != 30 {
		t.Fatalf("list all: %d, first seq %d, %v", len(all), all[0].Seq, err)
	}
	cases := []struct {
		f    domain.AuditFilter
		want int
	}{
		{domain.AuditFilter{PatientID: "p-odd"}, 15},
		{domain.AuditFilter{ActorID: "actor-0"}, 10},
		{domain.AuditFilter{Action: domain.ActionUpdate}, 1},
		{domain.AuditFilter{ResourceType: "patient", PatientID: "p-even", ActorID: "actor-1"}, 5},
		{domain.AuditFilter{From: t0.Add(10 * time.Second), To: t0.Add(20 * time.Second)}, 10},
		{domain.AuditFilter{BeforeSeq: 11}, 10},
		{domain.AuditFilter{Limit: 3}, 3},
		{domain.AuditFilter{PatientID: "' OR '1'='1"}, 0},
	}
	for _, c := range cases {
		got, err := db.ListAudit(ctx, c.f)
		if err != nil || len(got) != c.want {
			t.Errorf("ListAudit(%+v) = %d events, %v; want %d", c.f, len(got), err, c.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq >= got[i-1].Seq {
				t.Errorf("ListAudit(%+v) not newest first", c.f)
			}
		}
	}
}

func testMigrateIdempotent(t *testing.T, db store.DB) {
	v1, err := db.Migrate(context.Background())
	if err != nil || v1 < 1 {
		t.Fatalf("second migrate = %d, %v", v1, err)
	}
	v2, err := db.Migrate(context.Background())
	if err != nil || v2 != v1 {
		t.Fatalf("third migrate = %d, %v", v2, err)
	}
}

func testNewerSchemaRefused(t *testing.T, db store.DB) {
	ctx := context.Background()
	q := `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', '2030-01-01T00:00:00.000000Z')`
	if err := db.(Raw).Exec(ctx, q); err != nil {
		t.Fatal(err)
	}
	_, err := db.Migrate(ctx)
	var tooNew *migrate.ErrSchemaTooNew
	if !errors.As(err, &tooNew) || tooNew.Database != 999 || !strings.Contains(err.Error(), "newer HealthHub") {
		t.Fatalf("migrate on a newer schema = %v", err)
	}
}
