package backup

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/sqlite"
)

// installation is a data folder with a real, migrated database and the
// other files a standalone server keeps.
type installation struct {
	dir string
	db  *sqlite.DB
}

func newInstallation(t *testing.T) *installation {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"keyring.json":                `{"keys":["k1"]}`,
		"knowledge/Opening hours.md":  "# Opening hours\nMonday to Friday.",
		"knowledge/forms/consent.txt": "I consent.",
		"blobs/ab/abcdef":             strings.Repeat("sealed blob ", 1000),
		"tls/ca.pem":                  "-----BEGIN CERTIFICATE-----",
		// Left out: a blob being written, a temporary file, a snapshot.
		"blobs/tmp/put-123":       "half a blob",
		".keyring.json.4711":      "temporary",
		"backups/not-a-snapshot":  "x",
		"knowledge/.~lock.md#":    "editor lock",
		"knowledge/empty/.keep":   "",
		"knowledge/nothing/.keep": "",
	} {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), body)
	}
	return &installation{dir: dir, db: db}
}

func writeFile(t *testing.T, name, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (in *installation) addUser(t testing.TB, email string) string {
	t.Helper()
	u := &domain.User{Email: email, Name: email, Role: domain.RolePatient, PasswordHash: "x", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := in.db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func newKey(t testing.TB) (*age.X25519Identity, []age.Recipient) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id, []age.Recipient{id.Recipient()}
}

// userIDs reads the restored database's accounts.
func userIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// clock is a settable time for snapshots taken "hours apart" at once.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func TestSnapshotWhileWritingRestoresEveryCommittedRow(t *testing.T) {
	in := newInstallation(t)
	for i := range 3000 {
		in.addUser(t, fmt.Sprintf("before%d@clinic.example", i))
	}
	id, recipients := newKey(t)

	// A writer commits accounts through the store all along.
	var mu sync.Mutex
	var committed []string
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			u := &domain.User{Email: fmt.Sprintf("during%d@clinic.example", i), Name: "n", Role: domain.RolePatient, PasswordHash: "x", CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := in.db.CreateUser(context.Background(), u); err != nil {
				done <- err
				return
			}
			mu.Lock()
			committed = append(committed, u.ID)
			mu.Unlock()
		}
	}()
	// Wait until the writer is really writing.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(committed)
		mu.Unlock()
		if n >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer commits nothing")
		}
	}
	mu.Lock()
	before := append([]string(nil), committed...)
	mu.Unlock()
	res, err := Run(context.Background(), Options{DataDir: in.dir, Recipients: recipients, Version: "test"})
	mu.Lock()
	during := len(committed) - len(before)
	mu.Unlock()
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("snapshot of %d files, %d bytes, database of %d+ accounts: %d bytes encrypted in %v (%d accounts committed meanwhile)",
		res.Files, res.Bytes, 3000+len(before), res.Snapshot.Size, res.Took, during)
	if res.SchemaVersion == 0 {
		t.Fatal("no schema version in the result")
	}
	if filepath.Dir(res.Snapshot.Path) != filepath.Join(in.dir, "backups") {
		t.Fatalf("snapshot in %s, want the default folder", res.Snapshot.Path)
	}

	into := filepath.Join(t.TempDir(), "restored")
	r, err := Restore(context.Background(), RestoreOptions{Dir: filepath.Join(in.dir, "backups"), Identities: []age.Identity{id}, Into: into})
	if err != nil {
		t.Fatal(err)
	}
	if r.Snapshot.Name != res.Snapshot.Name || r.Manifest.HealthHubVersion != "test" || r.Manifest.SchemaVersion != res.SchemaVersion {
		t.Fatalf("restored %+v from manifest %+v", r.Snapshot, r.Manifest)
	}
	ids := userIDs(t, filepath.Join(into, DatabaseFile))
	if len(ids) < 3000+len(before) {
		t.Fatalf("restored %d accounts, fewer than the %d committed before the snapshot began", len(ids), 3000+len(before))
	}
	for _, id := range before {
		if !ids[id] {
			t.Fatalf("account %s, committed before the snapshot began, is missing", id)
		}
	}
	for _, name := range []string{"keyring.json", "knowledge/Opening hours.md", "knowledge/forms/consent.txt", "blobs/ab/abcdef", "tls/ca.pem"} {
		want, _ := os.ReadFile(filepath.Join(in.dir, name))
		got, err := os.ReadFile(filepath.Join(into, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s restored as %q (%v), want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"blobs/tmp/put-123", ".keyring.json.4711", "backups", "knowledge/.~lock.md#", "healthhub.db-journal", "healthhub.db-wal", "knowledge/empty/.keep"} {
		if _, err := os.Stat(filepath.Join(into, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s should not be in the restored folder (%v)", name, err)
		}
	}
	if info, err := os.Stat(filepath.Join(into, "knowledge", "empty")); err != nil || !info.IsDir() {
		t.Errorf("the empty folder knowledge/empty was not restored: %v", err)
	}
	if info, err := os.Stat(filepath.Join(into, "keyring.json")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("keyring.json restored with mode %v (%v), want 0600", info.Mode(), err)
	}
	entries, _ := os.ReadDir(in.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".backup-") {
			t.Errorf("the temporary database copy %s was left behind", e.Name())
		}
	}
}

func TestRestorePicksTheSnapshotAtOrBeforeTime(t *testing.T) {
	in := newInstallation(t)
	id, recipients := newKey(t)
	dir := filepath.Join(t.TempDir(), "nas")
	clk := &clock{}
	t0 := time.Date(2026, 12, 7, 15, 30, 0, 0, time.UTC)
	var marks []string
	for i := range 3 {
		marks = append(marks, in.addUser(t, fmt.Sprintf("mark%d@clinic.example", i)))
		clk.Set(t0.Add(time.Duration(i) * time.Hour))
		if _, err := Run(context.Background(), Options{DataDir: in.dir, Dir: dir, Recipients: recipients, Now: clk.Now}); err != nil {
			t.Fatal(err)
		}
	}
	snaps, err := List(dir)
	if err != nil || len(snaps) != 3 || snaps[0].Name != "healthhub-20261207T153000Z.hhbak" {
		t.Fatalf("snapshots %+v, %v", snaps, err)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want int // the snapshot picked; its marks are 0..want
	}{
		{"latest", time.Time{}, 2},
		{"exactly the first", t0, 0},
		{"between second and third", t0.Add(90 * time.Minute), 1},
		{"in another zone", t0.Add(2 * time.Hour).In(time.FixedZone("CET", 3600)), 2},
		{"long after", t0.Add(1000 * time.Hour), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			into := t.TempDir()
			r, err := Restore(context.Background(), RestoreOptions{Dir: dir, At: tc.at, Identities: []age.Identity{id}, Into: into})
			if err != nil {
				t.Fatal(err)
			}
			if r.Snapshot.Name != snaps[tc.want].Name {
				t.Fatalf("picked %s, want %s", r.Snapshot.Name, snaps[tc.want].Name)
			}
			ids := userIDs(t, filepath.Join(into, DatabaseFile))
			for i, m := range marks {
				if ids[m] != (i <= tc.want) {
					t.Fatalf("mark %d present %v in snapshot %d", i, ids[m], tc.want)
				}
			}
		})
	}

	into := filepath.Join(t.TempDir(), "never")
	_, err = Restore(context.Background(), RestoreOptions{Dir: dir, At: t0.Add(-time.Minute), Identities: []age.Identity{id}, Into: into})
	if !errors.Is(err, ErrNoSnapshot) || !strings.Contains(err.Error(), "2026-12-07T15:30:00Z to 2026-12-07T17:30:00Z") {
		t.Fatalf("a time before the oldest snapshot: %v", err)
	}
	if _, err := os.Stat(into); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused restore made %s", into)
	}
	if _, err := Restore(context.Background(), RestoreOptions{Dir: t.TempDir(), Identities: []age.Identity{id}, Into: into}); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("an empty folder: %v", err)
	}
}

