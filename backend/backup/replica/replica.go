// Package replica replicates the database of a SQLite installation
// continuously with Litestream (github.com/benbjohnson/litestream, used as a
// library at a pinned version: its API is not stable): every commit is
// copied, within about a second, as an LTX file to a file replica (a second
// disk, a NAS, a USB stick) or to an S3 bucket (AWS, or an S3-compatible
// server such as the clinic server's). When both are configured the file
// replica is the one Litestream writes and the bucket is kept a copy of it,
// so a bucket that cannot be reached never holds up the local copy.
//
// Litestream takes over checkpointing while it runs: it holds a read
// transaction so that no other connection can restart the WAL before it
// has copied the frames, and checkpoints itself. The application's own
// automatic (PASSIVE) checkpoints cannot restart the WAL past it; a
// checkpoint made while replication is stopped is noticed when it starts
// again, and a full snapshot is written then.
//
// Restore rebuilds the database as it was at a point in time into a new
// file, refusing a time the replica cannot give.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/benbjohnson/litestream/file"
	lss3 "github.com/benbjohnson/litestream/s3"
	"github.com/superfly/ltx"
)

// S3 says where in a bucket the replica goes. Credentials come from the
// usual AWS environment (AWS_ACCESS_KEY_ID…, a profile, an instance role).
type S3 struct {
	Bucket string
	// Prefix is a folder in the bucket ("" for its top).
	Prefix string
	// Endpoint is the URL of an S3-compatible server (the clinic server,
	// MinIO…); empty for AWS. With an endpoint, paths are path-style.
	Endpoint string
	// Region of the bucket; empty looks it up on AWS, or us-east-1 with an
	// endpoint.
	Region string
	// KMSKeyID is the KMS key every write asks S3 to encrypt with
	// (SSE-KMS); empty leaves encryption to the bucket's default.
	KMSKeyID string
}

// String names the bucket and prefix as s3://bucket/prefix.
func (s S3) String() string {
	p := strings.Trim(s.Prefix, "/")
	if p == "" {
		return "s3://" + s.Bucket
	}
	return "s3://" + s.Bucket + "/" + p
}

// Config says where the database is replicated and how long history is kept.
type Config struct {
	// Dir is the folder of the file replica ("" for none). It must exist:
	// a folder on a disk that is not mounted is not made on this one.
	Dir string
	// S3 is the bucket replica (nil for none).
	S3 *S3
	// Retention is how far back a restore can go (default 72h): snapshots
	// older than it, and the changes before them, are deleted.
	Retention time.Duration
	// SnapshotInterval is how often a full copy of the database is written
	// to the replica (default 24h); a restore starts from the newest one
	// before its target.
	SnapshotInterval time.Duration
	// SyncInterval is how often new commits are sent (default 1s).
	SyncInterval time.Duration
	// MirrorInterval is how often the bucket is brought up to the file
	// replica when both are configured (default 10s).
	MirrorInterval time.Duration
	// Logger receives Litestream's warnings and errors; its routine
	// messages come at debug level. Nil discards them.
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultRetention        = 72 * time.Hour
	DefaultSnapshotInterval = 24 * time.Hour
	DefaultSyncInterval     = time.Second
	DefaultMirrorInterval   = 10 * time.Second
)

// Enabled reports whether a replica is configured.
func (c Config) Enabled() bool { return c.Dir != "" || (c.S3 != nil && c.S3.Bucket != "") }

// Targets names the replicas, the one Litestream writes first.
func (c Config) Targets() []string {
	var t []string
	if c.Dir != "" {
		t = append(t, "file:"+c.Dir)
	}
	if c.S3 != nil && c.S3.Bucket != "" {
		t = append(t, c.S3.String())
	}
	return t
}

