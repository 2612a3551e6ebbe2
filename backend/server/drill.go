package server

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/atomicfile"
	"github.com/healthhub/healthhub/backend/backup"
	"github.com/healthhub/healthhub/backend/backup/drill"
	"github.com/healthhub/healthhub/backend/backup/pgbackrest"
	"github.com/healthhub/healthhub/backend/store"
)

// settingLastDrill holds the newest drill's report (JSON), for the admin home.
const settingLastDrill = "backup.last_drill"

// canaryKeep is how long canaries are kept: longer than any point a drill
// or restore goes back to.
const canaryKeep = 35 * 24 * time.Hour

// writeCanaries writes the backup canary every Config.CanaryEvery until ctx
// ends (the leader's work). A restore drill reads the newest canary in the
// restored copy to measure the recovery point achieved.
func (s *System) writeCanaries(ctx context.Context) {
	every := s.Config.CanaryEvery
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		now := s.Now()
		if err := s.Store.WriteCanary(ctx, now, now.Add(-canaryKeep)); err != nil && ctx.Err() == nil {
			s.Logger.Warn("backup canary not written", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

const drillUsage = `usage: healthhubd drill [flags]

Restores this installation as it was a while ago (--ago, default 5m) into
a scratch folder, checks the copy (database integrity, row counts, the audit
chain and that it is this installation's past), starts a server on it with
nothing sent, synced or replicated from it, and measures:
  RPO  the target time less the newest backup canary in the copy (the
       server writes one a minute, HEALTHHUB_CANARY_EVERY)
  RTO  from the drill's start until the copy's server answers /readyz
It exits with status 1 when a check fails or a figure is above its target
(--rpo, default 1h; --rto, default 4h). The result is recorded in the audit
log and shown to administrators on their home page.
`

// drillSources are the restore sources a drill can use on this
// installation, by name, in order of preference.
type drillSourceFactory func(cfg Config, getenv func(string) string, identity string) (drill.Source, error)

var drillSources = map[string]drillSourceFactory{
	"replica":    newReplicaSource,
	"snapshot":   newSnapshotSource,
	"pgbackrest": newPgBackRestSource,
}

// drillSourceOrder is the preference when --from is not given: the first
// configured source of this list.
var drillSourceOrder = []string{"replica", "snapshot", "pgbackrest"}

func runDrill(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var ago, rpo, rto time.Duration
	var at, from, identity, scratch *string
	var keep, asJSON *bool
	cfg, _, err := parseCommand("drill", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.Usage = func() { fmt.Fprint(fs.Output(), drillUsage); fs.PrintDefaults() }
		fs.DurationVar(&ago, "ago", 5*time.Minute, "restore to this long before now")
		at = fs.String("at", "", "restore to this RFC 3339 time instead of --ago")
		from = fs.String("from", "", "restore from: "+strings.Join(drillSourceOrder, ", ")+" (default: the first configured)")
		identity = fs.String("identity", "", "the age identity file the snapshots are encrypted to (snapshots)")
		scratch = fs.String("scratch", "", "an empty folder to restore into (default: a new folder beside the data folder, removed afterwards)")
		keep = fs.Bool("keep", false, "keep the scratch folder afterwards")
		fs.DurationVar(&rpo, "rpo", drill.DefaultRPO, "the recovery point objective")
		fs.DurationVar(&rto, "rto", drill.DefaultRTO, "the recovery time objective")
		asJSON = fs.Bool("json", false, "print the report as JSON")
	})
	if err != nil {
		return err
	}
	target := time.Now().Add(-ago)
	if *at != "" {
		if target, err = time.Parse(time.RFC3339, *at); err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("--at must be an RFC 3339 time such as 2026-12-07T15:30:00Z, not %q", *at)}
		}
	}
	source, err := pickDrillSource(cfg, getenv, *from, *identity)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	dir := *scratch
	if dir == "" {
		if dir, err = os.MkdirTemp(filepath.Dir(filepath.Clean(cfg.DataDir)), "healthhub-drill-"); err != nil {
			return fmt.Errorf("scratch folder: %w", err)
		}
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	sys, err := openSystem(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer sys.Close()
	rep, err := drill.Run(ctx, drill.Options{Source: source, Target: target, Scratch: dir, Live: sys.Store,
		Serve: sys.drillServer(stderr), RPO: rpo, RTO: rto})
	if err != nil {
		return err
	}
	if err := sys.recordDrill(cliContext(ctx), rep); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printDrill(stdout, rep)
	}
	if !rep.Passed {
		return &ExitError{Code: 1, Err: fmt.Errorf("the restore drill failed: %s", strings.Join(rep.Failures, "; "))}
	}
	return nil
}

func pickDrillSource(cfg Config, getenv func(string) string, from, identity string) (drill.Source, error) {
	if from != "" {
		f, ok := drillSources[from]
		if !ok {
			return nil, fmt.Errorf("--from must be one of %s, not %q", strings.Join(drillSourceOrder, ", "), from)
		}
		return f(cfg, getenv, identity)
	}
	var reasons []string
	for _, name := range drillSourceOrder {
		src, err := drillSources[name](cfg, getenv, identity)
		if err == nil {
			return src, nil
		}
		reasons = append(reasons, name+": "+err.Error())
	}
	return nil, fmt.Errorf("no backup to drill from on this installation (%s)", strings.Join(reasons, "; "))
}

// recordDrill records the drill in the audit log and keeps its report for
// the admin home.
func (s *System) recordDrill(ctx context.Context, rep *drill.Report) error {
	if err := s.Audit.Record(ctx, drill.AuditEvent(rep)); err != nil {
		return fmt.Errorf("record the drill in the audit log: %w", err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return s.Store.PutSetting(ctx, settingLastDrill, string(b))
}

// LastDrill is the newest drill's report, if there was one.
func (s *System) LastDrill(ctx context.Context) (*drill.Report, error) {
	v, ok, err := s.Store.Setting(ctx, settingLastDrill)
	if err != nil || !ok {
		return nil, err
	}
	var rep drill.Report
	if err := json.Unmarshal([]byte(v), &rep); err != nil {
		return nil, fmt.Errorf("stored drill report: %w", err)
	}
	return &rep, nil
}

func printDrill(w io.Writer, r *drill.Report) {
	verdict := "PASSED"
	if !r.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "restore drill %s (from %s)\n", verdict, r.Source)
	fmt.Fprintf(w, "  target        %s\n", r.Target.Local().Format(time.RFC3339))
	if !r.RestoredTo.IsZero() {
		fmt.Fprintf(w, "  restored to   %s\n", r.RestoredTo.Local().Format(time.RFC3339))
	}
	if !r.NewestCanary.IsZero() {
		fmt.Fprintf(w, "  newest canary %s\n", r.NewestCanary.Local().Format(time.RFC3339Nano))
	}
	fmt.Fprintf(w, "  RPO           %s (target %s)\n", r.RPO.Round(time.Millisecond), r.RPOTarget)
	fmt.Fprintf(w, "  RTO           %s (target %s): restore %s, checks %s, server ready %s\n", r.RTO.Round(time.Millisecond), r.RTOTarget,
		r.RestoreTook.Round(time.Millisecond), r.CheckTook.Round(time.Millisecond), r.StartTook.Round(time.Millisecond))
	fmt.Fprintf(w, "  database      %s, integrity %s, %d audit events (chain intact, a prefix of this installation's)\n",
		humanBytes(r.DatabaseBytes), r.Integrity, r.AuditEvents)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  FAILED: %s\n", f)
	}
}

// drillServer starts an isolated server on a restored copy: loopback, no
// TLS, no e-mail, no background work. Its keyring is the copy's; a copy
// without one gets this installation's (a database-only restore), which
// the report notes.
func (s *System) drillServer(stderr io.Writer) drill.Server {
	return func(ctx context.Context, r *drill.Restored) (string, func() error, error) {
		rc := s.Config
		rc.DataDir, rc.DatabaseURL, rc.DatabasePasswordSecret = r.DataDir, r.DatabaseURL, ""
		rc.Addr, rc.TLS, rc.PublicURL, rc.SMTPAddr = "127.0.0.1:0", "off", "", ""
		rc.BackupRecipients, rc.BackupEvery, rc.CanaryEvery = "", 0, 0
		rc.ReplicaDir, rc.ReplicaS3Bucket = "", "" // never replicate a drill's copy over the real replica
		rc.LogLevel = "warn"
		if rc.BlobS3Bucket == "" {
			rc.BlobDir = filepath.Join(r.DataDir, "blobs")
		}
		if !rc.KeyringInDatabase {
			rc.KeyringFile = filepath.Join(r.DataDir, "keyring.json")
			if _, err := os.Stat(rc.KeyringFile); errors.Is(err, os.ErrNotExist) {
				if err := copyKeyring(s.Config.KeyringFile, rc.KeyringFile); err != nil {
					return "", nil, err
				}
				r.Notes = append(r.Notes, "the copy held no keyring; the drill used this installation's")
			}
		}
		sys, err := openSystem(ctx, rc, stderr)
		if err != nil {
			return "", nil, err
		}
		sys.isolated = true
		ln, err := net.Listen("tcp", rc.Addr)
		if err != nil {
			sys.Close()
			return "", nil, err
		}
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan error, 1)
		go func() { done <- sys.Serve(sctx, ln) }()
		stop := func() error {
			cancel()
			err := <-done
			return errors.Join(err, sys.Close())
		}
		return "http://" + ln.Addr().String(), stop, nil
	}
}

