package backup

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/healthhub/healthhub/backend/backup/archive"
)

// ErrWrongIdentity is the error of a snapshot that none of the given
// identities can open.
var ErrWrongIdentity = errors.New("this identity cannot open the snapshot: it was encrypted to other recipients (use the identity file 'healthhubd backup keygen' made for the recipients in HEALTHHUB_BACKUP_RECIPIENTS)")

// ErrDamaged is the error of a snapshot that is not whole: altered,
// truncated, or not a snapshot at all.
var ErrDamaged = archive.ErrDamaged

// RestoreOptions say which snapshot to restore and where.
type RestoreOptions struct {
	// Dir is the folder of snapshots.
	Dir string
	// At picks the newest snapshot taken at or before it; zero picks the
	// newest of all.
	At         time.Time
	Identities []age.Identity
	// Into is the data folder to write: missing or empty.
	Into string
	Now  func() time.Time
}

// Restored is what a restore wrote.
type Restored struct {
	Snapshot Snapshot
	Manifest *archive.Manifest
	Took     time.Duration
}

// Restore writes the snapshot RestoreOptions pick into an empty folder:
// it decrypts it, checks every file against the manifest and the database
// with PRAGMA integrity_check, and only then moves the files into place.
// On any failure the folder is left as it was.
func Restore(ctx context.Context, o RestoreOptions) (Restored, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	started := o.Now()
	if len(o.Identities) == 0 {
		return Restored{}, errors.New("restore needs the identity file the snapshots are encrypted to (--identity)")
	}
	snaps, err := List(o.Dir)
	if err != nil {
		return Restored{}, err
	}
	snap, err := Pick(snaps, o.At)
	if err != nil {
		return Restored{}, err
	}
	f, err := os.Open(snap.Path)
	if err != nil {
		return Restored{}, err
	}
	defer f.Close()
	m, err := Extract(ctx, bufio.NewReaderSize(f, 1<<20), o.Identities, o.Into)
	if err != nil {
		return Restored{}, fmt.Errorf("snapshot %s: %w", snap.Name, err)
	}
	return Restored{Snapshot: snap, Manifest: m, Took: o.Now().Sub(started)}, nil
}

// Extract decrypts the snapshot r into the folder into (made when missing;
// refused when not empty), checking it whole before anything appears
// there.
func Extract(ctx context.Context, r io.Reader, ids []age.Identity, into string) (*archive.Manifest, error) {
	made, err := emptyFolder(into)
	if err != nil {
		return nil, err
	}
	staging, err := os.MkdirTemp(into, ".restore-")
	if err != nil {
		return nil, err
	}
	m, err := extractChecked(ctx, r, ids, staging)
	if err == nil {
		err = moveAll(staging, into)
	}
	os.RemoveAll(staging)
	if err != nil {
		if made {
			os.RemoveAll(into)
		}
		return nil, err
	}
	syncDir(into)
	return m, nil
}

func extractChecked(ctx context.Context, r io.Reader, ids []age.Identity, dir string) (*archive.Manifest, error) {
	plain, err := age.Decrypt(r, ids...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, ErrWrongIdentity
		}
		return nil, archive.Damaged("%v", err)
	}
	m, err := archive.Read(ctx, plain, dir, true)
	if err != nil {
		return nil, err
	}
	if err := integrityCheck(ctx, filepath.Join(dir, filepath.FromSlash(m.Database))); err != nil {
		return nil, err
	}
	return m, nil
}

// emptyFolder makes dir when it is missing (and says so), and refuses one
// that holds anything.
func emptyFolder(dir string) (made bool, err error) {
	if dir == "" {
		return false, errors.New("no folder to restore into")
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return true, os.MkdirAll(dir, 0o700)
	case err != nil:
		return false, fmt.Errorf("folder to restore into: %w", err)
	case len(entries) > 0:
		return false, fmt.Errorf("%s is not empty: restore into a new or empty folder, then point HEALTHHUB_DATA_DIR at it", dir)
	}
	return false, nil
}

func moveAll(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// integrityCheck runs PRAGMA integrity_check on the database at path.
func integrityCheck(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return archive.Damaged("the database copy cannot be read: %v", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return archive.Damaged("the database copy cannot be read: %v", err)
	}
	if len(problems) > 0 {
		return archive.Damaged("the database copy fails its integrity check: %s", strings.Join(problems, "; "))
	}
	return nil
}
