// Package knowledge is the clinic's knowledge base: sources (watched folders
// and S3 prefixes) are scanned and kept in sync, their files extracted,
// chunked and indexed, and searched with full-text ranking fused with vector
// similarity when an embedding provider is configured.
package knowledge

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/redact"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge/extract"
	"github.com/healthhub/healthhub/backend/policy"
)

// Options tune the service; zero values take the defaults.
type Options struct {
	Limits     extract.Limits
	Embedder   Embedder      // nil: full-text search only
	S3         S3Opener      // nil: S3 sources are refused
	Debounce   time.Duration // quiet time before a watched change is indexed; default 100ms
	Rescan     time.Duration // full reconciliation of every source; default 15 minutes
	S3Interval time.Duration // how often S3 sources are listed; default 5 minutes
	// Shared says server processes share the database: one of them, the
	// leader, watches and scans the sources (Lead); the others store what
	// they are asked and leave the work to it. Otherwise this process
	// watches every source it adds or is asked to scan.
	Shared bool
	// Reconcile is how often a leading process (Lead) reads the sources
	// other processes added, removed or asked to scan; default 5 seconds.
	Reconcile time.Duration
}

// Service keeps the knowledge base.
type Service struct {
	store    Store
	rec      audit.Recorder
	access   *access.Guard
	events   domain.Publisher
	embedder Embedder
	s3       S3Opener
	limits   extract.Limits
	opts     Options
	now      func() time.Time
	logger   *slog.Logger

	mu      sync.Mutex
	running map[string]*runner // by source id
	// lead is the context runners run under while this process keeps the
	// sources in sync (Start, or Lead while leading); nil otherwise.
	lead    context.Context
	vectors vectorIndex
	wg      sync.WaitGroup
	ctx     context.Context
	stop    context.CancelFunc
}

// New makes the service. Start begins watching; without it the service
// still searches and ingests on demand.
func New(store Store, rec audit.Recorder, events domain.Publisher, opts Options, now func() time.Time, logger *slog.Logger) *Service {
	if opts.Debounce <= 0 {
		opts.Debounce = 100 * time.Millisecond
	}
	if opts.Rescan <= 0 {
		opts.Rescan = 15 * time.Minute
	}
	if opts.S3Interval <= 0 {
		opts.S3Interval = 5 * time.Minute
	}
	if opts.Reconcile <= 0 {
		opts.Reconcile = 5 * time.Second
	}
	var embedder Embedder
	if opts.Embedder != nil {
		embedder = &redactedEmbedder{Embedder: opts.Embedder, patients: redact.NewPatients(store.PatientNames, now, time.Minute)}
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Service{
		store: store, rec: rec, access: access.New(rec), events: events, embedder: embedder, s3: opts.S3,
		limits: opts.Limits.WithDefaults(), opts: opts, now: now, logger: logger,
		running: map[string]*runner{}, ctx: ctx, stop: stop,
	}
	if !opts.Shared {
		s.lead = ctx
	}
	return s
}

// Start reconciles and watches every stored source until Close; with
// Options.Shared, Lead does that instead.
func (s *Service) Start(ctx context.Context) error {
	if s.opts.Shared {
		return nil
	}
	sources, err := s.store.Sources(ctx)
	if err != nil {
		return err
	}
	for i := range sources {
		s.run(&sources[i])
	}
	return nil
}

// Lead keeps every source in sync until ctx ends, for the one process of a
// deployment that leads (package leader): it watches and scans the sources,
// and every Options.Reconcile picks up sources other processes added or
// removed and scans they were asked for. When ctx ends, the runners stop
// and Lead returns once they have. Only with Options.Shared.
func (s *Service) Lead(ctx context.Context) {
	if !s.opts.Shared {
		return
	}
	lctx, cancel := context.WithCancel(s.ctx)
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	s.mu.Lock()
	s.lead = lctx
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.lead = nil
		runners := s.running
		s.running = map[string]*runner{}
		s.mu.Unlock()
		cancel()
		for _, r := range runners {
			<-r.done
		}
	}()
	t := time.NewTicker(s.opts.Reconcile)
	defer t.Stop()
	for {
		if err := s.reconcileSources(lctx); err != nil && lctx.Err() == nil {
			s.logger.Warn("knowledge: read the sources", "err", err)
		}
		select {
		case <-lctx.Done():
			return
		case <-t.C:
		}
	}
}

