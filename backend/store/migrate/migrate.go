// Package migrate reads a dialect's embedded, numbered migrations and decides
// which to apply. Each store applies them with its own locking.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered SQL file, applied in a transaction of its own.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads files named NNNN_description.sql from dir in fsys, in version
// order. Gaps and duplicate versions are programming errors and are refused.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must start with a positive number and an underscore", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %q: expected version %d; versions must run 1, 2, 3… without gaps", m.Name, i+1)
		}
	}
	return out, nil
}

// ErrSchemaTooNew is wrapped by Pending when the database was migrated by a
// newer HealthHub than this binary.
type ErrSchemaTooNew struct {
	Database, Binary int
}

func (e *ErrSchemaTooNew) Error() string {
	return fmt.Sprintf("the database schema is at version %d but this HealthHub binary only knows versions up to %d; "+
		"install the newer HealthHub release that migrated this database (downgrading is not supported)", e.Database, e.Binary)
}

// Pending returns the migrations after current, or ErrSchemaTooNew when the
// database is ahead of the binary.
func Pending(all []Migration, current int) ([]Migration, error) {
	if current > len(all) {
		return nil, &ErrSchemaTooNew{Database: current, Binary: len(all)}
	}
	return all[current:], nil
}
