package pgbackrest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrBeforeOldestBackup is the error of a target earlier than the
	// oldest backup can recover to: PostgreSQL replays WAL forward from a
	// backup, never backward.
	ErrBeforeOldestBackup = errors.New("the target is before the oldest backup")
	// ErrPastArchiveEnd is the error of a target at or after the last
	// transaction in the archived WAL: recovery would run to the end of the
	// archive without finding the target (in PostgreSQL 13 and later it
	// then fails; before, it silently stopped at the end of the archive).
	ErrPastArchiveEnd = errors.New("the target is past the end of the WAL archive")
	// ErrNoBackup is the error of a restore from a repository without a
	// backup.
	ErrNoBackup = errors.New("the repository holds no backup yet (healthhubd backup now --type full)")
	// ErrTargetNotReached is the error of a recovery that ended without
	// stopping at its target.
	ErrTargetNotReached = errors.New("PostgreSQL did not stop recovery at the target")
)

// TargetError is a refused restore target, with the window of times the
// repository can restore to.
type TargetError struct {
	Target time.Time
	// Earliest is the first time a restore can reach (just after the
	// oldest backup finished); Latest the last (just before the last
	// archived transaction ended; zero when unknown).
	Earliest, Latest time.Time
	Err              error
}

func (e *TargetError) Error() string {
	w := "restorable from " + e.Earliest.UTC().Format(time.RFC3339)
	if !e.Latest.IsZero() {
		w += " to just before " + e.Latest.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("refusing to restore to %s: %v (%s, or 'latest' for everything archived)", e.Target.UTC().Format(time.RFC3339Nano), e.Err, w)
}

func (e *TargetError) Unwrap() error { return e.Err }

// RestoreOptions say what to restore and where.
type RestoreOptions struct {
	// Target is the time to recover to; the zero time recovers everything
	// archived (latest). Recovery stops before the first transaction that
	// ended after Target, so transactions that ended at or before it are
	// in the result (recovery_target_inclusive).
	Target time.Time
	// DataDir is the data folder to restore into: new, or an empty folder.
	// Its parent must be reachable by the cluster's owner.
	DataDir string
}

// Restored is what a restore did.
type Restored struct {
	Target time.Time
	// Backup is the backup the restore started from: the newest that
	// finished before Target (the newest of all for latest).
	Backup Backup
	// ArchiveEnd is when the last archived transaction ended (zero when it
	// could not be read, for a latest restore).
	ArchiveEnd time.Time
	DataDir    string
	Took       time.Duration
}

// targetFormat is how a time target is given to pgBackRest (and from it
// to recovery_target_time): UTC, microseconds, an explicit offset.
const targetFormat = "2006-01-02 15:04:05.999999-07"

// CheckTarget refuses a target the repository cannot restore to: before
// the oldest backup finished, or at or past the end of the WAL archive.
// For the zero target (latest) it only needs a backup. It returns the
// backup a restore would start from and the archive's end.
func (r *Repo) CheckTarget(ctx context.Context, info Info, target time.Time) (Backup, time.Time, error) {
	if len(info.Backups) == 0 {
		if info.Status.Code != 0 && info.Status.Code != 2 {
			return Backup{}, time.Time{}, fmt.Errorf("the stanza %s is not usable: %s (code %d)", info.Stanza, info.Status.Message, info.Status.Code)
		}
		return Backup{}, time.Time{}, ErrNoBackup
	}
	if target.IsZero() {
		end, _ := r.ArchiveEnd(ctx, info)
		newest, _ := info.Newest()
		return newest, end, nil
	}
	oldest, _ := info.Oldest()
	// pgBackRest keeps whole seconds of the stop time, taken after the
	// backup became consistent; the second after it is safely later.
	earliest := oldest.Stop.Add(time.Second)
	if target.Before(earliest) {
		return Backup{}, time.Time{}, &TargetError{Target: target, Earliest: earliest, Err: fmt.Errorf("%w (%s finished at %s)",
			ErrBeforeOldestBackup, oldest.Label, oldest.Stop.Format(time.RFC3339))}
	}
	end, err := r.ArchiveEnd(ctx, info)
	if err != nil {
		return Backup{}, time.Time{}, &TargetError{Target: target, Earliest: earliest, Err: fmt.Errorf("%w: %v", ErrPastArchiveEnd, err)}
	}
	if !target.Before(end) {
		return Backup{}, end, &TargetError{Target: target, Earliest: earliest, Latest: end, Err: fmt.Errorf("%w (the last archived transaction ended at %s)",
			ErrPastArchiveEnd, end.Format(time.RFC3339Nano))}
	}
	// The newest backup consistent before the target. pgBackRest would
	// pick the newest whose whole-second stop time is before it, which may
	// still be finishing at the target; the restore names this one.
	var from Backup
	for _, b := range info.Backups {
		if !b.Stop.Add(time.Second).After(target) {
			from = b
		}
	}
	return from, end, nil
}

// Restore checks the target against the repository (CheckTarget) and only
// then restores into the new data folder with pgbackrest restore
// --type=time --target=… --target-action=promote (or, for latest, to the
// end of the archive). The folder then holds a cluster that recovers to
// the target when started; RestoreAndStart starts it and checks that it
// did. A refused target leaves nothing behind.
func (r *Repo) Restore(ctx context.Context, o RestoreOptions) (Restored, error) {
	return r.restore(ctx, o, true)
}

// restore is Restore, with the check of the target only when check is set.
func (r *Repo) restore(ctx context.Context, o RestoreOptions, check bool) (Restored, error) {
	started := time.Now()
	if !filepath.IsAbs(o.DataDir) || strings.ContainsAny(o.DataDir, "'\"\r\n") {
		return Restored{}, fmt.Errorf("the data folder to restore into must be an absolute path without quotes (got %q)", o.DataDir)
	}
	if err := emptyOrMissing(o.DataDir); err != nil {
		return Restored{}, err
	}
	target := o.Target.Truncate(time.Microsecond)
	info, err := r.Info(ctx)
	if err != nil {
		return Restored{}, err
	}
	var from Backup
	var end time.Time
	if check {
		if from, end, err = r.CheckTarget(ctx, info, target); err != nil {
			return Restored{}, err
		}
	}
	made := false
	if _, err := os.Stat(o.DataDir); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(o.DataDir, 0o700); err != nil {
			return Restored{}, err
		}
		made = true
	}
	if err := r.own(o.DataDir); err != nil {
		return Restored{}, err
	}
	args := []string{"--pg1-path=" + o.DataDir}
	if target.IsZero() {
		args = append(args, "--type=default")
	} else {
		args = append(args, "--type=time", "--target="+target.UTC().Format(targetFormat), "--target-action=promote",
			"--recovery-option=recovery_target_inclusive=true")
		if from.Label != "" {
			args = append(args, "--set="+from.Label)
		}
	}
	if _, err := r.run(ctx, "restore", args...); err != nil {
		if made {
			os.RemoveAll(o.DataDir)
		}
		return Restored{}, err
	}
	return Restored{Target: target, Backup: from, ArchiveEnd: end, DataDir: o.DataDir, Took: time.Since(started)}, nil
}

