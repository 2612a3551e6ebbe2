package knowledge

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/healthhub/healthhub/backend/domain"
)

// ignored reports whether a name is skipped: hidden files and folders, and
// the temporary files editors and downloads leave while saving.
func ignored(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~$") || strings.HasSuffix(name, "~") ||
		strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#") {
		return true
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".tmp", ".temp", ".swp", ".swx", ".part", ".crdownload", ".partial":
		return true
	}
	return false
}

// modTime is a file time as both engines store it (microseconds, UTC), so
// that an unchanged file compares equal.
func modTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// scanFolder lists the files under dir (a folder or file inside root, or
// root itself). Links are followed only to files inside root; links to
// folders are not followed (no loops), and neither links out of the folder
// nor devices, sockets and pipes are read: they are listed with the reason.
func scanFolder(ctx context.Context, root, dir string) ([]candidate, error) {
	var out []candidate
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, rerr := filepath.Rel(root, path)
		if rerr != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.SkipDir
		}
		rel = filepath.ToSlash(rel)
		if err != nil {
			if path == dir && path != root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll // removed since it changed: what was under it is gone
			}
			if d != nil && d.IsDir() && path != dir {
				out = append(out, candidate{Path: rel, Problem: "The folder could not be read: " + err.Error()})
				return filepath.SkipDir
			}
			if path == dir {
				return err
			}
			out = append(out, candidate{Path: rel, Problem: "The file could not be read: " + err.Error()})
			return nil
		}
		if path != root && ignored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // gone since it was listed
		}
		c := candidate{Path: rel, Size: info.Size(), ModTime: modTime(info.ModTime())}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := filepath.EvalSymlinks(path)
			if err != nil {
				c.Problem = "The link points nowhere, or round in a loop: " + err.Error()
				break
			}
			if r, err := filepath.Rel(realRoot, target); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
				c.Problem = "The link points outside the source folder; such links are not followed."
				break
			}
			ti, err := os.Stat(target)
			if err != nil || !ti.Mode().IsRegular() {
				c.Problem = "The link points to a folder or a special file; only links to files are followed."
				break
			}
			c.Size, c.ModTime = ti.Size(), modTime(ti.ModTime())
			c.Open = openFile(target)
		case !info.Mode().IsRegular():
			c.Problem = "Not a regular file (a device, socket or pipe)."
		default:
			c.Open = openFile(path)
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

func openFile(path string) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errVanished
		}
		if err != nil {
			return nil, err
		}
		// Opening by name could still reach a pipe swapped in since the scan.
		if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
			f.Close()
			return nil, errors.New("not a regular file")
		}
		return f, nil
	}
}

// underPrefix matches stored paths at or below rel ("" is everything).
func underPrefix(rel string) func(string) bool {
	if rel == "" || rel == "." {
		return func(string) bool { return true }
	}
	return func(p string) bool { return p == rel || strings.HasPrefix(p, rel+"/") }
}

// syncFolder scans dir (inside the source's folder) and brings the store in
// line with it.
func (s *Service) syncFolder(ctx context.Context, r *runner, dir string, full bool) {
	root := r.src.Path
	found, scanErr := scanFolder(ctx, root, dir)
	if ctx.Err() != nil {
		return
	}
	if scanErr != nil {
		if full {
			s.logger.Warn("knowledge: folder cannot be scanned", "source", r.src.ID, "err", scanErr)
			s.syncPass(ctx, r, nil, nil, true, scanErr)
		}
		return
	}
	stored, err := s.store.Files(ctx, r.src.ID)
	if err != nil {
		s.logger.Error("knowledge: read stored files", "source", r.src.ID, "err", err)
		return
	}
	rel, _ := filepath.Rel(root, dir)
	todo, gone := diff(found, stored, underPrefix(filepath.ToSlash(rel)))
	s.syncPass(ctx, r, todo, gone, full, nil)
}

// watchFolder reconciles the folder with the store, then indexes changes as
// they happen: every event marks its path, and once the folder has been
// quiet for the debounce time each marked path is scanned again. That one
// rule covers creation, modification, deletion, renames (an editor's
// write-then-rename save marks the final name) and new subfolders (which
// are watched as they appear).
func (s *Service) watchFolder(ctx context.Context, r *runner) {
	root := r.src.Path
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.logger.Warn("knowledge: cannot watch folders; changes are picked up by the periodic scan", "err", err)
	} else {
		defer w.Close()
		s.watchTree(w, root)
	}
	s.syncFolder(ctx, r, root, true)

	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	rescan := time.NewTicker(s.opts.Rescan)
	defer rescan.Stop()
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	dirty := map[string]bool{}
	var firstDirty time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.scanReq:
			s.watchTree(w, root)
			s.syncFolder(ctx, r, root, true)
		case <-rescan.C:
			s.syncFolder(ctx, r, root, true)
		case err := <-errs:
			// Most likely the kernel's queue overflowed: events were lost.
			s.logger.Warn("knowledge: watch error; scanning the whole folder", "source", r.src.ID, "err", err)
			r.requestScan()
		case ev := <-events:
			if ev.Has(fsnotify.Create) {
				if info, err := os.Lstat(ev.Name); err == nil && info.IsDir() && !ignored(filepath.Base(ev.Name)) {
					s.watchTree(w, ev.Name)
				}
			}
			if len(dirty) == 0 {
				firstDirty = time.Now()
			}
			dirty[ev.Name] = true
			// Wait for quiet, but not for ever while a folder keeps changing.
			wait := s.opts.Debounce
			if time.Since(firstDirty) > 10*s.opts.Debounce {
				wait = 0
			}
			quiet.Reset(wait)
		case <-quiet.C:
			for _, p := range collapse(dirty) {
				s.syncFolder(ctx, r, p, false)
			}
			clear(dirty)
		}
	}
}

// watchTree watches dir and every folder below it.
func (s *Service) watchTree(w *fsnotify.Watcher, dir string) {
	if w == nil {
		return
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if path != dir && ignored(d.Name()) {
			return filepath.SkipDir
		}
		if err := w.Add(path); err != nil {
			s.logger.Warn("knowledge: cannot watch a folder; its changes are picked up by the periodic scan", "err", err)
			return filepath.SkipDir
		}
		return nil
	})
}

// collapse drops marked paths that lie under another marked path, which is
// scanned whole anyway.
func collapse(dirty map[string]bool) []string {
	out := make([]string, 0, len(dirty))
	for p := range dirty {
		covered := false
		for q := p; ; {
			parent := filepath.Dir(q)
			if parent == q {
				break
			}
			if dirty[parent] {
				if info, err := os.Lstat(parent); err != nil || info.IsDir() {
					covered = true
					break
				}
			}
			q = parent
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}

// IngestFolder brings a folder source in line with its folder once, now,
// without watching it: what `healthhubd ingest` runs. progress is called as
// files are done.
func (s *Service) IngestFolder(ctx context.Context, src *domain.KnowledgeSource, progress func(Progress)) (Progress, error) {
	found, err := scanFolder(ctx, src.Path, src.Path)
	if err != nil {
		return Progress{}, err
	}
	stored, err := s.store.Files(ctx, src.ID)
	if err != nil {
		return Progress{}, err
	}
	todo, gone := diff(found, stored, underPrefix(""))
	p, err := s.ingest(ctx, src, todo, progress)
	if err != nil {
		return p, err
	}
	if err := s.store.RemoveFiles(ctx, src.ID, gone); err != nil {
		return p, err
	}
	p.Removed += len(gone)
	p.Unchanged = len(found) - len(todo)
	return p, s.store.SetSourceScan(ctx, src.ID, s.now().UTC(), "")
}
