package drill

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/sqlite"
)

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// installation is a SQLite database with audit events and canaries.
func installation(t *testing.T, events int, canaries ...time.Time) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	log := audit.NewLog(db, func() time.Time { return t0 }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for range events {
		if err := log.Record(domain.WithPrincipal(ctx, domain.System), audit.Event{Action: domain.ActionRead, ResourceType: "installation_health"}); err != nil {
			t.Fatal(err)
		}
	}
	log.Close()
	for _, c := range canaries {
		if err := db.WriteCanary(ctx, c, c.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// copySource restores a copy of db made now, whatever the target.
type copySource struct{ db *sqlite.DB }

func (s copySource) Name() string { return "a copy" }
func (s copySource) Restore(ctx context.Context, _ time.Time, dir string) (*Restored, error) {
	if err := s.db.Backup(ctx, filepath.Join(dir, store.SQLiteFile)); err != nil {
		return nil, err
	}
	return &Restored{DataDir: dir}, nil
}

func ready(status int) Server {
	return func(context.Context, *Restored) (string, func() error, error) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(status)
		}))
		return srv.URL, func() error { srv.Close(); return nil }, nil
	}
}

func options(t *testing.T, src Source, live audit.Reader, serve Server, target time.Time) Options {
	return Options{Source: src, Target: target, Scratch: filepath.Join(t.TempDir(), "scratch"), Live: live, Serve: serve}
}

func TestDrillPassesAndMeasures(t *testing.T) {
	db := installation(t, 3, t0.Add(-2*time.Minute), t0.Add(-time.Minute))
	rep, err := Run(context.Background(), options(t, copySource{db}, db, ready(200), t0))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed || rep.RPO != time.Minute || rep.RTO <= 0 || rep.Integrity != "ok" || rep.AuditEvents != 3 || rep.Rows["backup_canary"] != 2 || rep.DatabaseBytes == 0 {
		t.Fatalf("report: %+v", rep)
	}
}

func TestDrillFailsWhatItShould(t *testing.T) {
	ctx := context.Background()
	db := installation(t, 3, t0.Add(-time.Minute))
	other := installation(t, 5, t0.Add(-time.Minute))
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"another installation's past", options(t, copySource{other}, db, ready(200), t0), "does not hold"},
		{"a canary after the target", options(t, copySource{db}, db, ready(200), t0.Add(-time.Hour)), "not restored to the point"},
		{"no canary", options(t, copySource{installation(t, 0)}, installation(t, 0), ready(200), t0), "no backup canary"},
		{"recovery point above target", func() Options {
			o := options(t, copySource{db}, db, ready(200), t0.Add(3*time.Hour))
			o.RPO = time.Hour
			return o
		}(), "recovery point"},
		{"server never ready", func() Options {
			o := options(t, copySource{db}, db, ready(503), t0)
			o.ReadyWithin = time.Second
			return o
		}(), "never answered /readyz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(ctx, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Passed || !strings.Contains(strings.Join(rep.Failures, "\n"), tc.want) {
				t.Fatalf("want a failure saying %q; report %+v", tc.want, rep)
			}
		})
	}
}

func TestDrillRefusesAScratchFolderInUse(t *testing.T) {
	db := installation(t, 1, t0)
	o := options(t, copySource{db}, db, ready(200), t0)
	if err := os.MkdirAll(o.Scratch, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(o.Scratch, "precious"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Run into a folder in use: %v", err)
	}
}
