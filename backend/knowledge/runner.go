package knowledge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// runner keeps one source in sync: a reconciliation at start, then watched
// changes (folders) or a schedule (S3), and full scans on request.
type runner struct {
	src     *domain.KnowledgeSource
	cancel  context.CancelFunc
	done    chan struct{}
	scanReq chan struct{}

	// scanRequests is the source's count of scans asked for that this
	// runner has seen (a full scan begins every runner).
	scanRequests atomic.Int64

	mu       sync.Mutex
	prog     Progress
	scanning bool
}

func (r *runner) requestScan() {
	select {
	case r.scanReq <- struct{}{}:
	default: // one is already asked for
	}
}

func (r *runner) pending() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prog.Total - r.prog.Done, r.scanning
}

// run starts keeping src in sync unless that is under way already, and
// returns its runner; nil when another process keeps the sources.
func (s *Service) run(src *domain.KnowledgeSource) *runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.running[src.ID]; r != nil {
		return r
	}
	if s.lead == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(s.lead)
	r := &runner{src: src, cancel: cancel, done: make(chan struct{}), scanReq: make(chan struct{}, 1)}
	r.scanRequests.Store(src.ScanRequests)
	s.running[src.ID] = r
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(r.done)
		if src.Kind == domain.SourceS3 {
			s.pollS3(ctx, r)
		} else {
			s.watchFolder(ctx, r)
		}
	}()
	return r
}

// sync ingests the candidates of one pass and removes what is gone, keeping
// the runner's progress for status and pushing it to admins.
func (s *Service) syncPass(ctx context.Context, r *runner, cands []candidate, gone []string, full bool, scanErr error) {
	r.mu.Lock()
	r.scanning, r.prog = true, Progress{Total: len(cands)}
	r.mu.Unlock()
	last := time.Time{}
	report := func(p Progress) {
		r.mu.Lock()
		r.prog = p
		r.mu.Unlock()
		if now := time.Now(); now.Sub(last) >= 250*time.Millisecond {
			last = now
			s.publish(r.src, p, true)
		}
	}
	if len(cands) > 0 {
		s.publish(r.src, Progress{Total: len(cands)}, true)
	}
	p, err := s.ingest(ctx, r.src, cands, report)
	if err == nil && len(gone) > 0 {
		err = s.store.RemoveFiles(ctx, r.src.ID, gone)
		p.Removed += len(gone)
	}
	if err != nil && ctx.Err() == nil {
		s.logger.Error("knowledge: ingestion stopped; the next scan completes it", "source", r.src.ID, "err", err)
	}
	if p.Indexed+p.Removed > 0 {
		s.vectors.invalidate()
	}
	r.mu.Lock()
	r.scanning, r.prog = false, Progress{}
	r.mu.Unlock()
	if full && ctx.Err() == nil {
		msg := ""
		if scanErr != nil {
			msg = scanErr.Error()
		} else if err != nil {
			msg = "Ingestion stopped: " + domain.ErrorMessage(err)
		}
		if serr := s.store.SetSourceScan(ctx, r.src.ID, s.now().UTC(), msg); serr != nil {
			s.logger.Warn("knowledge: record scan", "source", r.src.ID, "err", serr)
		}
	}
	if len(cands)+len(gone) > 0 || full {
		s.publish(r.src, p, false)
	}
	if len(cands)+len(gone) > 0 {
		s.logger.Info("knowledge: synced", "source", r.src.ID, "indexed", p.Indexed, "failed", p.Failed, "removed", p.Removed)
	}
}

// diff compares what a scan found under prefix with what the store holds:
// new files and files whose size or time changed are candidates (their
// content hash then decides whether anything is extracted again); stored
// files no longer there are gone.
func diff(found []candidate, stored []domain.KnowledgeFile, under func(path string) bool) ([]candidate, []string) {
	known := make(map[string]domain.KnowledgeFile, len(stored))
	for _, f := range stored {
		if under(f.Path) {
			known[f.Path] = f
		}
	}
	var todo []candidate
	for _, c := range found {
		f, ok := known[c.Path]
		delete(known, c.Path)
		if ok && f.Size == c.Size && f.ModTime.Equal(c.ModTime) && f.ETag == c.ETag {
			continue
		}
		todo = append(todo, c)
	}
	gone := make([]string, 0, len(known))
	for p := range known {
		gone = append(gone, p)
	}
	return todo, gone
}