// emptyOrMissing refuses a folder that holds anything.
func emptyOrMissing(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("refusing to restore into %s: it is not empty (give a new or empty folder)", dir)
	}
	return nil
}

// Recovered is a restored cluster running on a scratch port after its
// recovery ended.
type Recovered struct {
	Restored
	// URL connects to the instance's postgres database through its socket
	// as the cluster's owner.
	URL string
	// ReplayedTo is when the last transaction recovery applied ended
	// (pg_last_xact_replay_timestamp); zero when recovery applied none.
	ReplayedTo time.Time
	// LogFile is the instance's server log.
	LogFile string
	// StoppedAt is PostgreSQL's own account of where recovery stopped
	// ("recovery stopping before commit of transaction …"), empty for a
	// latest restore.
	StoppedAt string

	stop func() error
}

// Stop shuts the instance down (fast mode) and waits for it; repeated
// calls return the first result.
func (rc *Recovered) Stop() error { return rc.stop() }

// RestoreAndStart restores to o.Target into the new data folder o.DataDir
// (as Restore does, with the same refusals) and starts a PostgreSQL there
// for a restore drill, returning a connection URL and a stop function.
//
// The instance listens only on a Unix socket in socketDir at port (no TCP):
// socketDir should be a private folder (mode 0700) the cluster's owner can
// write, because the instance trusts every local connection (its own
// pg_hba). It runs with archive_mode=off, so it never pushes WAL into the
// repository it came from, and with hot_standby=off, so it accepts
// connections only once recovery has ended and the instance is promoted.
// Before returning, it checks that recovery stopped at the target and not
// at the end of the WAL: the server log must show where it stopped and the
// last replayed transaction must have ended at or before o.Target;
// otherwise the instance is stopped and the error wraps
// ErrTargetNotReached. The URL is
// postgres://<owner>@/postgres?host=<socketDir>&port=<port>&sslmode=disable.
//
// The caller must call stop when done (it stops the server with pg_ctl
// stop -m fast and waits); the data folder is left for the caller to keep
// or delete. The server log is <DataDir>/log/healthhub-restore.log.
func (r *Repo) RestoreAndStart(ctx context.Context, o RestoreOptions, port int, socketDir string) (url string, stop func() error, err error) {
	rc, err := r.RestoreAndVerify(ctx, o, port, socketDir)
	if err != nil {
		return "", nil, err
	}
	return rc.URL, rc.Stop, nil
}