// reconcileSources starts runners for stored sources, stops those of
// removed ones, and passes on scans asked for through other processes.
func (s *Service) reconcileSources(ctx context.Context) error {
	sources, err := s.store.Sources(ctx)
	if err != nil {
		return err
	}
	stored := make(map[string]bool, len(sources))
	for i := range sources {
		src := &sources[i]
		stored[src.ID] = true
		s.mu.Lock()
		r := s.running[src.ID]
		s.mu.Unlock()
		if r == nil {
			s.run(src) // begins with a full scan
			continue
		}
		if src.ScanRequests > r.scanRequests.Load() {
			r.scanRequests.Store(src.ScanRequests)
			r.requestScan()
		}
	}
	s.mu.Lock()
	var gone []*runner
	for id, r := range s.running {
		if !stored[id] {
			delete(s.running, id)
			gone = append(gone, r)
		}
	}
	s.mu.Unlock()
	for _, r := range gone {
		r.cancel()
		<-r.done
	}
	return nil
}

// Close stops every watcher and waits for work under way to end.
func (s *Service) Close() {
	s.stop()
	s.wg.Wait()
}

// NewSource is what an admin gives to add a source.
type NewSource struct {
	Kind       string `json:"kind"`
	Path       string `json:"path,omitempty"`
	Bucket     string `json:"bucket,omitempty"`
	Prefix     string `json:"prefix,omitempty"`
	Visibility string `json:"visibility"`
}

// AddSource checks and stores a source, then indexes and watches it.
func (s *Service) AddSource(ctx context.Context, in NewSource) (*SourceStatus, error) {
	p := domain.PrincipalFrom(ctx)
	if err := s.access.Authorize(ctx, policy.Create, policy.Resource{Type: policy.KnowledgeSource}); err != nil {
		return nil, err
	}
	src := &domain.KnowledgeSource{Kind: in.Kind, Visibility: in.Visibility, CreatedBy: p.UserID, CreatedAt: s.now().UTC()}
	switch in.Visibility {
	case domain.VisibilityStaff, domain.VisibilityEveryone:
	default:
		return nil, domain.Invalid("visibility", "visibility must be \"staff\" (clinic staff only) or \"everyone\" (patients may see answers from it).")
	}
	switch in.Kind {
	case domain.SourceFolder:
		path, err := checkFolder(in.Path)
		if err != nil {
			return nil, err
		}
		src.Path = path
	case domain.SourceS3:
		if s.s3 == nil {
			return nil, domain.Invalid("kind", "S3 sources need AWS credentials and a region in the server's environment.")
		}
		if err := checkBucket(in.Bucket, in.Prefix); err != nil {
			return nil, err
		}
		src.Bucket, src.Prefix = in.Bucket, in.Prefix
	default:
		return nil, domain.Invalid("kind", "kind must be \"folder\" or \"s3\".")
	}
	if err := s.store.CreateSource(ctx, src); err != nil {
		return nil, err
	}
	if err := s.record(ctx, domain.ActionCreate, src.ID, "kind="+src.Kind+" visibility="+src.Visibility); err != nil {
		return nil, err
	}
	s.run(src)
	return s.status(ctx, src)
}

// EnsureFolder adds a folder source unless one exists for the path; the
// starter documents are added this way. It needs no caller.
func (s *Service) EnsureFolder(ctx context.Context, path, visibility string) (*domain.KnowledgeSource, error) {
	path, err := checkFolder(path)
	if err != nil {
		return nil, err
	}
	sources, err := s.store.Sources(ctx)
	if err != nil {
		return nil, err
	}
	for i := range sources {
		if sources[i].Kind == domain.SourceFolder && sources[i].Path == path {
			return &sources[i], nil
		}
	}
	src := &domain.KnowledgeSource{Kind: domain.SourceFolder, Path: path, Visibility: visibility, CreatedBy: domain.System.UserID, CreatedAt: s.now().UTC()}
	if err := s.store.CreateSource(ctx, src); err != nil && !domain.IsCode(err, domain.ECONFLICT) {
		return nil, err
	}
	return src, nil
}

// DeleteSource stops watching a source and forgets everything from it.
func (s *Service) DeleteSource(ctx context.Context, id string) error {
	if err := s.access.Authorize(ctx, policy.Delete, policy.Resource{Type: policy.KnowledgeSource, ID: id}); err != nil {
		return err
	}
	s.mu.Lock()
	r := s.running[id]
	delete(s.running, id)
	s.mu.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
	}
	if err := s.store.DeleteSource(ctx, id); err != nil {
		return err
	}
	s.vectors.invalidate()
	return s.record(ctx, domain.ActionDelete, id, "")
}

// Sync asks for a full scan of a source now (S3 sources are otherwise
// listed on a schedule).
func (s *Service) Sync(ctx context.Context, id string) (*SourceStatus, error) {
	if err := s.access.Authorize(ctx, policy.Update, policy.Resource{Type: policy.KnowledgeSource, ID: id}); err != nil {
		return nil, err
	}
	src, err := s.store.Source(ctx, id)
	if err != nil {
		return nil, err
	}
	if r := s.run(src); r != nil {
		r.requestScan()
	} else if err := s.store.RequestSourceScan(ctx, id); err != nil {
		// Another process keeps the sources: it sees the request shortly.
		return nil, err
	}
	return s.status(ctx, src)
}

