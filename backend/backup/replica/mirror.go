package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/superfly/ltx"
)

// levels are the LTX levels a replica holds: the compaction levels and the
// snapshots.
func levels() []int {
	ls := make([]int, 0, len(litestream.DefaultCompactionLevels)+1)
	for _, l := range litestream.DefaultCompactionLevels {
		ls = append(ls, l.Level)
	}
	return append(ls, litestream.SnapshotLevel)
}

// mirror keeps dst a copy of src: the files src has that dst lacks are
// copied (each keeps its time), and those src no longer has (compacted or
// past retention) are deleted from dst.
type mirror struct {
	src, dst litestream.ReplicaClient
	name     string

	mu           sync.Mutex
	last         time.Time // the last round that left dst equal to src
	pendingSince time.Time // the oldest file src had that dst lacked, at the last round
	err          string
}

type mirrorStatus struct {
	name               string
	last, pendingSince time.Time
	err                string
}

func (m *mirror) status() mirrorStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return mirrorStatus{name: m.name, last: m.last, pendingSince: m.pendingSince, err: m.err}
}

func (m *mirror) run(ctx context.Context, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		if err := m.once(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				logger.Error("copying the replica to the bucket failed; retrying", "replica", m.name, "err", err)
			}
			failing = true
		} else if err == nil && failing {
			logger.Info("copying the replica to the bucket works again", "replica", m.name)
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// once makes one round.
func (m *mirror) once(ctx context.Context) error {
	err := m.copyAll(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.err = err.Error()
		return err
	}
	m.err, m.last, m.pendingSince = "", time.Now(), time.Time{}
	return nil
}

func (m *mirror) copyAll(ctx context.Context) error {
	// Snapshots first, then from the coarsest level down, so that dst can
	// restore at every moment of a round.
	ls := levels()
	order := append([]int{ls[len(ls)-1]}, reversed(ls[:len(ls)-1])...)
	type key struct{ min, max ltx.TXID }
	srcFiles := make(map[int][]*ltx.FileInfo, len(order))
	m.mu.Lock()
	last := m.last
	m.mu.Unlock()
	var pending time.Time // the oldest file dst may lack
	for _, level := range order {
		want, err := listFiles(ctx, m.src, level, true)
		if err != nil {
			return fmt.Errorf("list level %d: %w", level, err)
		}
		srcFiles[level] = want
		// Until dst answers, every file since the last round is pending.
		for _, f := range want {
			if f.CreatedAt.After(last) && (pending.IsZero() || f.CreatedAt.Before(pending)) {
				pending = f.CreatedAt
			}
		}
	}
	m.notePending(pending)
	pending = time.Time{}
	// Deletions follow src's compaction and retention only while src can
	// restore on its own (it holds a file from the first transaction): a
	// folder emptied or lost must not empty the bucket too.
	canDelete := false
	for _, files := range srcFiles {
		for _, f := range files {
			canDelete = canDelete || f.MinTXID == 1
		}
	}
	var deletes [][]*ltx.FileInfo
	for _, level := range order {
		have, err := listFiles(ctx, m.dst, level, false)
		if err != nil {
			return fmt.Errorf("list level %d of the copy: %w", level, err)
		}
		want := srcFiles[level]
		inDst := make(map[key]bool, len(have))
		for _, f := range have {
			inDst[key{f.MinTXID, f.MaxTXID}] = true
		}
		inSrc := make(map[key]bool, len(want))
		for _, f := range want {
			inSrc[key{f.MinTXID, f.MaxTXID}] = true
			if inDst[key{f.MinTXID, f.MaxTXID}] {
				continue
			}
			if pending.IsZero() || f.CreatedAt.Before(pending) {
				pending = f.CreatedAt
			}
		}
		m.notePending(pending)
		for _, f := range want {
			if inDst[key{f.MinTXID, f.MaxTXID}] {
				continue
			}
			if err := copyFile(ctx, m.src, m.dst, f); err != nil {
				return err
			}
		}
		// A file src no longer has goes once src holds a later one of its
		// level: it was compacted into it or aged out before it.
		var newest ltx.TXID
		for _, f := range want {
			newest = max(newest, f.MaxTXID)
		}
		var gone []*ltx.FileInfo
		for _, f := range have {
			if canDelete && !inSrc[key{f.MinTXID, f.MaxTXID}] && f.MaxTXID < newest {
				gone = append(gone, f)
			}
		}
		deletes = append(deletes, gone)
	}
	for _, gone := range deletes {
		if len(gone) > 0 {
			if err := m.dst.DeleteLTXFiles(ctx, gone); err != nil {
				return fmt.Errorf("delete files the replica no longer holds: %w", err)
			}
		}
	}
	return nil
}

// notePending records that dst lacks a file made at t (zero: none).
func (m *mirror) notePending(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !t.IsZero() && (m.pendingSince.IsZero() || t.Before(m.pendingSince)) {
		m.pendingSince = t
	}
}

func copyFile(ctx context.Context, src, dst litestream.ReplicaClient, f *ltx.FileInfo) error {
	rd, err := src.OpenLTXFile(ctx, f.Level, f.MinTXID, f.MaxTXID, 0, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil // compacted away since it was listed
	} else if err != nil {
		return fmt.Errorf("read %s: %w", ltx.FormatFilename(f.MinTXID, f.MaxTXID), err)
	}
	defer rd.Close()
	if _, err := dst.WriteLTXFile(ctx, f.Level, f.MinTXID, f.MaxTXID, rd); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("copy %s: %w", ltx.FormatFilename(f.MinTXID, f.MaxTXID), err)
	}
	return nil
}

// listFiles lists one level of a replica; exact asks for the files' own
// times where a listing gives upload times (S3, one request a file).
func listFiles(ctx context.Context, c litestream.ReplicaClient, level int, exact bool) ([]*ltx.FileInfo, error) {
	itr, err := c.LTXFiles(ctx, level, 0, exact)
	if err != nil {
		return nil, err
	}
	defer itr.Close()
	var out []*ltx.FileInfo
	for itr.Next() {
		f := *itr.Item()
		out = append(out, &f)
	}
	return out, itr.Close()
}

func reversed(a []int) []int {
	out := make([]int, len(a))
	for i, v := range a {
		out[len(a)-1-i] = v
	}
	return out
}