func TestRestoreRefusesTheWrongIdentity(t *testing.T) {
	in := newInstallation(t)
	_, recipients := newKey(t)
	other, _ := newKey(t)
	res, err := Run(context.Background(), Options{DataDir: in.dir, Recipients: recipients})
	if err != nil {
		t.Fatal(err)
	}
	into := t.TempDir()
	_, err = Restore(context.Background(), RestoreOptions{Dir: filepath.Dir(res.Snapshot.Path), Identities: []age.Identity{other}, Into: into})
	if !errors.Is(err, ErrWrongIdentity) || !strings.Contains(err.Error(), "cannot open the snapshot") {
		t.Fatalf("wrong identity: %v", err)
	}
	assertEmpty(t, into)
}

func TestRestoreRefusesADamagedSnapshot(t *testing.T) {
	in := newInstallation(t)
	id, recipients := newKey(t)
	res, err := Run(context.Background(), Options{DataDir: in.dir, Recipients: recipients})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(res.Snapshot.Path)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(at int) []byte {
		b := bytes.Clone(whole)
		b[at] ^= 0x01
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"a byte altered in the middle", flip(len(whole) / 2)},
		{"a byte altered at the end", flip(len(whole) - 1)},
		{"a byte altered in the header", flip(len("age-encryption.org/v1\n-> X25519 ") + 3)},
		{"cut in half", whole[:len(whole)/2]},
		{"last byte missing", whole[:len(whole)-1]},
		{"cut at a chunk boundary", whole[:len(whole)-(len(whole)-200)%(64*1024+16)]},
		{"extra bytes appended", append(bytes.Clone(whole), 0)},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, res.Snapshot.Name), string(tc.data))
			into := t.TempDir()
			_, err := Restore(context.Background(), RestoreOptions{Dir: dir, Identities: []age.Identity{id}, Into: into})
			if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrWrongIdentity) {
				t.Fatalf("restore of a damaged snapshot: %v", err)
			}
			assertEmpty(t, into)
		})
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Fatalf("%s holds %d entries after a refused restore, such as %s", dir, len(entries), entries[0].Name())
	}
}

