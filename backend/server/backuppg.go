package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/backup/aurora"
	"github.com/healthhub/healthhub/backend/backup/pgbackrest"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
)

const pgBackupUsage = `usage on a PostgreSQL installation (pgBackRest):
  backup setup                 write the pgBackRest configuration, set PostgreSQL's WAL archiving
                               (asks for a restart when needed; run it again after), create the
                               stanza and check that WAL reaches the repository
  backup now [--type full|diff|incr]
                               take a backup now (default incr; the first is always full)
  backup list                  the backups in the repository and the archived WAL range
  backup status                the newest backup and the archive lag; exit status 1 when either is
                               older than the recovery point objective (HEALTHHUB_PGBACKREST_RPO, 1h)
  restore --into DIR [--to TIME|latest]
                               restore into the new or empty data folder DIR, recovered to TIME
                               (RFC 3339); refuses a time before the oldest backup or past the end of
                               the archived WAL; starts the result on a private socket to check that
                               recovery stopped at TIME, then stops it
  restore --aurora --source-cluster ID --new-cluster ID [--to TIME|latest] [--instance-class C]
          [--subnet-group G] [--security-groups sg-1,sg-2] [--kms-key-id K] [--tags k=v,…]
                               hosted: restore the Aurora cluster to TIME into a new cluster
                               (AWS credentials and region from the environment)
Settings: HEALTHHUB_PGBACKREST_STANZA (healthhub), HEALTHHUB_PGBACKREST_CONFIG
(/etc/pgbackrest/healthhub.conf), HEALTHHUB_PGBACKREST_REPO_PATH (/var/lib/pgbackrest),
HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE (required: a file, mode 0600, holding the repository
passphrase), HEALTHHUB_PGBACKREST_PGDATA (/var/lib/postgresql/15/main),
HEALTHHUB_PGBACKREST_PGPORT (the database URL's port, else 5432), HEALTHHUB_PGBACKREST_PGSOCKET
(/var/run/postgresql), HEALTHHUB_PGBACKREST_OS_USER (postgres), HEALTHHUB_PGBACKREST_RETENTION_FULL (2),
HEALTHHUB_PGBACKREST_RETENTION_DIFF (7), HEALTHHUB_PGBACKREST_ARCHIVE_TIMEOUT (60s),
HEALTHHUB_PGBACKREST_RPO (1h), HEALTHHUB_PGBACKREST_LOG_PATH, HEALTHHUB_PGBACKREST_LOCK_PATH`

// pgBackRestSettings are a PostgreSQL installation's pgBackRest settings,
// read from the environment.
type pgBackRestSettings struct {
	Config pgbackrest.Config
	// RPO is the recovery point objective: the newest backup and the
	// unarchived WAL may be at most this old.
	RPO time.Duration
}

// pgBackRestFromEnv reads the HEALTHHUB_PGBACKREST_* settings; the port
// defaults to the database URL's.
func pgBackRestFromEnv(cfg Config, getenv func(string) string) (pgBackRestSettings, error) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var problems []string
	num := func(name string, def int) int {
		v := env(name, strconv.Itoa(def))
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			problems = append(problems, fmt.Sprintf("%s must be a whole number, not %q", name, v))
		}
		return n
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := env(name, def.String())
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("%s must be a duration such as 60s or 1h, not %q", name, v))
		}
		return d
	}
	port := 5432
	if u, err := url.Parse(cfg.DatabaseURL); err == nil && u.Port() != "" {
		port, _ = strconv.Atoi(u.Port())
	}
	s := pgBackRestSettings{Config: pgbackrest.Config{
		Stanza:        env("HEALTHHUB_PGBACKREST_STANZA", "healthhub"),
		ConfigFile:    env("HEALTHHUB_PGBACKREST_CONFIG", "/etc/pgbackrest/healthhub.conf"),
		RepoPath:      env("HEALTHHUB_PGBACKREST_REPO_PATH", "/var/lib/pgbackrest"),
		PGData:        env("HEALTHHUB_PGBACKREST_PGDATA", "/var/lib/postgresql/15/main"),
		PGPort:        num("HEALTHHUB_PGBACKREST_PGPORT", port),
		PGSocketDir:   env("HEALTHHUB_PGBACKREST_PGSOCKET", "/var/run/postgresql"),
		PGBinDir:      env("HEALTHHUB_PGBACKREST_PGBIN", ""),
		RunAs:         env("HEALTHHUB_PGBACKREST_OS_USER", "postgres"),
		RetentionFull: num("HEALTHHUB_PGBACKREST_RETENTION_FULL", 2),
		RetentionDiff: num("HEALTHHUB_PGBACKREST_RETENTION_DIFF", 7),
		LogPath:       env("HEALTHHUB_PGBACKREST_LOG_PATH", ""),
		LockPath:      env("HEALTHHUB_PGBACKREST_LOCK_PATH", ""),
	}}
	s.Config.ArchiveTimeout = dur("HEALTHHUB_PGBACKREST_ARCHIVE_TIMEOUT", time.Minute)
	s.RPO = dur("HEALTHHUB_PGBACKREST_RPO", time.Hour)
	passFile := env("HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE", "")
	if passFile == "" {
		problems = append(problems, "HEALTHHUB_PGBACKREST_CIPHER_PASS_FILE is not set: make the repository passphrase with "+
			"'openssl rand -base64 48 > /etc/healthhub/pgbackrest.pass; chmod 600 /etc/healthhub/pgbackrest.pass' and keep a copy off this machine")
	} else if pass, err := readSecretFile(passFile); err != nil {
		problems = append(problems, err.Error())
	} else {
		s.Config.CipherPass = pass
	}
	if len(problems) > 0 {
		return s, &ExitError{Code: 2, Err: errors.New(strings.Join(problems, "; "))}
	}
	return s, nil
}