func copyKeyring(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("the restored copy has no keyring and this installation's cannot be read: %w", err)
	}
	return atomicfile.Write(to, b, 0o600)
}

// snapshotSource restores from the encrypted snapshots (package backup).
type snapshotSource struct {
	dir string
	ids []byte
}

func newSnapshotSource(cfg Config, _ func(string) string, identity string) (drill.Source, error) {
	if cfg.DatabaseURL != "" {
		return nil, errors.New("snapshots are of SQLite installations")
	}
	snaps, err := backup.List(cfg.BackupDir)
	if err != nil || len(snaps) == 0 {
		return nil, fmt.Errorf("no snapshots in %s", cfg.BackupDir)
	}
	if identity == "" {
		return nil, errors.New("--identity is needed to open the snapshots")
	}
	b, err := os.ReadFile(identity)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	return &snapshotSource{dir: cfg.BackupDir, ids: b}, nil
}

func (s *snapshotSource) Name() string { return "snapshot in " + s.dir }

func (s *snapshotSource) Restore(ctx context.Context, target time.Time, dir string) (*drill.Restored, error) {
	ids, err := backup.ReadIdentities(strings.NewReader(string(s.ids)))
	if err != nil {
		return nil, err
	}
	res, err := backup.Restore(ctx, backup.RestoreOptions{Dir: s.dir, At: target, Identities: ids, Into: dir})
	if err != nil {
		return nil, err
	}
	return &drill.Restored{DataDir: dir, Point: res.Snapshot.Time}, nil
}