func TestRestoreRefusesAFolderThatIsNotEmpty(t *testing.T) {
	in := newInstallation(t)
	id, recipients := newKey(t)
	res, err := Run(context.Background(), Options{DataDir: in.dir, Recipients: recipients})
	if err != nil {
		t.Fatal(err)
	}
	into := t.TempDir()
	writeFile(t, filepath.Join(into, "precious.txt"), "keep me")
	_, err = Restore(context.Background(), RestoreOptions{Dir: filepath.Dir(res.Snapshot.Path), Identities: []age.Identity{id}, Into: into})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into a folder with files: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(into, "precious.txt")); string(b) != "keep me" {
		t.Fatal("the folder's file was touched")
	}
}

func TestKeepsTheNewestSnapshots(t *testing.T) {
	in := newInstallation(t)
	_, recipients := newKey(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "README.txt"), "not a snapshot")
	clk := &clock{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var names []string
	for i := range 5 {
		clk.Set(t0.Add(time.Duration(i) * time.Hour))
		res, err := Run(context.Background(), Options{DataDir: in.dir, Dir: dir, Recipients: recipients, Keep: 2, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, res.Snapshot.Name)
		if i == 4 && (len(res.Pruned) != 1 || res.Pruned[0] != names[2]) {
			t.Fatalf("the fifth snapshot pruned %v, want %s", res.Pruned, names[2])
		}
	}
	snaps, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 || snaps[0].Name != names[3] || snaps[1].Name != names[4] {
		t.Fatalf("kept %+v, want %v", snaps, names[3:])
	}
	if _, err := os.Stat(filepath.Join(dir, "README.txt")); err != nil {
		t.Fatal("pruning removed a file that is not a snapshot")
	}
}

func TestRunNeedsARecipient(t *testing.T) {
	in := newInstallation(t)
	_, err := Run(context.Background(), Options{DataDir: in.dir})
	if !errors.Is(err, ErrNoRecipients) || !strings.Contains(err.Error(), "healthhubd backup keygen") {
		t.Fatalf("no recipients: %v", err)
	}
	if _, err := ParseRecipients(" , "); !errors.Is(err, ErrNoRecipients) {
		t.Fatalf("empty list: %v", err)
	}
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRecipients(key.Identity); err == nil || !strings.Contains(err.Error(), "secret identity") {
		t.Fatalf("a secret given as recipient: %v", err)
	}
	other, _ := NewKey()
	rs, err := ParseRecipients(key.Recipient + ", " + other.Recipient)
	if err != nil || len(rs) != 2 {
		t.Fatalf("two recipients: %v %v", rs, err)
	}
}

func TestIdentityFileOpensWhatItsRecipientSealed(t *testing.T) {
	in := newInstallation(t)
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "identity.txt")
	if err := key.WriteIdentityFile(file, time.Now()); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %v", info.Mode())
	}
	if err := key.WriteIdentityFile(file, time.Now()); err == nil {
		t.Fatal("an existing identity file was replaced")
	}
	rs, err := ParseRecipients(key.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{DataDir: in.dir, Recipients: rs})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(file)
	ids, err := ReadIdentities(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(context.Background(), RestoreOptions{Dir: filepath.Dir(res.Snapshot.Path), Identities: ids, Into: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
}

func TestExtraSourcesTakeTheirPlace(t *testing.T) {
	in := newInstallation(t)
	id, recipients := newKey(t)
	elsewhere := filepath.Join(t.TempDir(), "secrets", "clinic-keyring.json")
	writeFile(t, elsewhere, `{"keys":["the one in use"]}`)
	blobs := filepath.Join(t.TempDir(), "store")
	writeFile(t, filepath.Join(blobs, "cd", "cdef"), "another blob")
	writeFile(t, filepath.Join(blobs, "tmp", "put-9"), "half")
	res, err := Run(context.Background(), Options{DataDir: in.dir, Recipients: recipients,
		Extra: []Source{{Path: elsewhere, As: "keyring.json"}, {Path: blobs, As: "blobs"}}})
	if err != nil {
		t.Fatal(err)
	}
	into := t.TempDir()
	if _, err := Restore(context.Background(), RestoreOptions{Dir: filepath.Dir(res.Snapshot.Path), Identities: []age.Identity{id}, Into: into}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(into, "keyring.json")); string(b) != `{"keys":["the one in use"]}` {
		t.Fatalf("keyring.json restored as %q, want the configured one", b)
	}
	if b, _ := os.ReadFile(filepath.Join(into, "blobs", "cd", "cdef")); string(b) != "another blob" {
		t.Fatalf("blob restored as %q", b)
	}
	for _, name := range []string{"blobs/ab/abcdef", "blobs/tmp/put-9"} {
		if _, err := os.Stat(filepath.Join(into, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s should not be restored: %v", name, err)
		}
	}
}