func (c Config) withDefaults() Config {
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.MirrorInterval <= 0 {
		c.MirrorInterval = DefaultMirrorInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ErrNotConfigured is returned when a Config names no replica.
var ErrNotConfigured = errors.New("no replica is configured: set a replica folder or an S3 bucket")

// clients are the replica clients of c: the one Litestream writes and,
// when both are configured, the bucket that copies it.
func (c Config) clients() (primary, mirror litestream.ReplicaClient, err error) {
	if !c.Enabled() {
		return nil, nil, ErrNotConfigured
	}
	var s3c litestream.ReplicaClient
	if c.S3 != nil && c.S3.Bucket != "" {
		// Litestream's S3 client gives the AWS SDK an HTTP client that
		// cannot take another certificate bundle, and the SDK then fails.
		if os.Getenv("AWS_CA_BUNDLE") != "" {
			return nil, nil, errors.New("the S3 replica cannot use AWS_CA_BUNDLE: add that certificate authority to the system's trusted ones and unset it")
		}
		cl := lss3.NewReplicaClient()
		cl.Bucket, cl.Path, cl.Region, cl.Endpoint = c.S3.Bucket, strings.Trim(c.S3.Prefix, "/"), c.S3.Region, c.S3.Endpoint
		cl.ForcePathStyle = c.S3.Endpoint != ""
		cl.SSEKMSKeyID = c.S3.KMSKeyID
		s3c = cl
	}
	if c.Dir == "" {
		return s3c, nil, nil
	}
	fi, err := os.Stat(c.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("replica folder %s: %w (create it, or mount the disk it is on)", c.Dir, err)
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("replica folder %s is not a folder", c.Dir)
	}
	return file.NewReplicaClient(c.Dir), s3c, nil
}

// Replicator replicates one database file until Close.
type Replicator struct {
	cfg     Config
	targets []string
	db      *litestream.DB
	store   *litestream.Store
	errs    *errorLog
	mirror  *mirror // nil without a second replica

	stopMirror context.CancelFunc
	mirrorDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// Start begins replicating the SQLite database at path (in WAL mode, as
// HealthHub opens it) to the replicas of cfg, in the background. A replica
// that cannot be reached is no reason to fail: Status reports it, and
// replication catches up when it can. Close stops it.
func Start(ctx context.Context, path string, cfg Config) (*Replicator, error) {
	cfg = cfg.withDefaults()
	primary, second, err := cfg.clients()
	if err != nil {
		return nil, err
	}
	errs := &errorLog{}
	logger := slog.New(&quietHandler{next: cfg.Logger.Handler(), errs: errs})

	db := litestream.NewDB(path)
	r := litestream.NewReplicaWithClient(db, primary)
	r.SyncInterval = cfg.SyncInterval
	db.Replica = r

	st := litestream.NewStore([]*litestream.DB{db}, litestream.DefaultCompactionLevels)
	st.Logger = logger
	st.SnapshotInterval = cfg.SnapshotInterval
	st.SnapshotRetention = cfg.Retention
	// A replica that cannot be reached at shutdown is not worth a long
	// wait: the commits stay in the WAL and go at the next start.
	st.SetShutdownSyncTimeout(10 * time.Second)
	db.SetLogger(logger.With("db", filepath.Base(path)))
	primary.SetLogger(logger)

	if err := st.Open(ctx); err != nil {
		st.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start replication: %w", err)
	}
	rep := &Replicator{cfg: cfg, targets: cfg.Targets(), db: db, store: st, errs: errs}
	if second != nil {
		second.SetLogger(logger)
		rep.mirror = &mirror{src: primary, dst: second, name: cfg.S3.String()}
		mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		rep.stopMirror, rep.mirrorDone = cancel, make(chan struct{})
		go func() {
			defer close(rep.mirrorDone)
			rep.mirror.run(mctx, cfg.MirrorInterval, logger)
		}()
	}
	return rep, nil
}

// Sync sends every commit made so far to every replica and returns when
// they hold it.
func (r *Replicator) Sync(ctx context.Context) error {
	if err := r.db.SyncAndWait(ctx); err != nil {
		r.errs.record("sync", err)
		return err
	}
	if r.mirror != nil {
		return r.mirror.once(ctx)
	}
	return nil
}

// Close stops replicating after a last sync (bounded by ctx and ten
// seconds per replica) and gives checkpointing back to SQLite.
func (r *Replicator) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		if r.mirror != nil {
			r.stopMirror()
			<-r.mirrorDone
		}
		// Litestream's own last sync at close covers only a database it
		// has started on (a second after the start): sync first.
		if err := r.db.SyncAndWait(ctx); err != nil {
			r.closeErr = fmt.Errorf("last sync: %w", err)
		}
		r.closeErr = errors.Join(r.closeErr, r.store.Close(ctx))
		if r.mirror != nil && ctx.Err() == nil {
			mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := r.mirror.once(mctx); err != nil {
				r.closeErr = errors.Join(r.closeErr, err)
			}
			cancel()
		}
	})
	return r.closeErr
}

