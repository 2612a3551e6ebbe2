package replica

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/superfly/ltx"
)

// Held is what one replica holds.
type Held struct {
	Target string
	// Window is the span it can restore (upload times on S3); zero when
	// it holds nothing or cannot be read.
	Window Window
	// TXID is the newest transaction it holds.
	TXID uint64
	// Err is why it could not be read.
	Err error
}

// Inspection is the state of replication as another process than the
// replicating one sees it: from the replicas and the changes staged next
// to the database.
type Inspection struct {
	Replicas []Held
	// LocalTXID is the newest transaction staged for replication on this
	// machine; a commit is staged within a second while replication runs.
	LocalTXID uint64
	// Behind is when the oldest staged transaction that some replica lacks
	// was staged; zero when every replica holds every staged one.
	Behind time.Time
}

// Inspect reads the replicas of cfg and what is staged for the database
// at dbPath.
func Inspect(ctx context.Context, dbPath string, cfg Config) (Inspection, error) {
	primary, second, err := cfg.clients()
	if err != nil {
		return Inspection{}, err
	}
	var in Inspection
	targets := cfg.Targets()
	for i, c := range []litestream.ReplicaClient{primary, second} {
		if c == nil {
			continue
		}
		h := Held{Target: targets[i]}
		if h.Err = c.Init(ctx); h.Err == nil {
			h.Window, h.TXID, h.Err = held(ctx, c, false)
		}
		in.Replicas = append(in.Replicas, h)
	}
	dir := filepath.Join(filepath.Dir(dbPath), "."+filepath.Base(dbPath)+litestream.MetaDirSuffix, "ltx", "0")
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return in, err
	}
	least := ltx.TXID(0)
	for i, h := range in.Replicas {
		if i == 0 || ltx.TXID(h.TXID) < least {
			least = ltx.TXID(h.TXID)
		}
	}
	for _, e := range ents {
		lo, hi, err := ltx.ParseFilename(e.Name())
		if err != nil {
			continue
		}
		in.LocalTXID = max(in.LocalTXID, uint64(hi))
		if lo <= least {
			continue
		}
		if fi, err := e.Info(); err == nil && (in.Behind.IsZero() || fi.ModTime().Before(in.Behind)) {
			in.Behind = fi.ModTime()
		}
	}
	return in, nil
}

// held is the window and newest transaction of one replica, from its
// listing: the oldest restorable point is the earliest file that starts
// from the first transaction (a snapshot, or a compaction of everything).
// exact asks for the files' own times where a listing gives upload times.
func held(ctx context.Context, c litestream.ReplicaClient, exact bool) (Window, uint64, error) {
	var w Window
	var top ltx.TXID
	for _, level := range levels() {
		files, err := listFiles(ctx, c, level, exact)
		if err != nil {
			return Window{}, 0, fmt.Errorf("list the replica's level %d: %w", level, err)
		}
		for _, f := range files {
			if f.MinTXID == 1 && (w.Oldest.IsZero() || f.CreatedAt.Before(w.Oldest)) {
				w.Oldest = f.CreatedAt
			}
			if f.CreatedAt.After(w.Newest) {
				w.Newest = f.CreatedAt
			}
			top = max(top, f.MaxTXID)
		}
	}
	return w, uint64(top), nil
}
