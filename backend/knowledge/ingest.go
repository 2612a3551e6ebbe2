package knowledge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge/chunk"
	"github.com/healthhub/healthhub/backend/knowledge/extract"
)

// candidate is a file of a source that may need indexing: its identity as
// listed (size, time, ETag) and how to read it.
type candidate struct {
	Path    string
	Size    int64
	ModTime time.Time
	ETag    string
	// Problem, when set, is why the file cannot be read at all (a link out
	// of the folder, not a regular file); it is recorded as a failure.
	Problem string
	Open    func(ctx context.Context) (io.ReadCloser, error)
}

// errVanished marks a file that went away between listing and reading; it
// is treated as deleted, not as failed.
var errVanished = errors.New("file vanished")

// Progress is reported while a batch of files is ingested.
type Progress struct {
	Total, Done, Indexed, Unchanged, Failed, Removed int
}

// batchSize is how many files go into one transaction: enough to make
// writing cheap (64 gave 5% less throughput), few enough that a killed
// process loses little work.
const batchSize = 256

// ingest indexes the candidates of one source: files are read, hashed,
// extracted, chunked (and embedded) by parallel workers, and written in
// batches (see writers), each file whole or not at all. A file whose
// content version is already stored is not extracted again.
func (s *Service) ingest(ctx context.Context, src *domain.KnowledgeSource, cands []candidate, progress func(Progress)) (Progress, error) {
	p := Progress{Total: len(cands)}
	if len(cands) == 0 {
		return p, nil
	}
	type result struct {
		cand     candidate
		file     domain.IndexedFile
		vanished bool
	}
	jobs := make(chan candidate)
	results := make(chan result, batchSize)
	workers := max(1, runtime.GOMAXPROCS(0))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				f, err := s.prepare(wctx, src, c, false)
				select {
				case results <- result{cand: c, file: f, vanished: errors.Is(err, errVanished)}:
				case <-wctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, c := range cands {
			select {
			case jobs <- c:
			case <-wctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	// Batches are written by writers() goroutines: on PostgreSQL each
	// transaction's full-text indexing runs in its own server process.
	type job struct {
		files []domain.IndexedFile
		cands []candidate
		gone  []string
	}
	batches := make(chan job)
	var (
		werrOnce sync.Once
		werr     error
		writers  sync.WaitGroup
	)
	fail := func(err error) {
		werrOnce.Do(func() { werr = err; cancel() })
	}
	for range s.writers() {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for b := range batches {
				if err := s.writeBatch(ctx, src, b.files, b.cands); err != nil {
					fail(err)
					continue
				}
				if err := s.store.RemoveFiles(ctx, src.ID, b.gone); err != nil {
					fail(err)
				}
			}
		}()
	}
	var next job
	flush := func() bool {
		if len(next.files)+len(next.gone) == 0 {
			return true
		}
		select {
		case batches <- next:
			next = job{}
			return true
		case <-wctx.Done():
			return false
		}
	}
	for r := range results {
		p.Done++
		switch {
		case r.vanished:
			next.gone = append(next.gone, r.file.File.Path)
			p.Removed++
		case r.file.File.Status == domain.FileFailed:
			next.files, next.cands = append(next.files, r.file), append(next.cands, r.cand)
			p.Failed++
		default:
			next.files, next.cands = append(next.files, r.file), append(next.cands, r.cand)
			p.Indexed++
		}
		if len(next.files)+len(next.gone) >= batchSize && !flush() {
			break
		}
		if progress != nil { // callers throttle what they show
			progress(p)
		}
	}
	if ctx.Err() == nil && wctx.Err() == nil {
		flush()
	}
	close(batches)
	writers.Wait()
	if err := ctx.Err(); err != nil {
		return p, err
	}
	return p, werr
}

// writers is how many batches are written at once: two on PostgreSQL,
// where the server computes each transaction's text index in its own
// process (one writer left a core idle), and one on SQLite, which has a
// single writer anyway.
func (s *Service) writers() int {
	if s.store.Engine() == "postgres" {
		return 2
	}
	return 1
}

// writeBatch stores a batch. A version that was found stored while the
// batch was prepared may have been dropped since (its last other file
// removed); the store then refuses the batch, and it is written again with
// those files extracted afresh.
func (s *Service) writeBatch(ctx context.Context, src *domain.KnowledgeSource, batch []domain.IndexedFile, cands []candidate) error {
	err := s.store.IndexFiles(ctx, batch)
	if !errors.Is(err, domain.ErrDocumentGone) {
		return err
	}
	for i := range batch {
		if batch[i].Document != nil && len(batch[i].Chunks) == 0 {
			f, err := s.prepare(ctx, src, cands[i], true)
			if errors.Is(err, errVanished) {
				f = domain.IndexedFile{File: batch[i].File}
				f.File.Status, f.File.DocumentID, f.File.Reason, f.File.Error = domain.FileFailed, "", "unreadable", "The file went away while it was read."
			} else if err != nil {
				return err
			}
			batch[i] = f
		}
	}
	return s.store.IndexFiles(ctx, batch)
}

// prepare reads one candidate into what the store writes for it. err is set
// only for a vanished file or a cancelled context; every other problem
// becomes a failed file. Unless fresh, a content version already stored is
// not extracted again.
func (s *Service) prepare(ctx context.Context, src *domain.KnowledgeSource, c candidate, fresh bool) (domain.IndexedFile, error) {
	file := domain.KnowledgeFile{SourceID: src.ID, Path: c.Path, Size: c.Size, ModTime: c.ModTime, ETag: c.ETag}
	fail := func(reason, msg string) (domain.IndexedFile, error) {
		file.Status, file.Reason, file.Error = domain.FileFailed, reason, msg
		return domain.IndexedFile{File: file}, nil
	}
	if c.Problem != "" {
		return fail("unreadable", c.Problem)
	}
	if c.Size > s.limits.MaxBytes {
		return fail(string(extract.ReasonTooLarge), fmt.Sprintf("The file is %s; files over %s are not read.", humanBytes(c.Size), humanBytes(s.limits.MaxBytes)))
	}
	data, err := s.read(ctx, c)
	if err != nil {
		if errors.Is(err, errVanished) || ctx.Err() != nil {
			return domain.IndexedFile{File: file}, err
		}
		return fail("unreadable", err.Error())
	}
	sum := sha256.Sum256(data)
	file.Size, file.Hash = int64(len(data)), hex.EncodeToString(sum[:])
	if !fresh {
		if ok, err := s.store.HasDocument(ctx, file.Hash); err == nil && ok {
			file.Status, file.DocumentID = domain.FileIndexed, file.Hash
			return domain.IndexedFile{File: file, Document: &domain.KnowledgeDocument{ID: file.Hash}}, nil
		}
	}
	return s.index(ctx, file, data)
}

// read loads a file, no more than the size limit allows.
func (s *Service) read(ctx context.Context, c candidate) ([]byte, error) {
	rc, err := c.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, s.limits.MaxBytes+1))
	if err != nil {
		//lint:ignore ST1005 the administrator reads this sentence as written, beside the file
		return nil, fmt.Errorf("The file could not be read: %v.", err)
	}
	if int64(len(data)) > s.limits.MaxBytes {
		//lint:ignore ST1005 the administrator reads this sentence as written, beside the file
		return nil, fmt.Errorf("The file grew past %s while it was read.", humanBytes(s.limits.MaxBytes))
	}
	return data, nil
}