// readSecretFile reads a one-line secret from a file no one but its owner
// may read.
func readSecretFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("the cipher passphrase file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("the cipher passphrase file %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("the cipher passphrase file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// pgRepo opens the installation's pgBackRest repository.
func pgRepo(cfg Config, getenv func(string) string) (*pgbackrest.Repo, pgBackRestSettings, error) {
	s, err := pgBackRestFromEnv(cfg, getenv)
	if err != nil {
		return nil, s, err
	}
	repo, err := pgbackrest.New(s.Config)
	if err != nil {
		return nil, s, &ExitError{Code: 2, Err: err}
	}
	return repo, s, nil
}

// runPostgresBackup is "healthhubd backup SUB …" on a PostgreSQL
// installation: setup, now, list and status through pgBackRest.
func runPostgresBackup(ctx context.Context, cfg Config, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	typ := "incr"
	if sub == "now" {
		fs.StringVar(&typ, "type", "incr", "full, diff (changes since the last full) or incr (changes since the last backup)")
	}
	if err := fs.Parse(args); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if fs.NArg() > 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), pgBackupUsage)}
	}
	switch sub {
	case "setup", "now", "list", "status":
	default:
		return &ExitError{Code: 2, Err: fmt.Errorf("unknown backup command %q\n%s", sub, pgBackupUsage)}
	}
	repo, s, err := pgRepo(cfg, getenv)
	if err != nil {
		return err
	}
	switch sub {
	case "setup":
		return runPostgresBackupSetup(ctx, repo, stdout)
	case "now":
		bt, err := pgbackrest.ParseBackupType(typ)
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		return runPostgresBackupNow(ctx, cfg, repo, bt, stdout, stderr)
	case "list":
		info, err := repo.Info(ctx)
		if err != nil {
			return err
		}
		printPostgresBackups(stdout, info)
		return nil
	}
	return runPostgresBackupStatus(ctx, cfg, repo, s, stdout)
}

func runPostgresBackupSetup(ctx context.Context, repo *pgbackrest.Repo, stdout io.Writer) error {
	c := repo.Config()
	res, err := repo.Setup(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "configuration  %s (stanza %s, repository %s, aes-256-cbc)\n", c.ConfigFile, c.Stanza, c.RepoPath)
	if len(res.Changed) > 0 {
		fmt.Fprintf(stdout, "set            %s (ALTER SYSTEM)\n", strings.Join(res.Changed, ", "))
	}
	if len(res.RestartNeeded) > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%s take effect on a restart of PostgreSQL: restart it (systemctl restart postgresql) and run 'healthhubd backup setup' again",
			strings.Join(res.RestartNeeded, " and "))}
	}
	fmt.Fprintf(stdout, "archiving      on: WAL reaches the repository (archive_timeout %s)\n", c.ArchiveTimeout)
	fmt.Fprintln(stdout, "next           take the first full backup: healthhubd backup now --type full")
	return nil
}

