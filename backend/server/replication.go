package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/healthhub/healthhub/backend/backup/replica"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/prometheus/client_golang/prometheus"
)

// ReplicaConfigured reports whether the database is to be replicated
// continuously (a replica folder or bucket is set).
func (c Config) ReplicaConfigured() bool { return c.ReplicaDir != "" || c.ReplicaS3Bucket != "" }

// replicaConfig is the replica of this configuration.
func (c Config) replicaConfig(logger *slog.Logger) replica.Config {
	rc := replica.Config{Dir: c.ReplicaDir, Retention: c.ReplicaRetention, Logger: logger}
	if c.ReplicaS3Bucket != "" {
		rc.S3 = &replica.S3{Bucket: c.ReplicaS3Bucket, Prefix: c.ReplicaS3Prefix, Endpoint: c.ReplicaS3Endpoint,
			Region: c.ReplicaS3Region, KMSKeyID: c.ReplicaKMSKeyID}
	}
	return rc
}

// replicationRetry is how often the server tries again to start
// replication that could not start (a replica folder on a disk not yet
// mounted).
const replicationRetry = time.Minute

// replication is the server's continuous replication of its SQLite
// database, from Serve until Close.
type replication struct {
	mu      sync.Mutex
	wanted  time.Time // when the server asked for it; zero: not configured
	targets []string
	rep     *replica.Replicator
	err     error // why it has not started
	cancel  context.CancelFunc
	done    chan struct{}
}

// sqlitePath is the database file of a SQLite installation.
func (s *System) sqlitePath() (string, bool) {
	p, ok := s.Store.(interface{ Path() string })
	if !ok || s.Store.Engine() != "sqlite" {
		return "", false
	}
	return p.Path(), true
}

// startReplication starts replicating the database of a SQLite
// installation with a replica configured; when it cannot start, it says
// why and tries again every minute.
func (s *System) startReplication(ctx context.Context) {
	path, ok := s.sqlitePath()
	if !ok || !s.Config.ReplicaConfigured() {
		return
	}
	rc := s.Config.replicaConfig(s.Logger.With("part", "replication"))
	r := &s.replication
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		return // started already
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.wanted, r.targets, r.cancel, r.done = s.Now(), rc.Targets(), cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		logged := false
		for {
			rep, err := replica.Start(rctx, path, rc)
			r.mu.Lock()
			r.rep, r.err = rep, err
			r.mu.Unlock()
			if err == nil {
				s.Logger.Info("replicating the database continuously", "to", strings.Join(rc.Targets(), ", "))
				return
			}
			if rctx.Err() != nil {
				return
			}
			if !logged {
				s.Logger.Error("the database is not replicated; trying again every minute", "to", strings.Join(rc.Targets(), ", "), "err", err)
				logged = true
			}
			t := time.NewTimer(replicationRetry)
			select {
			case <-rctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
}

// stopReplication stops replication after a last sync, before the store
// closes: with Litestream's read transaction gone, the store's checkpoint
// at close does not wait for it.
func (s *System) stopReplication() {
	r := &s.replication
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if done == nil {
		return
	}
	cancel()
	<-done
	r.mu.Lock()
	rep := r.rep
	r.rep, r.err = nil, fmt.Errorf("stopped")
	r.mu.Unlock()
	if rep == nil {
		return
	}
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	if err := rep.Close(ctx); err != nil {
		s.Logger.Error("the last replication before stopping failed; the changes go at the next start", "err", err)
	}
}

// ReplicationStatus reports the continuous replication of the database,
// ok false when none is configured (or the installation uses PostgreSQL).
func (s *System) ReplicationStatus() (replica.Status, bool) {
	if _, ok := s.sqlitePath(); !ok || !s.Config.ReplicaConfigured() {
		return replica.Status{}, false
	}
	r := &s.replication
	r.mu.Lock()
	rep, err, wanted := r.rep, r.err, r.wanted
	r.mu.Unlock()
	if rep != nil {
		return rep.Status(), true
	}
	st := replica.Status{Targets: s.Config.replicaConfig(nil).Targets()}
	switch {
	case err != nil:
		st.LastError = "not replicating: " + err.Error()
	case wanted.IsZero():
		st.LastError = "not replicating: the server is not serving"
	}
	if !wanted.IsZero() {
		st.Lag = max(s.Now().Sub(wanted), 0) // nothing since has reached a replica
	}
	return st, true
}

// replicationCollectors are the metrics of continuous replication, beside
// healthhub_backup_last_success_timestamp_seconds of the snapshots; none
// when it is not configured.
func (s *System) replicationCollectors() []prometheus.Collector {
	if _, ok := s.ReplicationStatus(); !ok {
		return nil
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthhub_backup_replication_lag_seconds",
			Help: "How long the oldest commit not yet in every replica has waited (0 when caught up); alert when it stays above a minute."},
			func() float64 {
				st, _ := s.ReplicationStatus()
				return st.Lag.Seconds()
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthhub_backup_last_replication_timestamp_seconds",
			Help: "When every replica last held every commit (0: not since the server started)."},
			func() float64 {
				st, _ := s.ReplicationStatus()
				if st.LastReplicated.IsZero() {
					return 0
				}
				return float64(st.LastReplicated.UnixNano()) / 1e9
			}),
	}
}