// index extracts, chunks and embeds one file's content.
func (s *Service) index(ctx context.Context, file domain.KnowledgeFile, data []byte) (domain.IndexedFile, error) {
	doc, err := extract.Extract(ctx, file.Path, bytes.NewReader(data), int64(len(data)), s.limits)
	if err != nil {
		if ctx.Err() != nil {
			return domain.IndexedFile{}, ctx.Err()
		}
		file.Status, file.Reason, file.Error = domain.FileFailed, string(extract.ReasonOf(err)), domain.ErrorMessage(err)
		if file.Error == "" {
			file.Error = err.Error()
		}
		file.Hash = ""
		return domain.IndexedFile{File: file}, nil
	}
	sections := make([]chunk.Section, len(doc.Sections))
	for i, sec := range doc.Sections {
		sections[i] = chunk.Section{Headings: sec.Headings, Text: sec.Text}
	}
	parts := chunk.Split(sections, chunk.Options{})
	chunks := make([]domain.KnowledgeChunk, len(parts))
	for i, c := range parts {
		chunks[i] = domain.KnowledgeChunk{Ordinal: c.Ordinal, Headings: c.Headings, Text: c.Text, Tokens: c.Tokens}
	}
	if s.embedder != nil {
		s.embed(ctx, file.Path, chunks)
	}
	file.Status, file.DocumentID = domain.FileIndexed, file.Hash
	return domain.IndexedFile{
		File:     file,
		Document: &domain.KnowledgeDocument{ID: file.Hash, Title: doc.Title, Format: string(doc.Format), Bytes: int64(len(data))},
		Chunks:   chunks,
	}, nil
}

// embed adds vectors to chunks. A provider that fails leaves the chunks
// without them: the document is still found by full-text search, and the
// next change of the file embeds it again.
func (s *Service) embed(ctx context.Context, path string, chunks []domain.KnowledgeChunk) {
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = embeddingText(c.Headings, c.Text)
	}
	vecs, err := s.embedder.Embed(ctx, texts)
	if err != nil || len(vecs) != len(chunks) {
		s.logger.Warn("knowledge: embedding failed; the document is indexed for full-text search only", "path", path, "err", err)
		return
	}
	for i := range chunks {
		chunks[i].Embedding, chunks[i].EmbeddingModel = vecs[i], s.embedder.Model()
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
