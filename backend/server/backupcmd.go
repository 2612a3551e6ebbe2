package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/backup"
	"github.com/healthhub/healthhub/backend/backup/replica"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

const backupUsage = `usage: healthhubd backup keygen|now|list|status, healthhubd restore
  backup keygen [--out FILE]  make the key snapshots are encrypted to: prints the identity
                              (or writes it to FILE, mode 0600) and its age1… recipient for
                              HEALTHHUB_BACKUP_RECIPIENTS; keep the identity away from this machine
  backup now                  take an encrypted snapshot of the data folder now (the server may run)
  backup list                 the snapshots in the backup folder: time, size, file
  backup status               the newest snapshot and its age, and the continuous replication: each
                              replica, the times it can restore, how far behind it is; exit status 1
                              when the last snapshot is older than 2 hours or there is none, or a
                              replica cannot be read or is more than 5 minutes behind
  restore --into DIR [--to TIME] [--from replica|snapshot] [--identity FILE]
                              write the installation as it was at TIME (RFC 3339, such as
                              2026-12-07T15:30:00Z, a time before now such as "90m ago", or latest,
                              the default) into the new or empty folder DIR; then serve with
                              HEALTHHUB_DATA_DIR=DIR
      --from replica          (the default when a replica is set) the database from the continuous
                              replica, to the second; a time outside what it holds is refused. The
                              replica holds the database only: with --identity, the keyring,
                              knowledge folder and stored files come from the newest snapshot;
                              without, copy them from the installation before starting
      --from snapshot         (the default otherwise) the newest snapshot taken at or before TIME,
                              checked whole; needs --identity
Settings: HEALTHHUB_BACKUP_DIR (--backup-dir; default <data dir>/backups),
HEALTHHUB_BACKUP_RECIPIENTS (--backup-recipients; comma-separated age1…),
HEALTHHUB_BACKUP_KEEP (--backup-keep; default 48).
Continuous replication (the server replicates every commit within a second; it covers the
database only, the other files of the data folder are in the snapshots): HEALTHHUB_REPLICA_DIR
(a folder on another disk, a NAS or a USB stick) and/or HEALTHHUB_REPLICA_S3_BUCKET with
HEALTHHUB_REPLICA_S3_PREFIX, _S3_ENDPOINT (an S3-compatible server, such as the clinic server's),
_S3_REGION and HEALTHHUB_REPLICA_KMS_KEY_ID; HEALTHHUB_REPLICA_RETENTION (default 72h)`

// resourceBackup names snapshots in the audit log.
const resourceBackup = "backup"

// backupCommand parses the configuration flags of one backup command (plus
// any extra it declares) and refuses a PostgreSQL installation, which these
// snapshots do not cover.
func backupCommand(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (Config, error) {
	cfg, rest, err := parseCommand(name, args, getenv, stderr, extra)
	if err != nil {
		return cfg, err
	}
	if len(rest) > 0 {
		return cfg, &ExitError{Code: 2, Err: fmt.Errorf("unexpected argument %q\n%s", rest[0], backupUsage)}
	}
	if store.IsPostgres(cfg.DatabaseURL) {
		return cfg, &ExitError{Code: 2, Err: errors.New("these snapshots are for SQLite installations (the data folder's healthhub.db); " +
			"a PostgreSQL installation is backed up with pgBackRest, and its backup and restore commands read HEALTHHUB_DATABASE_URL " +
			"from the environment (see deploy/pgbackrest/README.md)")}
	}
	return cfg, nil
}

// postgresFromEnv is the configuration from the environment alone, when it
// names a PostgreSQL database: the backup and restore commands of such an
// installation (pgBackRest, Aurora) have flags of their own.
func postgresFromEnv(getenv func(string) string) (Config, bool) {
	if !store.IsPostgres(getenv("HEALTHHUB_DATABASE_URL")) {
		return Config{}, false
	}
	cfg, _, err := parseCommand("backup", nil, getenv, io.Discard, nil)
	return cfg, err == nil
}

// runBackup is "healthhubd backup …".
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &ExitError{Code: 2, Err: errors.New(backupUsage)}
	}
	if cfg, ok := postgresFromEnv(getenv); ok && args[0] != "keygen" {
		return runPostgresBackup(ctx, cfg, args[0], args[1:], getenv, stdout, stderr)
	}
	switch args[0] {
	case "keygen":
		return runBackupKeygen(args[1:], stdout, stderr)
	case "now":
		return runBackupNow(ctx, args[1:], getenv, stdout, stderr)
	case "list":
		cfg, err := backupCommand("backup list", args[1:], getenv, stderr, nil)
		if err != nil {
			return err
		}
		snaps, err := backup.List(cfg.BackupDir)
		if err != nil {
			return err
		}
		if len(snaps) == 0 {
			fmt.Fprintf(stdout, "no snapshots in %s\n", cfg.BackupDir)
			return nil
		}
		fmt.Fprintf(stdout, "%-25s  %10s  %s\n", "TIME", "SIZE", "FILE")
		for i := len(snaps) - 1; i >= 0; i-- {
			fmt.Fprintf(stdout, "%-25s  %10s  %s\n", snaps[i].Time.Local().Format(time.RFC3339), humanBytes(snaps[i].Size), snaps[i].Path)
		}
		return nil
	case "status":
		return runBackupStatus(ctx, args[1:], getenv, stdout, stderr)
	}
	return &ExitError{Code: 2, Err: fmt.Errorf("unknown backup command %q\n%s", args[0], backupUsage)}
}

func runBackupKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the identity to this new file (mode 0600) instead of standard output")
	if err := fs.Parse(args); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	key, err := backup.NewKey()
	if err != nil {
		return err
	}
	if *out == "" {
		stdout.Write(key.IdentityFile(time.Now()))
	} else if err := key.WriteIdentityFile(*out, time.Now()); err != nil {
		return fmt.Errorf("write the identity: %w", err)
	} else {
		fmt.Fprintf(stdout, "identity written to %s: keep it away from this machine (a password manager, a safe); it alone opens the snapshots\n", *out)
	}
	fmt.Fprintf(stdout, "recipient: %s\nset HEALTHHUB_BACKUP_RECIPIENTS=%s on the server\n", key.Recipient, key.Recipient)
	return nil
}

func runBackupNow(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := backupCommand("backup now", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	opts, err := cfg.backupOptions()
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if cfg.BlobS3Bucket != "" {
		fmt.Fprintf(stderr, "note: stored files are in the S3 bucket %s and are not in this snapshot\n", cfg.BlobS3Bucket)
	}
	sys, err := openSystem(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer sys.Close()
	res, err := sys.snapshot(cliContext(ctx), opts)
	if err != nil {
		if errors.Is(err, backup.ErrNoRecipients) {
			return &ExitError{Code: 2, Err: err}
		}
		return err
	}
	fmt.Fprintf(stdout, "snapshot %s\nsize     %s (%d files, %s before encryption)\ntook     %s\n", res.Snapshot.Path, humanBytes(res.Snapshot.Size),
		res.Files, humanBytes(res.Bytes), res.Took.Round(time.Millisecond))
	if len(res.Pruned) > 0 {
		fmt.Fprintf(stdout, "deleted  %d older snapshot(s), keeping %d\n", len(res.Pruned), cfg.BackupKeep)
	}
	return nil
}

// backupOptions are the snapshot options of this configuration. Parts of
// the installation kept outside the data folder go in at their default
// places, so the restored folder is whole; stored files in S3 are not in it.
func (c Config) backupOptions() (backup.Options, error) {
	recipients, err := backup.ParseRecipients(c.BackupRecipients)
	if err != nil {
		return backup.Options{}, err
	}
	opts := backup.Options{DataDir: c.DataDir, Dir: c.BackupDir, Recipients: recipients, Keep: c.BackupKeep, Version: Version}
	if c.KeyringFile != filepath.Join(c.DataDir, "keyring.json") {
		opts.Extra = append(opts.Extra, backup.Source{Path: c.KeyringFile, As: "keyring.json"})
	}
	if c.BlobS3Bucket == "" && c.BlobDir != filepath.Join(c.DataDir, "blobs") {
		if _, err := os.Stat(c.BlobDir); err == nil {
			opts.Extra = append(opts.Extra, backup.Source{Path: c.BlobDir, As: "blobs"})
		}
	}
	return opts, nil
}

// snapshot takes one snapshot and records it (or its failure) in the audit
// log as the caller in ctx.
func (s *System) snapshot(ctx context.Context, opts backup.Options) (backup.Result, error) {
	opts.Now = s.Now
	res, err := backup.Run(ctx, opts)
	ev := audit.Event{Action: domain.ActionExport, ResourceType: resourceBackup, ResourceID: res.Snapshot.Name,
		Detail: fmt.Sprintf("files=%d bytes=%d size=%d", res.Files, res.Bytes, res.Snapshot.Size)}
	if err != nil {
		ev.Outcome, ev.Detail = domain.OutcomeFailure, "snapshot failed"
	}
	if aerr := s.Audit.Record(ctx, ev); aerr != nil && err == nil {
		return res, fmt.Errorf("snapshot %s written, but its audit event was not: %w", res.Snapshot.Path, aerr)
	}
	return res, err
}

// scheduledSnapshots takes a snapshot every Config.BackupEvery until ctx
// ends (the leader's work, on a SQLite installation with recipients set),
// at once when the newest is older than that.
func (s *System) scheduledSnapshots(ctx context.Context) {
	c := s.Config
	if c.BackupEvery <= 0 || c.BackupRecipients == "" || s.Store.Engine() != "sqlite" {
		return
	}
	opts, err := c.backupOptions()
	if err != nil {
		s.Logger.Error("scheduled snapshots are off: the backup recipients are not valid", "err", err)
		return
	}
	actx := domain.WithPrincipal(ctx, domain.System)
	var tried time.Time // the last attempt: after a failure, a whole interval passes
	for {
		due := tried.Add(c.BackupEvery)
		if snaps, err := backup.List(c.BackupDir); err == nil && len(snaps) > 0 {
			if next := snaps[len(snaps)-1].Time.Add(c.BackupEvery); next.After(due) {
				due = next
			}
		}
		wait := due.Sub(s.Now())
		if tried.IsZero() && wait > c.BackupEvery {
			wait = c.BackupEvery // a snapshot dated ahead of this clock
		}
		if wait <= 0 {
			tried = s.Now()
			res, err := s.snapshot(actx, opts)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.Logger.Error("scheduled snapshot failed; trying again at the next interval", "dir", c.BackupDir, "err", err)
			} else {
				s.Logger.Info("snapshot taken", "file", res.Snapshot.Path, "size", res.Snapshot.Size, "took", res.Took.Round(time.Millisecond))
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// lastSnapshot reads when the newest snapshot in the backup folder was
// taken, for the metrics of a SQLite installation; nil on PostgreSQL.
func (s *System) lastSnapshot() func() (time.Time, bool) {
	if s.Store.Engine() != "sqlite" {
		return nil
	}
	dir := s.Config.BackupDir
	return func() (time.Time, bool) {
		snaps, err := backup.List(dir)
		if err != nil || len(snaps) == 0 {
			return time.Time{}, false
		}
		return snaps[len(snaps)-1].Time, true
	}
}

func runBackupStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := backupCommand("backup status", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	snaps, err := backup.List(cfg.BackupDir)
	if err != nil {
		return err
	}
	var problems []string
	fmt.Fprintf(stdout, "folder:         %s (%d snapshots, keeping %d)\n", cfg.BackupDir, len(snaps), cfg.BackupKeep)
	if len(snaps) == 0 {
		fmt.Fprintln(stdout, "last snapshot:  none")
		problems = append(problems, "no snapshot yet (healthhubd backup now)")
	} else {
		last := snaps[len(snaps)-1]
		age := time.Since(last.Time).Round(time.Minute)
		fmt.Fprintf(stdout, "last snapshot:  %s (%s ago), %s, %s\n", last.Time.Local().Format(time.RFC3339), age, humanBytes(last.Size), last.Name)
		if time.Since(last.Time) > backup.StaleAfter {
			problems = append(problems, fmt.Sprintf("the last snapshot is older than %s", backup.StaleAfter))
		}
	}
	n := 0
	if rs, err := backup.ParseRecipients(cfg.BackupRecipients); err == nil {
		n = len(rs)
	} else if cfg.BackupRecipients != "" {
		problems = append(problems, err.Error())
	}
	fmt.Fprintf(stdout, "recipients:     %d\n", n)
	if n == 0 && cfg.BackupRecipients == "" {
		problems = append(problems, "HEALTHHUB_BACKUP_RECIPIENTS is not set, so snapshots are refused (healthhubd backup keygen)")
	}
	if inside(cfg.DataDir, cfg.BackupDir) {
		fmt.Fprintln(stdout, "warning:        the snapshots are on the same disk as the data folder: they protect against mistakes, not against losing the disk; "+
			"set HEALTHHUB_BACKUP_DIR to a second disk, a NAS or a USB stick")
	}
	problems = append(problems, replicationReport(ctx, cfg, stdout)...)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stdout, "problem:        %s\n", p)
		}
		return &ExitError{Code: 1, Err: errors.New(problems[0])}
	}
	return nil
}

// inside reports whether path is dir or within it.
func inside(dir, path string) bool {
	ad, err1 := filepath.Abs(dir)
	ap, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(ad, ap)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// runRestore is "healthhubd restore …".
func runRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if cfg, ok := postgresFromEnv(getenv); ok {
		return runPostgresRestore(ctx, cfg, args, getenv, stdout, stderr)
	}
	var to, identity, into, from *string
	cfg, err := backupCommand("restore", args, getenv, stderr, func(fs *flag.FlagSet) {
		to = fs.String("to", "latest", "the point in time to restore: an RFC 3339 time, a time before now such as \"90m ago\", or latest")
		from = fs.String("from", "", "replica (the continuous replica; the default when one is set) or snapshot")
		identity = fs.String("identity", "", "the age identity file the snapshots are encrypted to (from 'healthhubd backup keygen'); needed from a snapshot")
		into = fs.String("into", "", "the new or empty folder to write the data folder into (required)")
	})
	if err != nil {
		return err
	}
	if *into == "" {
		return &ExitError{Code: 2, Err: fmt.Errorf("restore needs --into\n%s", backupUsage)}
	}
	at, err := parseRestoreTarget(*to, time.Now())
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	switch *from {
	case "":
		*from = "snapshot"
		if cfg.ReplicaConfigured() {
			*from = "replica"
		}
	case "replica":
		if !cfg.ReplicaConfigured() {
			return &ExitError{Code: 2, Err: errors.New("--from replica needs the replica's settings (HEALTHHUB_REPLICA_DIR or HEALTHHUB_REPLICA_S3_BUCKET)")}
		}
	case "snapshot":
	default:
		return &ExitError{Code: 2, Err: fmt.Errorf("--from must be replica or snapshot, not %q", *from)}
	}
	var ids []age.Identity
	if *identity != "" {
		f, err := os.Open(*identity)
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("identity file: %w", err)}
		}
		ids, err = backup.ReadIdentities(f)
		f.Close()
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
	}
	if *from == "replica" {
		return restoreFromReplica(ctx, cfg, at, ids, *into, stdout, stderr)
	}
	if len(ids) == 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("a restore from a snapshot needs --identity\n%s", backupUsage)}
	}
	res, err := backup.Restore(ctx, backup.RestoreOptions{Dir: cfg.BackupDir, At: at, Identities: ids, Into: *into})
	if err != nil {
		return err
	}
	m := res.Manifest
	fmt.Fprintf(stdout, "restored %s (taken %s by HealthHub %s, schema %d) into %s: %d files, %s, in %s\n",
		res.Snapshot.Name, m.Created.Local().Format(time.RFC3339), m.HealthHubVersion, m.SchemaVersion, *into,
		len(m.Files), humanBytes(m.Bytes()), res.Took.Round(time.Millisecond))
	if err := recordRestore(ctx, cfg, *into, res.Snapshot.Name, "restored snapshot taken "+m.Created.Format(time.RFC3339), stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "start it with: HEALTHHUB_DATA_DIR=%s healthhubd serve\n", *into)
	return nil
}