// SourceStatus is a source with what it holds and what is under way.
type SourceStatus struct {
	domain.KnowledgeSource
	Location string `json:"location"`
	domain.SourceCounts
	Pending  int  `json:"pending"`  // files found and not yet indexed in the scan under way
	Scanning bool `json:"scanning"` // a scan is under way
}

// Sources lists every source with its status.
func (s *Service) Sources(ctx context.Context) ([]SourceStatus, error) {
	if err := s.access.Authorize(ctx, policy.List, policy.Resource{Type: policy.KnowledgeSource}); err != nil {
		return nil, err
	}
	all, err := s.store.Sources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SourceStatus, 0, len(all))
	for i := range all {
		st, err := s.status(ctx, &all[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *st)
	}
	return out, nil
}

// Failures lists a source's files that could not be indexed, with why.
func (s *Service) Failures(ctx context.Context, id string) ([]domain.KnowledgeFile, error) {
	if err := s.access.Authorize(ctx, policy.Read, policy.Resource{Type: policy.KnowledgeSource, ID: id}); err != nil {
		return nil, err
	}
	if _, err := s.store.Source(ctx, id); err != nil {
		return nil, err
	}
	return s.store.FailedFiles(ctx, id, 500)
}

// Documents lists the document versions held (by one source, if given).
func (s *Service) Documents(ctx context.Context, sourceID string, limit, offset int) ([]domain.KnowledgeDocument, error) {
	if err := s.access.Authorize(ctx, policy.List, policy.Resource{Type: policy.KnowledgeSource}); err != nil {
		return nil, err
	}
	return s.store.Documents(ctx, sourceID, limit, offset)
}

func (s *Service) status(ctx context.Context, src *domain.KnowledgeSource) (*SourceStatus, error) {
	counts, err := s.store.SourceCounts(ctx, src.ID)
	if err != nil {
		return nil, err
	}
	st := &SourceStatus{KnowledgeSource: *src, Location: src.Location(), SourceCounts: counts}
	s.mu.Lock()
	if r := s.running[src.ID]; r != nil {
		st.Pending, st.Scanning = r.pending()
	}
	s.mu.Unlock()
	return st, nil
}

// publish tells admins how a source's ingestion stands.
func (s *Service) publish(src *domain.KnowledgeSource, p Progress, scanning bool) {
	if s.events == nil {
		return
	}
	data, _ := json.Marshal(map[string]any{
		"source_id": src.ID, "scanning": scanning, "total": p.Total, "done": p.Done, "pending": p.Total - p.Done,
		"indexed": p.Indexed, "failed": p.Failed, "removed": p.Removed,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.events.Publish(ctx, domain.Event{Type: domain.EventIngestion, ID: src.ID, At: s.now(), Data: data, Roles: []domain.Role{domain.RoleAdmin}}); err != nil {
		s.logger.Warn("knowledge: publish progress", "err", err)
	}
}

func (s *Service) record(ctx context.Context, action, id, detail string) error {
	return s.rec.Record(ctx, audit.Event{Action: action, ResourceType: "knowledge_source", ResourceID: id, Detail: detail})
}

// checkFolder returns the clean absolute path of an existing folder.
func checkFolder(path string) (string, error) {
	if strings.TrimSpace(path) == "" {
		return "", domain.Invalid("path", "path must name a folder on the server, such as /srv/clinic/documents.")
	}
	if !filepath.IsAbs(path) {
		return "", domain.Invalid("path", "path must be absolute (it is a folder on the server): %q is not.", clip(path))
	}
	abs := filepath.Clean(path)
	info, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", domain.Invalid("path", "The folder %s does not exist on the server.", clip(abs))
	case err != nil:
		return "", domain.Invalid("path", "The folder %s cannot be read by the server: %v.", clip(abs), errors.Unwrap(err))
	case !info.IsDir():
		return "", domain.Invalid("path", "%s is a file, not a folder.", clip(abs))
	}
	return abs, nil
}

// checkBucket checks an S3 bucket name and prefix against S3's rules.
func checkBucket(bucket, prefix string) error {
	if len(bucket) < 3 || len(bucket) > 63 {
		return domain.Invalid("bucket", "bucket must be an S3 bucket name of 3 to 63 characters.")
	}
	for i, c := range bucket {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (c == '-' || c == '.') && i > 0 && i < len(bucket)-1
		if !ok {
			return domain.Invalid("bucket", "bucket %q is not a valid S3 bucket name (lower-case letters, digits, dots and hyphens).", clip(bucket))
		}
	}
	if len(prefix) > 512 {
		return domain.Invalid("prefix", "prefix is longer than 512 characters.")
	}
	return nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
