package knowledge_test

import (
	"context"
	"fmt"
	"github.com/healthhub/healthhub/backend/audit"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

var (
	admin   = &domain.Principal{UserID: "admin-1", Role: domain.RoleAdmin}
	staff   = &domain.Principal{UserID: "staff-1", Role: domain.RoleStaff}
	patient = &domain.Principal{UserID: "patient-1", Role: domain.RolePatient}
)

func as(p *domain.Principal) context.Context {
	return domain.WithPrincipal(context.Background(), p)
}

// events collects what the service publishes.
type events struct{ ch chan domain.Event }

func (e *events) Publish(_ context.Context, ev domain.Event) error {
	select {
	case e.ch <- ev:
	default:
	}
	return nil
}

type fixture struct {
	t      *testing.T
	db     store.DB
	svc    *knowledge.Service
	events *events
}

func newService(t *testing.T, db store.DB, opts knowledge.Options) *fixture {
	t.Helper()
	if opts.Debounce == 0 {
		opts.Debounce = 30 * time.Millisecond
	}
	ev := &events{ch: make(chan domain.Event, 1024)}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	log := audit.NewLog(db, time.Now, logger)
	svc := knowledge.New(db, log, ev, opts, time.Now, logger)
	t.Cleanup(func() {
		svc.Close()
		log.Close()
	})
	return &fixture{t: t, db: db, svc: svc, events: ev}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or thirty seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// found returns the source paths of the hits for q, as staff sees them.
func (f *fixture) found(q string) []string {
	f.t.Helper()
	res, err := f.svc.Search(as(staff), q, 20)
	if err != nil {
		f.t.Fatal(err)
	}
	var paths []string
	for _, r := range res {
		paths = append(paths, r.Source)
	}
	return paths
}

// waitFound waits until q finds exactly the paths want (in any order).
func (f *fixture) waitFound(q string, want ...string) {
	f.t.Helper()
	slices.Sort(want)
	var got []string
	eventually(f.t, q+" finds "+strings.Join(want, ","), func() bool {
		got = f.found(q)
		slices.Sort(got)
		return strings.Join(got, ",") == strings.Join(want, ",")
	})
}

func (f *fixture) addFolder(dir, visibility string) *knowledge.SourceStatus {
	f.t.Helper()
	st, err := f.svc.AddSource(as(admin), knowledge.NewSource{Kind: domain.SourceFolder, Path: dir, Visibility: visibility})
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

func TestWatchedFolder(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			write(t, filepath.Join(dir, "hours.md"), "# Opening hours\n\nThe clinic opens at eight on weekdays.")
			f := newService(t, e.Open(t), knowledge.Options{})
			src := f.addFolder(dir, domain.VisibilityStaff)

			// Initial scan.
			f.waitFound("weekdays", "hours.md")

			t.Run("create", func(t *testing.T) {
				write(t, filepath.Join(dir, "flu.md"), "# Flu\n\nFlu vaccination starts in October.")
				f.waitFound("vaccination", "flu.md")
			})
			t.Run("modify", func(t *testing.T) {
				write(t, filepath.Join(dir, "flu.md"), "# Flu\n\nFlu jabs start in September this year.")
				f.waitFound("september", "flu.md")
				f.waitFound("october")
			})
			t.Run("atomic rename save", func(t *testing.T) {
				tmp := filepath.Join(dir, ".hours.md.swp")
				write(t, tmp, "# Opening hours\n\nThe clinic opens at seven on Saturdays.")
				if err := os.Rename(tmp, filepath.Join(dir, "hours.md")); err != nil {
					t.Fatal(err)
				}
				f.waitFound("saturdays", "hours.md")
				f.waitFound("weekdays")
			})
			t.Run("delete", func(t *testing.T) {
				if err := os.Remove(filepath.Join(dir, "flu.md")); err != nil {
					t.Fatal(err)
				}
				f.waitFound("september")
			})
			t.Run("new subfolder", func(t *testing.T) {
				sub := filepath.Join(dir, "protocols", "triage")
				if err := os.MkdirAll(sub, 0o755); err != nil {
					t.Fatal(err)
				}
				write(t, filepath.Join(sub, "chest.md"), "# Chest pain\n\nEscalate chest pain to the duty doctor.")
				f.waitFound("escalate", "protocols/triage/chest.md")
				// A file added to the new folder later is seen too: it is watched.
				write(t, filepath.Join(sub, "burns.md"), "# Burns\n\nCool burns under running water.")
				f.waitFound("burns", "protocols/triage/burns.md")
			})
			t.Run("folder renamed away", func(t *testing.T) {
				if err := os.Rename(filepath.Join(dir, "protocols"), filepath.Join(t.TempDir(), "elsewhere")); err != nil {
					t.Fatal(err)
				}
				f.waitFound("escalate")
				f.waitFound("burns")
			})
			t.Run("status", func(t *testing.T) {
				all, err := f.svc.Sources(as(admin))
				if err != nil || len(all) != 1 || all[0].ID != src.ID || all[0].Indexed != 1 || all[0].LastScanAt.IsZero() {
					t.Fatalf("sources = %+v, %v", all, err)
				}
				var sawProgress bool
				for len(f.events.ch) > 0 {
					ev := <-f.events.ch
					sawProgress = sawProgress || ev.Type == domain.EventIngestion && ev.ID == src.ID && ev.For("someone", domain.RoleAdmin) && !ev.For("someone", domain.RolePatient)
				}
				if !sawProgress {
					t.Fatal("no ingestion progress was pushed to admins")
				}
			})
		})
	}
}

