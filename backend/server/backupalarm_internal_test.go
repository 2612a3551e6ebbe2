package server

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/backup"
	"github.com/healthhub/healthhub/backend/domain"
)

// The backup alarm is raised once a backup is overdue (never in the grace
// after start), tells every admin once per incident, clears when a backup
// is taken, and tells them again when the next incident starts.
func TestBackupAlarmTellsAdminsOncePerIncident(t *testing.T) {
	ctx := context.Background()
	key, err := backup.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vars := map[string]string{"HEALTHHUB_DATA_DIR": dir, "HEALTHHUB_ARGON2_MEMORY_KIB": "64", "HEALTHHUB_LOG_LEVEL": "error",
		"HEALTHHUB_BACKUP_RECIPIENTS": key.Recipient, "HEALTHHUB_BACKUP_EVERY": "1h", "HEALTHHUB_BACKUP_DIR": filepath.Join(dir, "nas")}
	cfg, _, err := parseCommand("serve", nil, func(k string) string { return vars[k] }, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	sys, err := openSystem(ctx, cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	admin, err := sys.Auth.CreateUser(cliContext(ctx), auth.NewAccount{Email: "it@clinic.example", Password: "correct horse battery", Name: "IT", Role: domain.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	notices := func() []*domain.Notification {
		t.Helper()
		all, err := sys.Store.ListNotifications(ctx, admin.ID, 50)
		if err != nil {
			t.Fatal(err)
		}
		var out []*domain.Notification
		for _, n := range all {
			if n.Kind == "backup_alarm" {
				out = append(out, n)
			}
		}
		return out
	}
	var alarm backupAlarm
	alarm.check(ctx, sys, sys.started.Add(time.Minute))
	if n := notices(); len(n) != 0 {
		t.Fatalf("notified during the grace after start: %+v", n[0])
	}
	alarm.check(ctx, sys, sys.started.Add(2*time.Hour))
	alarm.check(ctx, sys, sys.started.Add(2*time.Hour+time.Minute))
	got := notices()
	if len(got) != 1 || !strings.Contains(got[0].Body, "No snapshot has been taken yet") {
		t.Fatalf("after an overdue first snapshot: %d notices %+v", len(got), got)
	}
	h, err := sys.BackupHealth(ctx)
	if err != nil || len(h.Methods) != 1 || h.Methods[0] != "snapshots" {
		t.Fatalf("backup health: %+v, %v", h, err)
	}

	opts, err := cfg.backupOptions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sys.snapshot(cliContext(ctx), opts); err != nil {
		t.Fatal(err)
	}
	alarm.check(ctx, sys, time.Now().Add(time.Minute))
	if !alarm.since.IsZero() {
		t.Fatal("the alarm did not clear after a snapshot")
	}
	alarm.check(ctx, sys, time.Now().Add(3*time.Hour))
	if got := notices(); len(got) != 2 || !strings.Contains(got[0].Body+got[1].Body, "old (one is due every 1h0m0s)") {
		t.Fatalf("after the next incident: %d notices", len(got))
	}
}
