// Package backup takes encrypted snapshots of a standalone (SQLite)
// installation's data folder while the server runs, and restores them.
//
// A snapshot is one file: an age-encrypted tar archive that begins with a
// JSON manifest (format, HealthHub version, time, schema version, and each
// file's size and SHA-256), then a consistent copy of the database made
// with VACUUM INTO, then the data folder's other files (the keyring, the
// knowledge folder, stored files, certificates). It is encrypted to age
// X25519 recipients whose identities the administrator keeps elsewhere,
// never to the installation's own keyring, which is inside the snapshot.
package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/healthhub/healthhub/backend/backup/archive"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// DatabaseFile is the database's name in a data folder and in a snapshot
// (store.SQLiteFile).
const DatabaseFile = "healthhub.db"

// DefaultKeep is how many snapshots are kept when Options.Keep is zero: two
// days of hourly ones.
const DefaultKeep = 48

// StaleAfter is the age beyond which the newest snapshot is overdue.
const StaleAfter = 2 * time.Hour

// ErrNoRecipients is the error of a snapshot with nobody to encrypt it to.
var ErrNoRecipients = errors.New("no backup recipients: make a key with 'healthhubd backup keygen --out backup-identity.txt', " +
	"keep that file away from this machine (it alone can open the backups), " +
	"and set HEALTHHUB_BACKUP_RECIPIENTS to the age1… recipient it prints")

// Source is a file or folder outside the data folder that belongs in the
// snapshot, placed at As (such as a keyring kept elsewhere, as
// "keyring.json"), so the restored folder is whole.
type Source struct {
	Path string
	As   string
}

// Options say what to snapshot and where to.
type Options struct {
	// DataDir is the data folder; its database is DataDir/healthhub.db.
	DataDir string
	// Dir is the folder of snapshots, default DataDir/backups.
	Dir        string
	Recipients []age.Recipient
	// Keep is how many snapshots to keep (default DefaultKeep); older ones
	// are deleted once a new one is written.
	Keep int
	// Extra are parts of the installation kept outside the data folder.
	Extra []Source
	// Version is HealthHub's version, for the manifest.
	Version string
	Now     func() time.Time
}

func (o *Options) defaults() error {
	if o.DataDir == "" {
		return errors.New("backup: no data folder")
	}
	if o.Dir == "" {
		o.Dir = filepath.Join(o.DataDir, "backups")
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.Keep < 1 {
		return fmt.Errorf("backup: keep must be at least 1, not %d", o.Keep)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.Recipients) == 0 {
		return ErrNoRecipients
	}
	return nil
}

// Result is what a snapshot wrote.
type Result struct {
	Snapshot Snapshot
	Files    int
	// Bytes is the size of the files before compression and encryption.
	Bytes         int64
	SchemaVersion int
	Took          time.Duration
	// Pruned are the older snapshots deleted to keep Options.Keep.
	Pruned []string
}

// attempts is how often a snapshot is tried when a file changes while it is
// being archived (a knowledge document being edited, say).
const attempts = 3

// Run takes one snapshot into Options.Dir and then prunes older ones.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	started := o.Now()
	at := started.UTC().Truncate(time.Second)
	name := SnapshotName(at)
	final := filepath.Join(o.Dir, name)
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("backup folder: %w", err)
	}
	if _, err := os.Lstat(final); err == nil {
		return Result{}, fmt.Errorf("a snapshot named %s exists already; try again in a second", name)
	}
	dbPath := filepath.Join(o.DataDir, DatabaseFile)
	if _, err := os.Stat(dbPath); err != nil {
		return Result{}, fmt.Errorf("no database to back up: %w", err)
	}
	// The copy lives in the data folder (the same disk as the database) as
	// a dot file, which the walk below leaves out.
	tmpDir, err := os.MkdirTemp(o.DataDir, ".backup-")
	if err != nil {
		return Result{}, fmt.Errorf("temporary copy: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	dbCopy := filepath.Join(tmpDir, DatabaseFile)
	schema, err := copyDatabase(ctx, dbPath, dbCopy)
	if err != nil {
		return Result{}, err
	}
	m := &archive.Manifest{Format: archive.FormatVersion, HealthHubVersion: o.Version, Created: started.UTC(), Engine: "sqlite",
		Database: DatabaseFile, SchemaVersion: schema}
	for attempt := 1; ; attempt++ {
		err = writeSnapshot(ctx, o, m, dbCopy, final)
		if err == nil || !errors.Is(err, archive.ErrChanged) || attempt == attempts {
			break
		}
	}
	if err != nil {
		return Result{}, err
	}
	info, err := os.Stat(final)
	if err != nil {
		return Result{}, err
	}
	res := Result{Snapshot: Snapshot{Name: name, Path: final, Time: at, Size: info.Size()}, Files: len(m.Files), Bytes: m.Bytes(),
		SchemaVersion: schema, Took: o.Now().Sub(started)}
	res.Pruned, err = prune(o.Dir, o.Keep, o.Now())
	return res, err
}

// copyDatabase writes a consistent copy of the database at src to dst with
// VACUUM INTO, on a connection of its own (so the server's writer goes on
// meanwhile), and returns the copy's schema version.
func copyDatabase(ctx context.Context, src, dst string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return 0, fmt.Errorf("copy the database (VACUUM INTO): %w", err)
	}
	return schemaVersion(ctx, dst)
}