// recoveryStop is PostgreSQL's log line for a recovery that stopped at its
// target.
var recoveryStop = regexp.MustCompile(`recovery stopping (?:before|after) [^\n]*`)

// RestoreAndVerify is RestoreAndStart returning the whole account of the
// recovery.
func (r *Repo) RestoreAndVerify(ctx context.Context, o RestoreOptions, port int, socketDir string) (*Recovered, error) {
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("port %d is not a TCP port number", port)
	}
	if !filepath.IsAbs(socketDir) || strings.ContainsAny(socketDir, "'\"\r\n ") {
		return nil, fmt.Errorf("the socket folder must be an absolute path without quotes or spaces (got %q)", socketDir)
	}
	res, err := r.Restore(ctx, o)
	if err != nil {
		return nil, err
	}
	rc, err := r.startRestored(ctx, res, port, socketDir)
	if err != nil {
		return nil, fmt.Errorf("%w\n(the restored folder %s is left for inspection; delete it before trying again)", err, o.DataDir)
	}
	return rc, nil
}

// startRestored starts the restored cluster in res.DataDir for
// RestoreAndVerify and checks its recovery.
func (r *Repo) startRestored(ctx context.Context, res Restored, port int, socketDir string) (*Recovered, error) {
	o := RestoreOptions{Target: res.Target, DataDir: res.DataDir}
	info, err := r.Info(ctx)
	if err != nil {
		return nil, err
	}
	bin, err := r.binDir(info.PGVersion)
	if err != nil {
		return nil, err
	}
	// A cluster whose configuration lives outside its data folder (Debian's
	// /etc/postgresql) restores without it; the scratch instance needs
	// none of it.
	for _, name := range []string{"postgresql.conf", "pg_ident.conf"} {
		p := filepath.Join(o.DataDir, name)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			if err := r.writeOwned(p, "# written by HealthHub for a restored cluster\n"); err != nil {
				return nil, err
			}
		}
	}
	logDir := filepath.Join(o.DataDir, "log")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return nil, err
	}
	if err := r.own(logDir); err != nil {
		return nil, err
	}
	hba := filepath.Join(logDir, "healthhub-restore-hba.conf")
	if err := r.writeOwned(hba, "# the scratch instance of a restore: its socket folder is private\nlocal all all trust\n"); err != nil {
		return nil, err
	}
	logFile := filepath.Join(logDir, "healthhub-restore.log")
	opts := fmt.Sprintf("-c port=%d -c listen_addresses='' -c unix_socket_directories='%s' -c archive_mode=off -c hot_standby=off "+
		"-c hba_file='%s' -c logging_collector=off -c log_destination=stderr -c log_min_messages=log", port, socketDir, hba)
	pgctl := filepath.Join(bin, "pg_ctl")
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if _, err := r.exec(sctx, pgctl, "stop", "-D", o.DataDir, "-m", "fast", "-w", "-t", "110"); err != nil {
				if !strings.Contains(err.Error(), "Is server running?") {
					stopErr = fmt.Errorf("stop the restored instance: %w", err)
				}
			}
		})
		return stopErr
	}
	// pg_ctl -w returns once recovery has reached a consistent state; with
	// hot_standby off, connections are refused until recovery ends and the
	// instance is promoted, which waitRecovered waits for.
	if _, err := r.exec(ctx, pgctl, "start", "-D", o.DataDir, "-l", logFile, "-w", "-t", "86400", "-o", opts); err != nil {
		stop()
		if rerr := recoveryStopped(logFile); errors.Is(rerr, ErrTargetNotReached) {
			return nil, rerr
		}
		return nil, fmt.Errorf("start the restored cluster: %w%s", err, recoveryFailure(logFile))
	}
	rc := &Recovered{Restored: res, LogFile: logFile, stop: stop,
		URL: fmt.Sprintf("postgres://%s@/postgres?host=%s&port=%d&sslmode=disable", url.PathEscape(r.cfg.RunAs), url.QueryEscape(socketDir), port)}
	if err := waitRecovered(ctx, rc.URL, o.DataDir, logFile); err != nil {
		stop()
		return nil, err
	}
	if err := rc.verify(ctx); err != nil {
		stop()
		return nil, err
	}
	return rc, nil
}

