package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/health"
	"github.com/healthhub/healthhub/backend/store"
)

// replicationAlarmAfter: continuous replication (or the WAL archive) that
// has not caught up for this long raises the backup alarm.
const replicationAlarmAfter = 15 * time.Minute

// backupReporters add what each backup method knows to the report; a
// method that is not configured leaves it alone.
var backupReporters = []func(ctx context.Context, s *System, h *health.BackupHealth, now time.Time) error{
	reportReplication,
	reportSnapshots,
	reportPgBackRest,
}

// BackupHealth reports how this installation is backed up, for the admin
// home and the alarm.
func (s *System) BackupHealth(ctx context.Context) (health.BackupHealth, error) {
	h, err := s.readBackups(ctx, s.Now())
	if err != nil {
		return h, err
	}
	if len(h.Methods) == 0 && h.Problem == "" {
		if s.Store.Engine() == "sqlite" {
			h.Problem = "Nothing backs this installation up. Set HEALTHHUB_REPLICA_DIR (a second disk or NAS) and HEALTHHUB_BACKUP_RECIPIENTS (from 'healthhubd backup keygen') on the server."
		} else {
			h.Problem = "HealthHub does not see a backup of this database. Set up pgBackRest (deploy/pgbackrest/README.md) or, on AWS, Aurora's continuous backups."
		}
	}
	rep, err := s.LastDrill(ctx)
	if err != nil {
		return h, err
	}
	if rep != nil {
		h.LastDrill = &health.DrillSummary{At: rep.Started, Passed: rep.Passed, Source: rep.Source,
			RPOSeconds: rep.RPO.Seconds(), RTOSeconds: rep.RTO.Seconds(), Failures: append([]string{}, rep.Failures...)}
	}
	return h, nil
}

// readBackups runs every reporter as of now.
func (s *System) readBackups(ctx context.Context, now time.Time) (health.BackupHealth, error) {
	h := health.BackupHealth{Methods: []string{}}
	for _, report := range backupReporters {
		if err := report(ctx, s, &h, now); err != nil {
			return h, err
		}
	}
	return h, nil
}

// reportSnapshots: the encrypted snapshots of a SQLite installation. With
// snapshots as the only method, one older than the interval plus the alarm
// margin raises the alarm.
func reportSnapshots(_ context.Context, s *System, h *health.BackupHealth, now time.Time) error {
	last := s.lastSnapshot()
	if last == nil {
		return nil
	}
	at, ok := last()
	if ok {
		h.LastBackup = at
	}
	if s.Config.BackupRecipients == "" || s.Config.BackupEvery <= 0 {
		return nil
	}
	h.Methods = append(h.Methods, "snapshots")
	if due := s.Config.BackupEvery + replicationAlarmAfter; now.Sub(s.started) > due && (!ok || now.Sub(at) > due) {
		h.Alarm = true
		if !ok {
			h.Problem = fmt.Sprintf("No snapshot has been taken yet in %s.", s.Config.BackupDir)
		} else {
			h.Problem = fmt.Sprintf("The newest snapshot is %s old (one is due every %s). Check that %s is reachable and has room.",
				now.Sub(at).Round(time.Minute), s.Config.BackupEvery, s.Config.BackupDir)
		}
	}
	return nil
}

// watchBackups checks the backups every minute (the leader's work) and
// tells every admin, once per incident, when the alarm is raised.
func (s *System) watchBackups(ctx context.Context) {
	var alarm backupAlarm
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		alarm.check(ctx, s, s.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// backupAlarm follows one alarm from raised to cleared.
type backupAlarm struct {
	since time.Time // when the current alarm was first seen; zero when none
}

// check reads the backups as of now; a newly raised alarm is logged and
// sent to every admin.
func (a *backupAlarm) check(ctx context.Context, s *System, now time.Time) {
	h, err := s.readBackups(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			s.Logger.Warn("backup status not read", "err", err)
		}
		return
	}
	switch {
	case !h.Alarm:
		if !a.since.IsZero() {
			s.Logger.Info("backup alarm cleared", "raised", a.since)
		}
		a.since = time.Time{}
	case a.since.IsZero():
		a.since = now
		s.Logger.Error("backup alarm", "problem", h.Problem)
		s.notifyAdmins(ctx, "backup_alarm", "Backups are behind", h.Problem+" The admin home shows the backup status.",
			fmt.Sprintf("backup_alarm:%d", now.Unix()))
	}
}

// notifyAdmins sends every admin an in-app notification (and an e-mail
// where e-mail is set up); key makes it once per admin.
func (s *System) notifyAdmins(ctx context.Context, kind, subject, body, key string) {
	admins, err := s.Store.ListUsers(ctx, domain.UserFilter{Role: domain.RoleAdmin, Limit: 100})
	if err != nil {
		s.Logger.Error("list admins for a notice", "kind", kind, "err", err)
		return
	}
	now := s.Now()
	notes := make([]*domain.Notification, 0, len(admins))
	for _, a := range admins {
		notes = append(notes, &domain.Notification{UserID: a.ID, Kind: kind, Subject: subject, Body: body, CreatedAt: now,
			DedupeKey: key + ":" + a.ID})
	}
	if err := s.Store.AddNotifications(ctx, notes); err != nil {
		s.Logger.Error("notify admins", "kind", kind, "err", err)
	}
}

// reportReplication: continuous replication of a SQLite installation.
func reportReplication(_ context.Context, s *System, h *health.BackupHealth, now time.Time) error {
	st, ok := s.ReplicationStatus()
	if !ok {
		return nil
	}
	h.Methods = append(h.Methods, "replication")
	h.LastReplicated, h.LagSeconds = st.LastReplicated, st.Lag.Seconds()
	stale := !st.LastReplicated.IsZero() && now.Sub(st.LastReplicated) > replicationAlarmAfter
	if st.Lag > replicationAlarmAfter || stale {
		h.Alarm = true
		msg := fmt.Sprintf("The replica (%s) is %s behind.", strings.Join(st.Targets, ", "), max(st.Lag, now.Sub(st.LastReplicated)).Round(time.Minute))
		if st.LastError != "" {
			msg += " The last error: " + st.LastError + "."
		}
		h.Problem = strings.TrimSpace(h.Problem + " " + msg)
	} else if st.LastError != "" {
		h.Problem = strings.TrimSpace(h.Problem + " Replication: " + st.LastError + ".")
	}
	return nil
}

// reportPgBackRest: the pgBackRest repository and the WAL archive of a
// PostgreSQL installation whose pgBackRest settings are given.
func reportPgBackRest(ctx context.Context, s *System, h *health.BackupHealth, now time.Time) error {
	if !store.IsPostgres(s.Config.DatabaseURL) || s.Config.lookup == nil || s.Config.lookup("HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE") == "" {
		return nil
	}
	h.Methods = append(h.Methods, "pgbackrest")
	st, err := pgBackRestStatus(ctx, s.Config, s.Config.lookup, now)
	if err != nil {
		h.Alarm = true
		h.Problem = "pgBackRest could not be read: " + domain.ErrorMessage(err)
		return nil
	}
	h.LastBackup, h.LastReplicated, h.LagSeconds = st.LastBackup, st.LastArchived, st.ArchiveLag.Seconds()
	if st.ArchiveLag > replicationAlarmAfter || st.ArchiveFailing || len(st.Problems) > 0 {
		h.Alarm = true
		h.Problem = strings.Join(st.Problems, "; ")
		if h.Problem == "" {
			h.Problem = fmt.Sprintf("WAL has waited %s to be archived.", st.ArchiveLag.Round(time.Minute))
		}
	}
	return nil
}