// TestRestartReconciliation: changes made while the server was down are
// found at start; unchanged files are not extracted again.
func TestRestartReconciliation(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for _, n := range []string{"a", "b", "c"} {
				write(t, filepath.Join(dir, n+".md"), "# "+n+"\n\nDocument "+n+" mentions topic"+n+".")
			}
			db := e.Open(t)
			f := newService(t, db, knowledge.Options{})
			f.addFolder(dir, domain.VisibilityStaff)
			f.waitFound("topica", "a.md")
			f.waitFound("topicc", "c.md")
			f.svc.Close()
			before, _ := db.Files(context.Background(), mustSource(t, db).ID)

			// While down: b deleted, c changed, d added, a touched without change.
			os.Remove(filepath.Join(dir, "b.md"))
			write(t, filepath.Join(dir, "c.md"), "# c\n\nDocument c now mentions newtopic.")
			write(t, filepath.Join(dir, "d.md"), "# d\n\nDocument d mentions topicd.")
			later := time.Now().Add(time.Hour)
			os.Chtimes(filepath.Join(dir, "a.md"), later, later)

			g := newService(t, db, knowledge.Options{})
			if err := g.svc.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			g.waitFound("topicd", "d.md")
			g.waitFound("newtopic", "c.md")
			g.waitFound("topicb")
			g.waitFound("topicc")
			g.waitFound("topica", "a.md")
			after, _ := db.Files(context.Background(), mustSource(t, db).ID)
			if len(after) != 3 || after[0].Path != "a.md" || after[0].Hash != before[0].Hash || after[0].UpdatedAt.Equal(before[0].UpdatedAt) && !after[0].ModTime.Equal(modTime(later)) {
				t.Fatalf("a.md before %+v after %+v", before[0], after[0])
			}
		})
	}
}

func modTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func mustSource(t *testing.T, db store.DB) *domain.KnowledgeSource {
	t.Helper()
	all, err := db.Sources(context.Background())
	if err != nil || len(all) == 0 {
		t.Fatalf("sources = %v, %v", all, err)
	}
	return &all[0]
}