func schemaVersion(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var v int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	return v, nil
}

// writeSnapshot collects and hashes the files, then streams the archive,
// encrypted, into a temporary file in the snapshot folder, which it syncs
// and renames to final.
func writeSnapshot(ctx context.Context, o Options, m *archive.Manifest, dbCopy, final string) error {
	entries, dirs, err := collect(o, dbCopy)
	if err != nil {
		return err
	}
	m.Dirs, m.Files = dirs, make([]archive.File, len(entries))
	for i := range entries {
		m.Files[i] = entries[i].File
	}
	f, err := os.CreateTemp(o.Dir, "."+filepath.Base(final)+".*.tmp")
	if err != nil {
		return fmt.Errorf("backup folder: %w", err)
	}
	defer os.Remove(f.Name()) // gone after the rename; cleans up a failure
	bw := bufio.NewWriterSize(f, 1<<20)
	enc, err := age.Encrypt(bw, o.Recipients...)
	if err == nil {
		err = archive.Write(ctx, enc, m, entries)
		if cerr := enc.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	syncDir(o.Dir)
	return nil
}

// collect lists and hashes what goes into the archive: the database copy,
// the data folder's files and the extra sources. Left out: the live
// database and its journal files, dot files (temporary files and the copy
// being made), stored files still being written (blobs/tmp), and the
// snapshot folder itself.
func collect(o Options, dbCopy string) ([]archive.Entry, []string, error) {
	db, err := hashFile(dbCopy, DatabaseFile)
	if err != nil {
		return nil, nil, err
	}
	entries := []archive.Entry{db}
	dirSet := map[string]bool{}
	taken := map[string]bool{} // archive paths the extra sources occupy
	for _, s := range o.Extra {
		taken[s.As] = true
	}
	snapDir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, nil, err
	}
	live := map[string]bool{DatabaseFile: true, DatabaseFile + "-wal": true, DatabaseFile + "-shm": true, DatabaseFile + "-journal": true}
	add := func(root, prefix string, rootIsFile bool) error {
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p != root {
					return nil // removed while we walked
				}
				return err
			}
			var rel string
			if rootIsFile {
				rel = prefix
			} else {
				r, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				rel = filepath.ToSlash(r)
				if prefix != "" {
					rel = strings.TrimSuffix(prefix+"/"+rel, "/.")
				}
			}
			if rel == "." {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") || (prefix == "" && taken[strings.SplitN(rel, "/", 2)[0]]) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if abs, err := filepath.Abs(p); rel == "blobs/tmp" || (err == nil && abs == snapDir) {
					return filepath.SkipDir
				}
				dirSet[rel] = true
				return nil
			}
			if !d.Type().IsRegular() || (prefix == "" && live[rel]) {
				return nil
			}
			e, err := hashFile(p, rel)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			entries = append(entries, e)
			return nil
		})
	}
	if err := add(o.DataDir, "", false); err != nil {
		return nil, nil, fmt.Errorf("read the data folder: %w", err)
	}
	for _, s := range o.Extra {
		info, err := os.Stat(s.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.Path, err)
		}
		if info.IsDir() {
			dirSet[s.As] = true
		}
		if err := add(s.Path, s.As, !info.IsDir()); err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", s.Path, err)
		}
	}
	// Parents of every file are made on restore; Dirs keep the empty ones.
	dirs := make([]string, 0, len(dirSet))
	for d := range dirSet {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return entries, dirs, nil
}

func hashFile(path, rel string) (archive.Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return archive.Entry{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return archive.Entry{}, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return archive.Entry{}, fmt.Errorf("%s: %w", rel, err)
	}
	return archive.Entry{File: archive.File{Path: rel, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Mode: info.Mode().Perm(), ModTime: info.ModTime().UTC()}, Src: path}, nil
}

// syncDir makes a rename in dir durable where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