func runPostgresBackupNow(ctx context.Context, cfg Config, repo *pgbackrest.Repo, typ pgbackrest.BackupType, stdout, stderr io.Writer) error {
	started := time.Now()
	b, berr := repo.Backup(ctx, typ)
	took := time.Since(started)
	ev := audit.Event{Action: domain.ActionExport, ResourceType: resourceBackup, ResourceID: b.Label,
		Detail: fmt.Sprintf("pgbackrest type=%s size=%d repo_size=%d", b.Type, b.Size, b.RepoSize)}
	if berr != nil {
		ev.ResourceID, ev.Outcome, ev.Detail = "pgbackrest", domain.OutcomeFailure, "pgbackrest backup failed"
	}
	if aerr := recordBackupEvent(ctx, cfg, ev, stderr); aerr != nil && berr == nil {
		return fmt.Errorf("backup %s taken, but its audit event was not recorded: %w", b.Label, aerr)
	}
	if berr != nil {
		return berr
	}
	fmt.Fprintf(stdout, "backup   %s (%s)\nsize     %s of database, %s added to the repository\nWAL      %s to %s\ntook     %s\n",
		b.Label, b.Type, humanBytes(b.Size), humanBytes(b.RepoSize), b.WALStart, b.WALStop, took.Round(time.Millisecond))
	return nil
}

// recordBackupEvent records a backup or restore in the installation's audit
// log as the command line.
func recordBackupEvent(ctx context.Context, cfg Config, ev audit.Event, stderr io.Writer) error {
	sys, err := openSystem(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer sys.Close()
	return sys.Audit.Record(cliContext(ctx), ev)
}

func printPostgresBackups(w io.Writer, info pgbackrest.Info) {
	fmt.Fprintf(w, "stanza %s: %s, cipher %s\n", info.Stanza, info.Status.Message, info.Cipher)
	if a, ok := info.Archive(); ok {
		fmt.Fprintf(w, "archived WAL %s to %s\n", a.Min, a.Max)
	}
	if len(info.Backups) == 0 {
		fmt.Fprintln(w, "no backups yet (healthhubd backup now --type full)")
		return
	}
	fmt.Fprintf(w, "%-34s  %-4s  %-25s  %8s  %10s  %10s\n", "LABEL", "TYPE", "FINISHED", "TOOK", "SIZE", "STORED")
	for i := len(info.Backups) - 1; i >= 0; i-- {
		b := info.Backups[i]
		fmt.Fprintf(w, "%-34s  %-4s  %-25s  %8s  %10s  %10s\n", b.Label, b.Type, b.Stop.Local().Format(time.RFC3339),
			b.Stop.Sub(b.Start), humanBytes(b.Size), humanBytes(b.RepoSize))
	}
}

// PGBackRestStatus is what the admin home shows of a PostgreSQL
// installation's backups.
type PGBackRestStatus struct {
	// LastBackup is when the newest backup finished (zero for none);
	// LastBackupLabel and LastBackupType name it.
	LastBackup      time.Time
	LastBackupLabel string
	LastBackupType  string
	Backups         int
	// ArchiveLag is how long WAL has waited to be archived (zero when all
	// of it is); ArchiveFailing reports a failure newer than the last
	// success. ArchiveErr is why the archiver could not be read.
	ArchiveLag     time.Duration
	ArchiveFailing bool
	LastArchived   time.Time
	ArchiveErr     error
	// Problems are the reasons the backups fall short of the RPO.
	Problems []string
}

// pgBackRestStatus reads the repository and the server's archiver.
func pgBackRestStatus(ctx context.Context, cfg Config, getenv func(string) string, now time.Time) (PGBackRestStatus, error) {
	repo, s, err := pgRepo(cfg, getenv)
	if err != nil {
		return PGBackRestStatus{}, err
	}
	return readPGBackRestStatus(ctx, cfg, repo, s, now)
}

func readPGBackRestStatus(ctx context.Context, cfg Config, repo *pgbackrest.Repo, s pgBackRestSettings, now time.Time) (PGBackRestStatus, error) {
	var st PGBackRestStatus
	info, err := repo.Info(ctx)
	if err != nil {
		return st, err
	}
	st.Backups = len(info.Backups)
	if b, ok := info.Newest(); ok {
		st.LastBackup, st.LastBackupLabel, st.LastBackupType = b.Stop, b.Label, b.Type
		if age := now.Sub(b.Stop); age > s.RPO {
			st.Problems = append(st.Problems, fmt.Sprintf("the newest backup is %s old, more than the RPO of %s", age.Round(time.Minute), s.RPO))
		}
	} else {
		st.Problems = append(st.Problems, "no backup yet (healthhubd backup now --type full)")
	}
	arch, err := readArchiver(ctx, cfg.DatabaseURL)
	if err != nil {
		st.ArchiveErr = err
		st.Problems = append(st.Problems, "the archiver's state could not be read: "+err.Error())
		return st, nil
	}
	st.ArchiveLag, st.ArchiveFailing, st.LastArchived = arch.Lag(), arch.Failing(), arch.LastArchivedAt
	if st.ArchiveLag > s.RPO {
		msg := fmt.Sprintf("WAL has waited more than the RPO of %s to be archived", s.RPO)
		if !arch.LastArchivedAt.IsZero() {
			msg = fmt.Sprintf("WAL has waited %s to be archived (last archived %s), more than the RPO of %s", st.ArchiveLag.Round(time.Minute), arch.LastArchivedWAL, s.RPO)
		}
		if st.ArchiveFailing {
			msg += fmt.Sprintf("; archiving fails (last failure %s on %s): see the PostgreSQL log", arch.LastFailedAt.Local().Format(time.RFC3339), arch.LastFailedWAL)
		}
		st.Problems = append(st.Problems, msg)
	}
	return st, nil
}

func readArchiver(ctx context.Context, databaseURL string) (pgbackrest.Archiver, error) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, databaseURL)
	if err != nil {
		return pgbackrest.Archiver{}, fmt.Errorf("connect to the database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return pgbackrest.ReadArchiver(cctx, conn)
}

func runPostgresBackupStatus(ctx context.Context, cfg Config, repo *pgbackrest.Repo, s pgBackRestSettings, stdout io.Writer) error {
	st, err := readPGBackRestStatus(ctx, cfg, repo, s, time.Now())
	if err != nil {
		return err
	}
	c := repo.Config()
	fmt.Fprintf(stdout, "repository:     %s (stanza %s, %d backups, keeping %d full and %d differential)\n", c.RepoPath, c.Stanza, st.Backups, c.RetentionFull, c.RetentionDiff)
	if st.LastBackup.IsZero() {
		fmt.Fprintln(stdout, "last backup:    none")
	} else {
		fmt.Fprintf(stdout, "last backup:    %s (%s ago), %s %s\n", st.LastBackup.Local().Format(time.RFC3339), time.Since(st.LastBackup).Round(time.Minute), st.LastBackupType, st.LastBackupLabel)
	}
	switch {
	case st.ArchiveErr != nil:
		fmt.Fprintln(stdout, "archive lag:    unknown")
	case st.ArchiveLag == 0:
		fmt.Fprintf(stdout, "archive lag:    none (everything written is archived; last segment %s)\n", whenOrNever(st.LastArchived))
	default:
		fmt.Fprintf(stdout, "archive lag:    %s (last segment %s)\n", st.ArchiveLag.Round(time.Second), whenOrNever(st.LastArchived))
	}
	fmt.Fprintf(stdout, "RPO:            %s\n", s.RPO)
	if len(st.Problems) > 0 {
		for _, p := range st.Problems {
			fmt.Fprintf(stdout, "problem:        %s\n", p)
		}
		return &ExitError{Code: 1, Err: errors.New(st.Problems[0])}
	}
	return nil
}

func whenOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format(time.RFC3339)
}