// replicaSource restores the database from the continuous replica
// (Litestream); the files beside it come from the newest snapshot when an
// identity is given, else the drill's server uses this installation's
// keyring.
type replicaSource struct {
	cfg      Config
	snapshot *snapshotSource
}

func newReplicaSource(cfg Config, getenv func(string) string, identity string) (drill.Source, error) {
	if cfg.DatabaseURL != "" || !cfg.ReplicaConfigured() {
		return nil, errors.New("no continuous replica is set (HEALTHHUB_REPLICA_DIR or HEALTHHUB_REPLICA_S3_BUCKET)")
	}
	src := &replicaSource{cfg: cfg}
	if identity != "" {
		snap, err := newSnapshotSource(cfg, getenv, identity)
		if err != nil {
			return nil, err
		}
		src.snapshot = snap.(*snapshotSource)
	}
	return src, nil
}

func (s *replicaSource) Name() string {
	return "replica " + strings.Join(s.cfg.replicaConfig(nil).Targets(), ", ")
}

func (s *replicaSource) Restore(ctx context.Context, target time.Time, dir string) (*drill.Restored, error) {
	out := &drill.Restored{DataDir: dir}
	if s.snapshot != nil {
		// The newest snapshot's files; its database is replaced below.
		snap, err := s.snapshot.Restore(ctx, time.Time{}, dir)
		if err != nil {
			return nil, fmt.Errorf("the files besides the database, from the newest snapshot: %w", err)
		}
		out.Notes = append(out.Notes, "keyring and files from the snapshot of "+snap.Point.Format(time.RFC3339))
	}
	res, err := restoreReplicaDatabase(ctx, s.cfg.replicaConfig(nil), target, dir)
	if err != nil {
		return nil, err
	}
	out.Point = res.RestoredAt
	return out, nil
}