// Status is how replication stands.
type Status struct {
	// Targets names the replicas, as Config.Targets.
	Targets []string
	// LastReplicated is when every replica last held every commit staged
	// for it (zero: not yet since the start).
	LastReplicated time.Time
	// Lag is how long the oldest commit not yet in every replica has been
	// waiting: what losing this disk now would lose. Zero when caught up.
	Lag time.Duration
	// TXID is the newest transaction the (first) replica holds; LocalTXID
	// the newest one staged locally.
	TXID      uint64
	LocalTXID uint64
	// LastError is the newest failure not yet followed by a success.
	LastError string
}

// Status reports replication now. It reads local files only.
func (r *Replicator) Status() Status {
	now := time.Now()
	st := Status{Targets: r.targets, LastReplicated: r.db.LastSuccessfulSyncAt()}
	local, _ := r.db.Pos()
	remote := r.db.Replica.Pos()
	st.LocalTXID, st.TXID = uint64(local.TXID), uint64(remote.TXID)
	if remote.TXID < local.TXID {
		if at, ok := r.oldestLocalAfter(remote.TXID); ok {
			st.Lag = max(now.Sub(at), 0)
		}
	}
	if msg, at := r.errs.last(); msg != "" && at.After(st.LastReplicated) {
		st.LastError = msg
	}
	if d := r.db.SyncDiagnostic(); d.Error != "" {
		st.LastError = "staging the changes: " + d.Error
	}
	if r.mirror != nil {
		m := r.mirror.status()
		if st.LastReplicated.IsZero() || m.last.Before(st.LastReplicated) {
			st.LastReplicated = m.last
		}
		if !m.pendingSince.IsZero() {
			st.Lag = max(st.Lag, now.Sub(m.pendingSince))
		}
		if m.err != "" && st.LastError == "" {
			st.LastError = m.name + ": " + m.err
		}
	}
	return st
}

// oldestLocalAfter is when the oldest locally staged transaction after
// txid was staged.
func (r *Replicator) oldestLocalAfter(txid ltx.TXID) (time.Time, bool) {
	ents, err := os.ReadDir(r.db.LTXLevelDir(0))
	if err != nil {
		return time.Time{}, false
	}
	var oldest time.Time
	for _, e := range ents {
		min, _, err := ltx.ParseFilename(e.Name())
		if err != nil || min <= txid {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if oldest.IsZero() || fi.ModTime().Before(oldest) {
			oldest = fi.ModTime()
		}
	}
	return oldest, !oldest.IsZero()
}

// errorLog keeps the newest error Litestream reported.
type errorLog struct {
	mu  sync.Mutex
	msg string
	at  time.Time
}

func (e *errorLog) record(what string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.msg, e.at = what+": "+err.Error(), time.Now()
}

func (e *errorLog) last() (string, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.msg, e.at
}

// quietHandler passes Litestream's warnings and errors on as they are and
// its routine messages (a compaction every 30 seconds…) at debug level,
// and keeps the newest error for Status.
type quietHandler struct {
	next slog.Handler
	errs *errorLog
}

func (h *quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l >= slog.LevelError {
		return true
	}
	if l < slog.LevelWarn {
		l = slog.LevelDebug
	}
	return h.next.Enabled(ctx, l)
}

func (h *quietHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelError {
		msg := rec.Message
		find := func(a slog.Attr) bool {
			if a.Key == "error" || a.Key == "err" {
				msg += ": " + a.Value.String()
				return false
			}
			return true
		}
		rec.Attrs(find)
		h.errs.mu.Lock()
		h.errs.msg, h.errs.at = msg, time.Now()
		h.errs.mu.Unlock()
	}
	if rec.Level < slog.LevelWarn {
		rec.Level = slog.LevelDebug
	}
	if !h.next.Enabled(ctx, rec.Level) {
		return nil
	}
	return h.next.Handle(ctx, rec)
}

func (h *quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &quietHandler{next: h.next.WithAttrs(as), errs: h.errs}
}

func (h *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{next: h.next.WithGroup(name), errs: h.errs}
}