// runPostgresRestore is "healthhubd restore …" on a PostgreSQL
// installation: pgBackRest into a new data folder, or with --aurora a new
// Aurora cluster.
func runPostgresRestore(ctx context.Context, cfg Config, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "latest", "the RFC 3339 time to recover to, or latest")
	into := fs.String("into", "", "pgBackRest: the new or empty data folder to restore into")
	useAurora := fs.Bool("aurora", false, "restore the hosted Aurora cluster into a new cluster instead")
	source := fs.String("source-cluster", "", "Aurora: the cluster to restore from")
	newCluster := fs.String("new-cluster", "", "Aurora: the identifier of the new cluster")
	class := fs.String("instance-class", "db.serverless", "Aurora: the new writer instance's class")
	subnet := fs.String("subnet-group", "", "Aurora: the DB subnet group (default the source's)")
	groups := fs.String("security-groups", "", "Aurora: comma-separated VPC security group IDs (default the source's)")
	kmsKey := fs.String("kms-key-id", "", "Aurora: the KMS key encrypting the new cluster (default the source's)")
	tagList := fs.String("tags", "", "Aurora: tags for the new cluster, key=value,…")
	if err := fs.Parse(args); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if fs.NArg() > 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("unexpected argument %q\n%s", fs.Arg(0), pgBackupUsage)}
	}
	var target time.Time
	if *to != "latest" {
		var err error
		if target, err = time.Parse(time.RFC3339Nano, *to); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("--to must be an RFC 3339 time such as 2026-12-07T15:30:00Z, or latest, not %q", *to)}
		}
	}
	if *useAurora {
		if *source == "" || *newCluster == "" {
			return &ExitError{Code: 2, Err: fmt.Errorf("restore --aurora needs --source-cluster and --new-cluster\n%s", pgBackupUsage)}
		}
		tags, err := aurora.ParseTags(*tagList)
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		var sgs []string
		for _, g := range strings.Split(*groups, ",") {
			if g = strings.TrimSpace(g); g != "" {
				sgs = append(sgs, g)
			}
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("AWS configuration: %w", err)
		}
		res, err := aurora.RestoreToTime(ctx, rds.NewFromConfig(awsCfg), aurora.RestoreOptions{
			SourceCluster: *source, Target: target, NewCluster: *newCluster, InstanceClass: *class, SubnetGroup: *subnet,
			SecurityGroups: sgs, KMSKeyID: *kmsKey, Tags: tags, Progress: func(s string) { fmt.Fprintln(stderr, s) },
		})
		if err != nil {
			var te *aurora.TargetError
			if errors.As(err, &te) || errors.Is(err, aurora.ErrClusterExists) {
				return &ExitError{Code: 2, Err: err}
			}
			return err
		}
		fmt.Fprintf(stdout, "restored %s to %s into the new cluster %s in %s\nendpoint %s:%d\npoint HEALTHHUB_DATABASE_URL at it once checked\n",
			*source, res.Target.Format(time.RFC3339), res.Cluster, res.Took.Round(time.Second), res.Endpoint, res.Port)
		return nil
	}
	if *into == "" {
		return &ExitError{Code: 2, Err: fmt.Errorf("restore needs --into DIR (a new or empty data folder)\n%s", pgBackupUsage)}
	}
	repo, _, err := pgRepo(cfg, getenv)
	if err != nil {
		return err
	}
	sock, err := repo.MakePrivateDir("", "healthhub-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sock)
	rc, err := repo.RestoreAndVerify(ctx, pgbackrest.RestoreOptions{Target: target, DataDir: *into}, 5432, sock)
	if err != nil {
		var te *pgbackrest.TargetError
		if errors.As(err, &te) || errors.Is(err, pgbackrest.ErrNoBackup) || strings.Contains(err.Error(), "not empty") {
			return &ExitError{Code: 2, Err: err}
		}
		return err
	}
	defer rc.Stop()
	if err := recordPostgresRestore(ctx, cfg, rc, stderr); err != nil {
		return err
	}
	if err := rc.Stop(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored backup %s into %s in %s\n", rc.Backup.Label, *into, rc.Took.Round(time.Millisecond))
	if target.IsZero() {
		fmt.Fprintf(stdout, "recovered to the end of the archive: the last transaction ended %s\n", whenOrNever(rc.ReplayedTo))
	} else {
		fmt.Fprintf(stdout, "recovered to %s: %s; the last transaction applied ended %s\n", target.Format(time.RFC3339Nano), rc.StoppedAt, whenOrNever(rc.ReplayedTo))
	}
	fmt.Fprintf(stdout, "the folder is a promoted cluster: stop PostgreSQL, put %s in place of its data folder (owned by %s, mode 0700), "+
		"start it, then take a full backup (healthhubd backup now --type full)\n", *into, repo.Config().RunAs)
	return nil
}

// recordPostgresRestore records the restore in the restored database's
// audit log, through the instance the restore started.
func recordPostgresRestore(ctx context.Context, cfg Config, rc *pgbackrest.Recovered, stderr io.Writer) error {
	dbName := "healthhub"
	if u, err := url.Parse(cfg.DatabaseURL); err == nil && strings.Trim(u.Path, "/") != "" {
		dbName = strings.Trim(u.Path, "/")
	}
	u, err := url.Parse(rc.URL)
	if err != nil {
		return err
	}
	u.Path = "/" + dbName
	rcfg := cfg
	rcfg.DatabaseURL, rcfg.DatabasePasswordSecret = u.String(), ""
	detail := "restored with pgbackrest backup " + rc.Backup.Label + " to "
	if rc.Target.IsZero() {
		detail += "latest"
	} else {
		detail += rc.Target.Format(time.RFC3339Nano)
	}
	ev := audit.Event{Action: domain.ActionCreate, ResourceType: resourceBackup, ResourceID: rc.Backup.Label, Detail: detail}
	if err := recordBackupEvent(ctx, rcfg, ev, stderr); err != nil {
		return fmt.Errorf("the restored database does not open as HealthHub's (record the restore in its audit log): %w", err)
	}
	return nil
}