// TestBadFiles: junk, huge, unreadable and hostile files are recorded with a
// reason each and stop nothing else.
func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	write(t, filepath.Join(outside, "secret.md"), "# Secret\n\nOutside the source.")
	write(t, filepath.Join(dir, "good.md"), "# Good\n\nAsthma inhalers are reviewed yearly.")
	write(t, filepath.Join(dir, "junk.bin"), string([]byte{0, 1, 2, 3, 0xff, 0xfe, 0, 0, 9, 8, 7, 0}))
	write(t, filepath.Join(dir, "fake.pdf"), "%PDF-1.7 this is not really a PDF")
	must(t, os.Symlink(filepath.Join(outside, "secret.md"), filepath.Join(dir, "outside.md")))
	must(t, os.Symlink(dir, filepath.Join(dir, "loop")))
	must(t, os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling.md")))
	must(t, os.Symlink(filepath.Join(dir, "good.md"), filepath.Join(dir, "alias.md")))
	// A named pipe would block a reader for ever.
	must(t, syscall.Mkfifo(filepath.Join(dir, "pipe.md"), 0o644))
	big, err := os.Create(filepath.Join(dir, "huge.txt"))
	must(t, err)
	must(t, big.Truncate(2<<30)) // 2 GiB, sparse
	big.Close()

	f := newService(t, storetest.OpenSQLite(t), knowledge.Options{})
	st := f.addFolder(dir, domain.VisibilityStaff)
	// The link inside the folder holds the same content: one document, one hit.
	f.waitFound("inhalers", "alias.md")
	var failed []domain.KnowledgeFile
	eventually(t, "the failures are recorded", func() bool {
		failed, err = f.svc.Failures(as(admin), st.ID)
		return err == nil && len(failed) >= 7
	})
	reasons := map[string]string{}
	for _, ff := range failed {
		reasons[ff.Path] = ff.Reason + ": " + ff.Error
	}
	for path, want := range map[string]string{
		"junk.bin": "unsupported", "fake.pdf": "malformed", "outside.md": "outside the source folder",
		"loop": "folder", "dangling.md": "points nowhere", "huge.txt": "too_large", "pipe.md": "Not a regular file",
	} {
		if !strings.Contains(reasons[path], want) {
			t.Errorf("%s: recorded %q, want %q in it", path, reasons[path], want)
		}
	}
	if got := f.found("outside"); len(got) != 0 {
		t.Fatalf("a file outside the folder was indexed: %v", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestVisibility: a patient never gets a passage from a staff-only source;
// staff get both.
func TestVisibility(t *testing.T) {
	staffDir, publicDir := t.TempDir(), t.TempDir()
	write(t, filepath.Join(staffDir, "triage.md"), "# Triage\n\nInternal: chest pain goes to room one.")
	write(t, filepath.Join(publicDir, "leaflet.md"), "# Chest pain\n\nCall emergency services for chest pain.")
	f := newService(t, storetest.OpenSQLite(t), knowledge.Options{})
	f.addFolder(staffDir, domain.VisibilityStaff)
	f.addFolder(publicDir, domain.VisibilityEveryone)
	f.waitFound("chest pain", "triage.md", "leaflet.md")
	res, err := f.svc.Search(as(patient), "chest pain room", 10)
	if err != nil || len(res) != 1 || res[0].Source != "leaflet.md" {
		t.Fatalf("patient search = %+v, %v", res, err)
	}
}

func TestSourceValidationAndAccess(t *testing.T) {
	f := newService(t, storetest.OpenSQLite(t), knowledge.Options{})
	file := filepath.Join(t.TempDir(), "x.md")
	write(t, file, "x")
	for _, tc := range []struct {
		in   knowledge.NewSource
		want string
	}{
		{knowledge.NewSource{Kind: "folder", Path: "relative/path", Visibility: "staff"}, "absolute"},
		{knowledge.NewSource{Kind: "folder", Path: "/does/not/exist", Visibility: "staff"}, "does not exist"},
		{knowledge.NewSource{Kind: "folder", Path: file, Visibility: "staff"}, "not a folder"},
		{knowledge.NewSource{Kind: "folder", Path: t.TempDir(), Visibility: "public"}, "visibility"},
		{knowledge.NewSource{Kind: "ftp", Path: t.TempDir(), Visibility: "staff"}, "kind"},
		{knowledge.NewSource{Kind: "s3", Bucket: "Bad_Bucket", Visibility: "staff"}, "S3"},
	} {
		_, err := f.svc.AddSource(as(admin), tc.in)
		if domain.ErrorCode(err) != domain.EINVALID || !strings.Contains(domain.ErrorMessage(err), tc.want) {
			t.Errorf("%+v: %v, want invalid mentioning %q", tc.in, err, tc.want)
		}
	}
	for _, p := range []*domain.Principal{staff, patient, {UserID: "d", Role: domain.RoleDoctor}} {
		if _, err := f.svc.AddSource(as(p), knowledge.NewSource{Kind: "folder", Path: t.TempDir(), Visibility: "staff"}); domain.ErrorCode(err) != domain.EFORBIDDEN {
			t.Errorf("%s added a source: %v", p.Role, err)
		}
		if _, err := f.svc.Sources(as(p)); domain.ErrorCode(err) != domain.EFORBIDDEN {
			t.Errorf("%s listed sources: %v", p.Role, err)
		}
	}
	if _, err := f.svc.Search(as(patient), "  ", 5); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("empty query: %v", err)
	}
	dir := t.TempDir()
	f.addFolder(dir, domain.VisibilityStaff)
	if _, err := f.svc.AddSource(as(admin), knowledge.NewSource{Kind: "folder", Path: dir + "/", Visibility: "everyone"}); domain.ErrorCode(err) != domain.ECONFLICT {
		t.Errorf("the same folder twice: %v", err)
	}
}

// TestIngestManyBatches: a folder of several batches, with versions shared
// by files in different batches, is written whole however many batches are
// written at once, and changing half of it leaves no version behind that no
// file holds.
func TestIngestManyBatches(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := t.TempDir()
			const files, versions = 700, 150
			text := func(v int) string { return fmt.Sprintf("# Leaflet %d\n\nLeaflet %d is about subject%dq.", v, v, v) }
			for i := range files {
				write(t, filepath.Join(dir, fmt.Sprintf("%04d.md", i)), text(i%versions))
			}
			db := e.Open(t)
			f := newService(t, db, knowledge.Options{})
			src, err := f.svc.EnsureFolder(ctx, dir, domain.VisibilityStaff)
			if err != nil {
				t.Fatal(err)
			}
			count := func() (indexed, docs int) {
				t.Helper()
				c, err := db.SourceCounts(ctx, src.ID)
				if err != nil {
					t.Fatal(err)
				}
				all, err := db.Documents(ctx, "", 1000, 0)
				if err != nil {
					t.Fatal(err)
				}
				return c.Indexed, len(all)
			}
			p, err := f.svc.IngestFolder(ctx, src, nil)
			if err != nil || p.Indexed != files || p.Failed != 0 {
				t.Fatalf("first run: %+v, %v", p, err)
			}
			if indexed, docs := count(); indexed != files || docs != versions {
				t.Fatalf("first run stored %d files and %d versions, want %d and %d", indexed, docs, files, versions)
			}
			// Every other file gets one of 50 new versions; the old versions
			// stay held by the files left alone.
			for i := 0; i < files; i += 2 {
				write(t, filepath.Join(dir, fmt.Sprintf("%04d.md", i)), text(1000+(i/2)%50))
			}
			if p, err := f.svc.IngestFolder(ctx, src, nil); err != nil || p.Indexed != files/2 {
				t.Fatalf("second run: %+v, %v", p, err)
			}
			// Versions i%150 for odd i are the odd ones (150 is even): 75 stay.
			if indexed, docs := count(); indexed != files || docs != 75+50 {
				t.Fatalf("second run left %d files and %d versions, want %d and %d", indexed, docs, files, 125)
			}
			// Seven files hold that version; its one passage is found once.
			if got := f.found("subject1003q"); len(got) != 1 {
				t.Fatalf("subject1003q found %d times, want once: %v", len(got), got)
			}
			if got := f.found("subject4q"); len(got) != 0 {
				t.Fatalf("subject4q (a version no file holds now) still found: %v", got)
			}
		})
	}
}