// parseRestoreTarget reads the --to of a restore: latest (the zero time),
// an RFC 3339 time, or a duration before now such as "90m ago".
func parseRestoreTarget(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("--to must be latest, an RFC 3339 time such as 2026-12-07T15:30:00Z, or a time before now such as \"90m ago\", not %q", s)
	switch {
	case s == "latest":
		return time.Time{}, nil
	case strings.HasSuffix(s, " ago"):
		d, err := time.ParseDuration(strings.TrimSpace(strings.TrimSuffix(s, " ago")))
		if err != nil || d <= 0 || d > 100*365*24*time.Hour {
			return time.Time{}, bad
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 2000 || t.Year() > 9999 {
		return time.Time{}, bad
	}
	return t, nil
}

// replicaBehindLimit is how far behind a replica may be before backup
// status calls it a problem.
const replicaBehindLimit = 5 * time.Minute

// replicationReport prints the continuous replication for backup status,
// read from the replicas and the changes staged next to the database, and
// returns its problems.
func replicationReport(ctx context.Context, cfg Config, w io.Writer) (problems []string) {
	if !cfg.ReplicaConfigured() {
		fmt.Fprintln(w, "replication:    off (set HEALTHHUB_REPLICA_DIR or HEALTHHUB_REPLICA_S3_BUCKET to replicate every commit)")
		return nil
	}
	rc := cfg.replicaConfig(nil)
	fmt.Fprintf(w, "replication:    to %s (retention %s)\n", strings.Join(rc.Targets(), " and "), cfg.ReplicaRetention)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	in, err := replica.Inspect(ctx, filepath.Join(cfg.DataDir, store.SQLiteFile), rc)
	if err != nil {
		return []string{"replication: " + err.Error()}
	}
	for _, h := range in.Replicas {
		switch {
		case h.Err != nil:
			fmt.Fprintf(w, "replica:        %s cannot be read\n", h.Target)
			problems = append(problems, fmt.Sprintf("%s: %v", h.Target, h.Err))
		case h.Window.Oldest.IsZero():
			fmt.Fprintf(w, "replica:        %s holds nothing yet\n", h.Target)
			problems = append(problems, h.Target+" holds nothing yet: is the server running?")
		default:
			fmt.Fprintf(w, "replica:        %s restores %s to %s (transaction %d)\n", h.Target,
				h.Window.Oldest.Local().Format(time.RFC3339), h.Window.Newest.Local().Format(time.RFC3339), h.TXID)
		}
	}
	switch {
	case in.LocalTXID == 0:
		fmt.Fprintln(w, "behind:         nothing is staged here yet (the server stages each commit while it runs)")
	case in.Behind.IsZero():
		fmt.Fprintf(w, "behind:         no (transaction %d staged here is in every replica)\n", in.LocalTXID)
	default:
		late := time.Since(in.Behind).Round(time.Second)
		fmt.Fprintf(w, "behind:         by %s (transactions staged here since %s are not in every replica)\n", late, in.Behind.Local().Format(time.RFC3339))
		if late > replicaBehindLimit {
			problems = append(problems, fmt.Sprintf("a replica is %s behind", late))
		}
	}
	if cfg.ReplicaDir != "" && inside(cfg.DataDir, cfg.ReplicaDir) {
		fmt.Fprintln(w, "warning:        the replica folder is inside the data folder, on the same disk: set HEALTHHUB_REPLICA_DIR to another disk, a NAS or a USB stick")
	}
	return problems
}