// pgBackRestSource restores a PostgreSQL installation with pgBackRest into
// a private folder and starts it on a private socket.
type pgBackRestSource struct {
	cfg  Config
	repo *pgbackrest.Repo
}

func newPgBackRestSource(cfg Config, getenv func(string) string, _ string) (drill.Source, error) {
	if !store.IsPostgres(cfg.DatabaseURL) {
		return nil, errors.New("pgBackRest backs up PostgreSQL installations")
	}
	repo, _, err := pgRepo(cfg, getenv)
	if err != nil {
		return nil, err
	}
	return &pgBackRestSource{cfg: cfg, repo: repo}, nil
}

func (s *pgBackRestSource) Name() string { return "pgBackRest stanza " + s.repo.Config().Stanza }

func (s *pgBackRestSource) Restore(ctx context.Context, target time.Time, dir string) (*drill.Restored, error) {
	// The cluster's owner must reach its folders: they are made apart from
	// the scratch folder, which holds the keyring.
	pgdata, err := s.repo.MakePrivateDir("", "healthhub-drill-pgdata-")
	if err != nil {
		return nil, err
	}
	sock, err := s.repo.MakePrivateDir("", "healthhub-drill-socket-")
	if err != nil {
		os.RemoveAll(pgdata)
		return nil, err
	}
	cleanup := func() { os.RemoveAll(pgdata); os.RemoveAll(sock) }
	// MakePrivateDir made the folder; the restore wants it empty, which it is.
	restoredURL, stop, err := s.repo.RestoreAndStart(ctx, pgbackrest.RestoreOptions{Target: target, DataDir: pgdata}, 5432, sock)
	if err != nil {
		cleanup()
		return nil, err
	}
	dbURL, err := sameDatabase(s.cfg.DatabaseURL, restoredURL)
	if err != nil {
		stop()
		cleanup()
		return nil, err
	}
	return &drill.Restored{DataDir: dir, DatabaseURL: dbURL, Point: target, Close: func() error {
		err := stop()
		cleanup()
		return err
	}}, nil
}

// sameDatabase is the restored instance's URL (its socket, port and user)
// naming the live URL's database and options (a schema's search_path).
func sameDatabase(live, restored string) (string, error) {
	lu, err := url.Parse(live)
	if err != nil {
		return "", fmt.Errorf("the database URL: %w", err)
	}
	ru, err := url.Parse(restored)
	if err != nil {
		return "", err
	}
	q := lu.Query()
	for k, v := range ru.Query() {
		q[k] = v
	}
	q.Del("password")
	ru.Path, ru.RawQuery = lu.Path, q.Encode()
	return ru.String(), nil
}