// restoreFromReplica writes the database as it was at (zero: the newest
// the replica holds) into the new or empty folder into; with identities,
// the rest of the data folder comes from the newest snapshot first.
func restoreFromReplica(ctx context.Context, cfg Config, at time.Time, ids []age.Identity, into string, stdout, stderr io.Writer) error {
	if ents, err := os.ReadDir(into); err == nil && len(ents) > 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("%s is not empty: restore into a new or empty folder", into)}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	rc := cfg.replicaConfig(nil)
	if len(ids) > 0 {
		res, err := backup.Restore(ctx, backup.RestoreOptions{Dir: cfg.BackupDir, Identities: ids, Into: into})
		if err != nil {
			return fmt.Errorf("the files besides the database, from the newest snapshot: %w", err)
		}
		fmt.Fprintf(stdout, "restored the files of %s (taken %s) into %s; the database comes from the replica\n",
			res.Snapshot.Name, res.Manifest.Created.Local().Format(time.RFC3339), into)
	} else if err := os.MkdirAll(into, 0o700); err != nil {
		return err
	}
	dbPath := filepath.Join(into, store.SQLiteFile)
	res, err := restoreReplicaDatabase(ctx, rc, at, into)
	if err != nil {
		if errors.Is(err, replica.ErrBeforeOldest) || errors.Is(err, replica.ErrAfterNewest) || errors.Is(err, replica.ErrEmpty) {
			return &ExitError{Code: 2, Err: err}
		}
		return err
	}
	fmt.Fprintf(stdout, "restored the database from %s into %s: as it was at %s (transaction %d; the replica holds %s to %s), in %s\n",
		res.Source, dbPath, res.RestoredAt.Local().Format(time.RFC3339Nano), res.TXID,
		res.Window.Oldest.Local().Format(time.RFC3339), res.Window.Newest.Local().Format(time.RFC3339), res.Took.Round(time.Millisecond))
	detail := fmt.Sprintf("restored the database from %s as it was at %s (transaction %d)", res.Source, res.RestoredAt.UTC().Format(time.RFC3339Nano), res.TXID)
	if err := recordRestore(ctx, cfg, into, "replica", detail, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "start it with: HEALTHHUB_DATA_DIR=%s healthhubd serve\n", into)
	return nil
}

