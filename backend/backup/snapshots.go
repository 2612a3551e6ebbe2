package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	namePrefix = "healthhub-"
	nameSuffix = ".hhbak"
	nameTime   = "20060102T150405Z"
)

// Snapshot is one snapshot file in the snapshot folder.
type Snapshot struct {
	Name string
	Path string
	// Time is when the snapshot began, to the second (from its name).
	Time time.Time
	Size int64
}

// SnapshotName is the file name of a snapshot begun at t; names sort by
// time.
func SnapshotName(t time.Time) string {
	return namePrefix + t.UTC().Format(nameTime) + nameSuffix
}

// parseName returns the time in a snapshot's file name.
func parseName(name string) (time.Time, bool) {
	if !strings.HasPrefix(name, namePrefix) || !strings.HasSuffix(name, nameSuffix) {
		return time.Time{}, false
	}
	t, err := time.Parse(nameTime, strings.TrimSuffix(strings.TrimPrefix(name, namePrefix), nameSuffix))
	return t, err == nil
}

// List returns the snapshots in dir, oldest first. A missing folder holds
// none.
func List(dir string) ([]Snapshot, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup folder: %w", err)
	}
	var out []Snapshot
	for _, e := range entries {
		t, ok := parseName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, Snapshot{Name: e.Name(), Path: filepath.Join(dir, e.Name()), Time: t, Size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// ErrNoSnapshot is the error of a restore with no snapshot to take.
var ErrNoSnapshot = errors.New("no snapshot")

// Pick returns the newest snapshot taken at or before at (the newest of all
// when at is zero). snaps are oldest first, as List returns them.
func Pick(snaps []Snapshot, at time.Time) (Snapshot, error) {
	if len(snaps) == 0 {
		return Snapshot{}, fmt.Errorf("%w: the backup folder holds no snapshots", ErrNoSnapshot)
	}
	if at.IsZero() {
		return snaps[len(snaps)-1], nil
	}
	i := sort.Search(len(snaps), func(i int) bool { return snaps[i].Time.After(at) })
	if i == 0 {
		return Snapshot{}, fmt.Errorf("%w at or before %s: snapshots run from %s to %s", ErrNoSnapshot,
			at.UTC().Format(time.RFC3339), snaps[0].Time.Format(time.RFC3339), snaps[len(snaps)-1].Time.Format(time.RFC3339))
	}
	return snaps[i-1], nil
}

// prune deletes all but the newest keep snapshots in dir, and temporary
// files left there over a day ago by snapshots that never finished.
func prune(dir string, keep int, now time.Time) ([]string, error) {
	snaps, err := List(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for i := 0; i < len(snaps)-keep; i++ {
		if err := os.Remove(snaps[i].Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, snaps[i].Name)
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "."+namePrefix) || !strings.HasSuffix(e.Name(), ".tmp") {
				continue
			}
			if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > 24*time.Hour {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("delete old snapshots: %w", errors.Join(errs...))
	}
	return removed, nil
}