// waitRecovered waits until the instance at url accepts connections, that
// is, its recovery has ended, or until it exits (a failed recovery) or ctx
// ends.
func waitRecovered(ctx context.Context, url, dataDir, logFile string) error {
	wait := 50 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := pgx.Connect(cctx, url)
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57P03" { // cannot_connect_now: starting up or recovering
			if _, serr := os.Stat(filepath.Join(dataDir, "postmaster.pid")); errors.Is(serr, os.ErrNotExist) {
				return recoveryStopped(logFile)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the restored cluster to finish recovery: %w (last: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		if wait < time.Second {
			wait *= 2
		}
	}
}

// verify checks that the instance left recovery and, for a time target,
// that recovery stopped at the target rather than at the end of the WAL.
func (rc *Recovered) verify(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, rc.URL)
	if err != nil {
		return fmt.Errorf("connect to the restored cluster: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var inRecovery bool
	var replayed *time.Time
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()").Scan(&inRecovery, &replayed); err != nil {
		return fmt.Errorf("read the restored cluster's recovery state: %w", err)
	}
	if inRecovery {
		return errors.New("the restored cluster is still in recovery after starting; it was not promoted")
	}
	if replayed != nil {
		rc.ReplayedTo = replayed.UTC()
	}
	logText, err := os.ReadFile(rc.LogFile)
	if err != nil {
		return fmt.Errorf("read the restored cluster's log: %w", err)
	}
	if rc.Target.IsZero() {
		return nil
	}
	m := recoveryStop.Find(logText)
	if m == nil {
		return fmt.Errorf("%w: its log (%s) does not show recovery stopping at %s; it may have reached the end of the archived WAL",
			ErrTargetNotReached, rc.LogFile, rc.Target.Format(time.RFC3339Nano))
	}
	rc.StoppedAt = string(m)
	if rc.ReplayedTo.After(rc.Target) {
		return fmt.Errorf("%w: it replayed a transaction that ended at %s, after the target %s", ErrTargetNotReached,
			rc.ReplayedTo.Format(time.RFC3339Nano), rc.Target.Format(time.RFC3339Nano))
	}
	return nil
}

// recoveryStopped is the error of a restored cluster that stopped during
// recovery; it wraps ErrTargetNotReached when PostgreSQL ran out of WAL
// before the target.
func recoveryStopped(logFile string) error {
	b, _ := os.ReadFile(logFile)
	if bytes.Contains(b, []byte("recovery ended before configured recovery target was reached")) {
		return fmt.Errorf("%w: recovery ran out of archived WAL before the target%s", ErrTargetNotReached, recoveryFailure(logFile))
	}
	return fmt.Errorf("the restored cluster stopped during recovery%s", recoveryFailure(logFile))
}

// recoveryFailure is the reason a failed recovery gave in its log.
func recoveryFailure(logFile string) string {
	b, err := os.ReadFile(logFile)
	if err != nil {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "not accepting connections") || strings.Contains(l, "is starting up") {
			continue // refused connections while waiting, not the cause
		}
		if strings.Contains(l, "FATAL") || strings.Contains(l, "PANIC") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return "\nserver log " + logFile + ":\n" + strings.Join(lines, "\n")
}

// writeOwned writes a small file owned by the cluster's owner.
func (r *Repo) writeOwned(path, text string) error {
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return err
	}
	return r.own(path)
}