// restoreReplicaDatabase writes the database as it was at (zero: the
// newest the replica holds) into the data folder dir, in place of one a
// snapshot put there: restored beside it first, then renamed over it.
func restoreReplicaDatabase(ctx context.Context, rc replica.Config, at time.Time, dir string) (replica.RestoreResult, error) {
	dbPath := filepath.Join(dir, store.SQLiteFile)
	staging := filepath.Join(dir, "."+store.SQLiteFile+".restoring")
	res, err := replica.Restore(ctx, replica.RestoreOptions{Config: rc, Target: at, OutputPath: staging})
	if err != nil {
		return res, err
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, err
		}
	}
	return res, os.Rename(staging, dbPath)
}

// recordRestore opens the restored installation, which also proves it
// opens, and records the restore in its audit log. A folder without the
// keyring is left alone: opening it would make a new, wrong keyring.
func recordRestore(ctx context.Context, cfg Config, into, resourceID, detail string, stderr io.Writer) error {
	keyring := filepath.Join(into, "keyring.json")
	if _, err := os.Stat(keyring); err != nil {
		fmt.Fprintf(stderr, "warning: the restored folder holds no keyring.json: put the installation's keyring (%s, or the one in a snapshot) at %s, "+
			"and its knowledge folder and stored files beside it, before starting it\n", cfg.KeyringFile, keyring)
		return nil
	}
	rc := cfg
	rc.DataDir, rc.DatabaseURL, rc.KeyringFile = into, "", keyring
	if rc.BlobS3Bucket == "" {
		rc.BlobDir = filepath.Join(into, "blobs")
	}
	sys, err := openSystem(ctx, rc, stderr)
	if err != nil {
		return fmt.Errorf("the restored folder %s does not open: %w", into, err)
	}
	defer sys.Close()
	ev := audit.Event{Action: domain.ActionCreate, ResourceType: resourceBackup, ResourceID: resourceID, Detail: detail}
	if err := sys.Audit.Record(cliContext(ctx), ev); err != nil {
		return fmt.Errorf("record the restore in the audit log: %w", err)
	}
	return nil
}

// humanBytes is n in B, KB, MB or GB (powers of 1000).
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, suffix := float64(n), []string{"KB", "MB", "GB", "TB"}
	i := -1
	for f >= unit && i < len(suffix)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", f, suffix[i])
}