// TestLeadKeepsSourcesForEveryProcess: with several server processes on one
// database, only the leading one watches and scans; a source added and a
// scan asked for through another process reach it.
func TestLeadKeepsSourcesForEveryProcess(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			db := e.Open(t)
			opts := knowledge.Options{Shared: true, Reconcile: 20 * time.Millisecond}
			leading := newService(t, db, opts)
			other := newService(t, db, opts)
			ctx, stop := context.WithCancel(context.Background())
			led := make(chan struct{})
			go func() { defer close(led); leading.svc.Lead(ctx) }()
			t.Cleanup(func() { stop(); <-led })

			dir := t.TempDir()
			write(t, filepath.Join(dir, "hours.md"), "# Hours\n\nThe clinic opens at eight on weekdays.")
			st := other.addFolder(dir, domain.VisibilityStaff)
			if st.Scanning {
				t.Fatal("a process that does not lead scans")
			}
			other.waitFound("weekdays", "hours.md")

			src := mustSource(t, db)
			first := src.LastScanAt
			if first.IsZero() {
				t.Fatal("the leader's first scan was not recorded")
			}
			if _, err := other.svc.Sync(as(admin), src.ID); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the scan asked for through the other process", func() bool {
				s, err := db.Source(context.Background(), src.ID)
				return err == nil && s.LastScanAt.After(first)
			})
		})
	}
}
