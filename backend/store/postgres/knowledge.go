package postgres

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/vector"
	"github.com/jackc/pgx/v5"
)

const sourceColumns = `id, kind, path, bucket, prefix, visibility, created_by, created_at, last_scan_at, last_error, scan_requests`

func scanSource(row pgx.Row) (*domain.KnowledgeSource, error) {
	var s domain.KnowledgeSource
	var scanned *time.Time
	if err := row.Scan(&s.ID, &s.Kind, &s.Path, &s.Bucket, &s.Prefix, &s.Visibility, &s.CreatedBy, &s.CreatedAt, &scanned, &s.LastError, &s.ScanRequests); err != nil {
		return nil, err
	}
	s.CreatedAt = s.CreatedAt.UTC()
	s.LastScanAt = fromNull(scanned)
	return &s, nil
}

func (db *DB) CreateSource(ctx context.Context, s *domain.KnowledgeSource) error {
	if s.ID == "" {
		s.ID = newID()
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO knowledge_sources (id, kind, path, bucket, prefix, visibility, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, s.ID, s.Kind, s.Path, s.Bucket, s.Prefix, s.Visibility, s.CreatedBy, s.CreatedAt.UTC())
	if pgCode(err) == "23505" {
		return domain.Errorf(domain.ECONFLICT, "This knowledge source already exists: %s.", s.Location())
	}
	return mapErr(err, "create knowledge source")
}

func (db *DB) Source(ctx context.Context, id string) (*domain.KnowledgeSource, error) {
	s, err := scanSource(db.pool.QueryRow(ctx, `SELECT `+sourceColumns+` FROM knowledge_sources WHERE id = $1`, id))
	if err == pgx.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such knowledge source.")
	}
	return s, mapErr(err, "read knowledge source")
}

func (db *DB) Sources(ctx context.Context) ([]domain.KnowledgeSource, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sourceColumns+` FROM knowledge_sources ORDER BY created_at, id`)
	if err != nil {
		return nil, mapErr(err, "list knowledge sources")
	}
	defer rows.Close()
	out := []domain.KnowledgeSource{}
	for rows.Next() {
		s, err := scanSource(rows)
		if err != nil {
			return nil, mapErr(err, "list knowledge sources")
		}
		out = append(out, *s)
	}
	return out, mapErr(rows.Err(), "list knowledge sources")
}

func (db *DB) DeleteSource(ctx context.Context, id string) error {
	return db.tx(ctx, "delete knowledge source", func(tx pgx.Tx) error {
		docs, err := collect(ctx, tx, `DELETE FROM knowledge_files WHERE source_id = $1 RETURNING COALESCE(document_id, '')`, id)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM knowledge_sources WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return domain.Errorf(domain.ENOTFOUND, "No such knowledge source.")
		}
		return dropOrphans(ctx, tx, docs)
	})
}

func (db *DB) SetSourceScan(ctx context.Context, id string, at time.Time, scanErr string) error {
	_, err := db.pool.Exec(ctx, `UPDATE knowledge_sources SET last_scan_at = $1, last_error = $2 WHERE id = $3`, at.UTC(), scanErr, id)
	return mapErr(err, "record knowledge scan")
}

func (db *DB) RequestSourceScan(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `UPDATE knowledge_sources SET scan_requests = scan_requests + 1 WHERE id = $1`, id)
	if err != nil {
		return mapErr(err, "ask for a knowledge scan")
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.ENOTFOUND, "No such knowledge source.")
	}
	return nil
}

func (db *DB) SourceCounts(ctx context.Context, id string) (domain.SourceCounts, error) {
	var c domain.SourceCounts
	err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FILTER (WHERE status = 'indexed'), COUNT(*) FILTER (WHERE status = 'failed')
		FROM knowledge_files WHERE source_id = $1`, id).Scan(&c.Indexed, &c.Failed)
	return c, mapErr(err, "count knowledge files")
}

const fileColumns = `source_id, path, size, mod_time, etag, hash, COALESCE(document_id, ''), status, reason, error, updated_at`

func (db *DB) queryFiles(ctx context.Context, query string, args ...any) ([]domain.KnowledgeFile, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err, "list knowledge files")
	}
	defer rows.Close()
	out := []domain.KnowledgeFile{}
	for rows.Next() {
		var f domain.KnowledgeFile
		var mod *time.Time
		if err := rows.Scan(&f.SourceID, &f.Path, &f.Size, &mod, &f.ETag, &f.Hash, &f.DocumentID, &f.Status, &f.Reason, &f.Error, &f.UpdatedAt); err != nil {
			return nil, mapErr(err, "list knowledge files")
		}
		f.ModTime = fromNull(mod)
		f.UpdatedAt = f.UpdatedAt.UTC()
		out = append(out, f)
	}
	return out, mapErr(rows.Err(), "list knowledge files")
}

func (db *DB) Files(ctx context.Context, sourceID string) ([]domain.KnowledgeFile, error) {
	return db.queryFiles(ctx, `SELECT `+fileColumns+` FROM knowledge_files WHERE source_id = $1 ORDER BY path`, sourceID)
}

func (db *DB) FailedFiles(ctx context.Context, sourceID string, limit int) ([]domain.KnowledgeFile, error) {
	return db.queryFiles(ctx, `SELECT `+fileColumns+` FROM knowledge_files WHERE source_id = $1 AND status = 'failed'
		ORDER BY updated_at DESC, path LIMIT $2`, sourceID, limit)
}

func (db *DB) HasDocument(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM knowledge_documents WHERE id = $1)`, id).Scan(&ok)
	return ok, mapErr(err, "find knowledge document")
}

// collect returns the non-empty strings a query yields.
func collect(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	out := ids[:0]
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out, nil
}

// dropOrphans removes those of docs that no file points at any more.
func dropOrphans(ctx context.Context, tx pgx.Tx, docs []string) error {
	if len(docs) == 0 {
		return nil
	}
	orphans, err := collect(ctx, tx, `SELECT d.id FROM knowledge_documents d WHERE d.id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM knowledge_files f WHERE f.document_id = d.id) FOR UPDATE`, docs)
	if err != nil || len(orphans) == 0 {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM knowledge_chunks WHERE document_id = ANY($1)`, orphans); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `DELETE FROM knowledge_documents WHERE id = ANY($1)`, orphans)
	return err
}

// IndexFiles writes a batch in a handful of statements whatever its size:
// the previous versions, the new documents, their chunks (one COPY) and the
// file rows.
func (db *DB) IndexFiles(ctx context.Context, files []domain.IndexedFile) error {
	if len(files) == 0 {
		return nil
	}
	// The last row for a path wins, as if the files were written in order.
	last := map[[2]string]int{}
	for i, in := range files {
		last[[2]string{in.File.SourceID, in.File.Path}] = i
	}
	now := time.Now().UTC()
	return db.tx(ctx, "index knowledge files", func(tx pgx.Tx) error {
		var sources, paths []string
		for i, in := range files {
			if last[[2]string{in.File.SourceID, in.File.Path}] == i {
				sources, paths = append(sources, in.File.SourceID), append(paths, in.File.Path)
			}
		}
		replaced, err := collect(ctx, tx, `SELECT COALESCE(f.document_id, '') FROM knowledge_files f
			JOIN unnest($1::text[], $2::text[]) AS u(s, p) ON f.source_id = u.s AND f.path = u.p
			ORDER BY f.source_id, f.path FOR UPDATE OF f`, sources, paths)
		if err != nil {
			return err
		}

		var ids, titles, formats []string
		var sizes []int64
		var counts []int
		chunksOf := map[string][]domain.KnowledgeChunk{}
		for _, in := range files {
			d := in.Document
			if d == nil {
				continue
			}
			if _, seen := chunksOf[d.ID]; seen {
				if len(chunksOf[d.ID]) == 0 && len(in.Chunks) > 0 {
					chunksOf[d.ID] = in.Chunks
				}
				continue
			}
			chunksOf[d.ID] = in.Chunks
			ids, titles, formats, sizes = append(ids, d.ID), append(titles, d.Title), append(formats, d.Format), append(sizes, d.Bytes)
			counts = append(counts, len(in.Chunks))
		}
		// A version several files hold keeps the chunk count of the file that brought its chunks.
		for i, id := range ids {
			counts[i] = len(chunksOf[id])
		}
		inserted, err := collect(ctx, tx, `INSERT INTO knowledge_documents (id, title, format, bytes, chunks, created_at)
			SELECT u.id, u.title, u.format, u.bytes, u.chunks, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::int[])
				AS u(id, title, format, bytes, chunks)
			ORDER BY u.id -- batches written at once lock shared versions in one order
			ON CONFLICT (id) DO NOTHING RETURNING id`, ids, titles, formats, sizes, counts, now)
		if err != nil {
			return err
		}
		var rows [][]any
		for _, id := range inserted {
			cs := chunksOf[id]
			if len(cs) == 0 {
				return domain.ErrDocumentGone
			}
			for _, c := range cs {
				rows = append(rows, []any{id, c.Ordinal, strings.Join(c.Headings, "\n"), c.Text, c.Tokens, vector.Encode(c.Embedding), c.EmbeddingModel})
			}
		}
		if len(rows) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"knowledge_chunks"},
				[]string{"document_id", "ordinal", "headings", "body", "tokens", "embedding", "embedding_model"}, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
		}

		b := &pgx.Batch{}
		for i, in := range files {
			f := in.File
			if last[[2]string{f.SourceID, f.Path}] != i {
				continue
			}
			var docID *string
			if in.Document != nil {
				docID = &in.Document.ID
			}
			b.Queue(`INSERT INTO knowledge_files (source_id, path, size, mod_time, etag, hash, document_id, status, reason, error, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
				ON CONFLICT (source_id, path) DO UPDATE SET size = excluded.size, mod_time = excluded.mod_time, etag = excluded.etag,
					hash = excluded.hash, document_id = excluded.document_id, status = excluded.status, reason = excluded.reason,
					error = excluded.error, updated_at = excluded.updated_at`,
				f.SourceID, f.Path, f.Size, nullTime(f.ModTime), f.ETag, f.Hash, docID, f.Status, f.Reason, f.Error, now)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return dropOrphans(ctx, tx, replaced)
	})
}

func (db *DB) TouchFile(ctx context.Context, sourceID, path string, modTime time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE knowledge_files SET mod_time = $1 WHERE source_id = $2 AND path = $3`, nullTime(modTime), sourceID, path)
	return mapErr(err, "touch knowledge file")
}

func (db *DB) RemoveFiles(ctx context.Context, sourceID string, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	return db.tx(ctx, "remove knowledge files", func(tx pgx.Tx) error {
		docs, err := collect(ctx, tx, `DELETE FROM knowledge_files WHERE source_id = $1 AND path = ANY($2) RETURNING COALESCE(document_id, '')`, sourceID, paths)
		if err != nil {
			return err
		}
		return dropOrphans(ctx, tx, docs)
	})
}

func (db *DB) Documents(ctx context.Context, sourceID string, limit, offset int) ([]domain.KnowledgeDocument, error) {
	rows, err := db.pool.Query(ctx, `SELECT d.id, d.title, d.format, d.bytes, d.chunks, d.created_at FROM knowledge_documents d
		WHERE $1 = '' OR EXISTS (SELECT 1 FROM knowledge_files f WHERE f.document_id = d.id AND f.source_id = $1)
		ORDER BY d.title, d.id LIMIT $2 OFFSET $3`, sourceID, limit, offset)
	if err != nil {
		return nil, mapErr(err, "list knowledge documents")
	}
	defer rows.Close()
	out := []domain.KnowledgeDocument{}
	for rows.Next() {
		var d domain.KnowledgeDocument
		if err := rows.Scan(&d.ID, &d.Title, &d.Format, &d.Bytes, &d.Chunks, &d.CreatedAt); err != nil {
			return nil, mapErr(err, "list knowledge documents")
		}
		d.CreatedAt = d.CreatedAt.UTC()
		out = append(out, d)
	}
	return out, mapErr(rows.Err(), "list knowledge documents")
}

// visibleFile is the first file holding the chunk's document in a source the
// caller may see ($2): where a hit is cited from.
const visibleFile = `LEFT JOIN LATERAL (SELECT f.source_id, s.visibility, f.path FROM knowledge_files f
		JOIN knowledge_sources s ON s.id = f.source_id
		WHERE f.document_id = c.document_id AND s.visibility = ANY($2)
		ORDER BY s.visibility = 'everyone', f.source_id, f.path LIMIT 1) loc ON true`

// SearchChunks ranks by ts_rank_cd over the GIN-indexed tsvector (headings
// weigh more than the body), then writes snippets for the top hits only.
// Words held by many passages give way to rarer ones (see
// domain.CommonTermPassages). When the words kept are expected in few
// enough passages (searchBounds), every passage holding one is ranked;
// otherwise the newest passages holding one are, found by intersecting the
// text index with the id range (BRIN) that should hold about the number
// wanted.
func (db *DB) SearchChunks(ctx context.Context, query string, visibilities []string, limit int) ([]domain.ChunkHit, error) {
	terms := domain.SearchTerms(query)
	if len(terms) == 0 || len(visibilities) == 0 {
		return []domain.ChunkHit{}, nil
	}
	plan, err := db.planSearch(ctx, terms)
	if err != nil {
		return nil, err
	}
	if len(plan.terms) == 0 {
		return []domain.ChunkHit{}, nil
	}
	tsq := strings.Join(plan.terms, " | ")
	filter := ``
	if !domain.AllVisibilities(visibilities) {
		filter = `AND EXISTS (SELECT 1 FROM knowledge_files f JOIN knowledge_sources s ON s.id = f.source_id
			WHERE f.document_id = c.document_id AND s.visibility = ANY($2))`
	}
	// The query text is a constant of each plan (QueryExecModeExec plans
	// with the values bound), so the planner estimates from the lexeme
	// statistics rather than guessing.
	rankAll, candidates := searchBounds(plan.passages)
	search := func(from int64) ([]domain.ChunkHit, error) {
		top := `SELECT c.id, ts_rank_cd(c.tsv, to_tsquery('english', $1)) AS rank FROM knowledge_chunks c
			WHERE c.tsv @@ to_tsquery('english', $1) AND c.id >= $4 ` + filter + ` ORDER BY rank DESC, c.id LIMIT $3`
		if from > 0 {
			top = `SELECT r.id, ts_rank_cd(r.tsv, to_tsquery('english', $1)) AS rank FROM (SELECT c.id, c.tsv FROM knowledge_chunks c
				WHERE c.tsv @@ to_tsquery('english', $1) AND c.id >= $4 ` + filter + ` ORDER BY c.id DESC LIMIT ` + strconv.Itoa(candidates) + `) r
				ORDER BY rank DESC, r.id LIMIT $3`
		}
		return db.hits(ctx, `WITH top AS (`+top+`)
			SELECT c.id, c.document_id, d.title, c.headings, c.body,
				ts_headline('english', c.body, to_tsquery('english', $1), 'StartSel=[[, StopSel=]], MaxWords=40, MinWords=15, MaxFragments=2, FragmentDelimiter=" … "'),
				top.rank, loc.source_id, loc.visibility, loc.path
			FROM top JOIN knowledge_chunks c ON c.id = top.id JOIN knowledge_documents d ON d.id = c.document_id
			`+visibleFile+`
			ORDER BY top.rank DESC, c.id`, tsq, visibilities, limit, from)
	}
	if plan.expected <= rankAll {
		return search(0)
	}
	var maxID int64
	if err := db.pool.QueryRow(ctx, `SELECT COALESCE(max(id), 0) FROM knowledge_chunks`).Scan(&maxID); err != nil {
		return nil, mapErr(err, "search knowledge")
	}
	// The statistics are estimates: widen the window while it finds too
	// few passages, and rank every match when the widest one does.
	window := int64(plan.passages * float64(candidates) / plan.expected)
	for range 3 {
		from := maxID - window
		if from <= 0 {
			break
		}
		hits, err := search(from)
		if err != nil || len(hits) >= limit {
			return hits, err
		}
		window *= 8
	}
	return search(0)
}

// searchBounds are how many passages the words kept may be expected in for
// all of them to be ranked (rankAll), and how many of the newest matching
// passages are ranked when there are more (candidates). Ranking reads each
// passage's row: cheap while the table fits in memory, about 20 µs a row
// from the page cache once it is large, so large indexes rank fewer.
func searchBounds(passages float64) (rankAll float64, candidates int) {
	if passages > largeIndex {
		return 500, 100
	}
	return domain.CommonTermPassages, domain.CommonTermCandidates
}

// largeIndex is where the knowledge base counts as large (about 500 MB of
// passages and their text index).
const largeIndex = 250_000

// searchPlan is what the statistics say about a query's terms.
type searchPlan struct {
	terms    []string // the rare terms, or the common ones when none is rare
	expected float64  // passages expected to hold one of terms
	passages float64  // passages in all
}

// termStats caches the planner's statistics of the most common lexemes in
// the passages, refreshed every few seconds: counting a word's passages
// at search time would read a heap page for each.
type termStats struct {
	mu       sync.Mutex
	at       time.Time
	passage  map[string]float64 // lexeme → estimated passages holding it
	passages float64            // passages in all
}

// planSearch tells the query's rare terms from its common ones (those in
// more than domain.CommonTermPassages passages, by the statistics), drops
// terms the text search configuration ignores, and estimates how many
// passages hold the terms it keeps. A lexeme missing from the statistics
// is rarer than those in them: it counts as half the least common one.
func (db *DB) planSearch(ctx context.Context, terms []string) (searchPlan, error) {
	stats, passages, err := db.lexemeCounts(ctx)
	if err != nil {
		return searchPlan{}, err
	}
	least := 0.0
	for _, n := range stats {
		if least == 0 || n < least {
			least = n
		}
	}
	rows, err := db.pool.Query(ctx, `SELECT t, COALESCE((tsvector_to_array(to_tsvector('english', t)))[1], '')
		FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i) ORDER BY i`, terms)
	if err != nil {
		return searchPlan{}, mapErr(err, "search knowledge")
	}
	defer rows.Close()
	var rare, common searchPlan
	for rows.Next() {
		var t, lexeme string
		if err := rows.Scan(&t, &lexeme); err != nil {
			return searchPlan{}, mapErr(err, "search knowledge")
		}
		if lexeme == "" {
			continue
		}
		n, known := stats[lexeme]
		if !known {
			n = least / 2
		}
		p := &rare
		if n > domain.CommonTermPassages {
			p = &common
		}
		p.terms = append(p.terms, t)
		p.expected += n
	}
	if err := rows.Err(); err != nil {
		return searchPlan{}, mapErr(err, "search knowledge")
	}
	plan := rare
	if len(plan.terms) == 0 {
		plan = common
	}
	plan.passages = passages
	return plan, nil
}

func (db *DB) lexemeCounts(ctx context.Context) (map[string]float64, float64, error) {
	db.terms.mu.Lock()
	defer db.terms.mu.Unlock()
	// Statistics change as autovacuum analyzes the table; read them again
	// every ten seconds, and every second while there are none yet.
	ttl := 10 * time.Second
	if len(db.terms.passage) == 0 {
		ttl = time.Second
	}
	if db.terms.passage != nil && time.Since(db.terms.at) < ttl {
		return db.terms.passage, db.terms.passages, nil
	}
	counts := map[string]float64{}
	var elems []string
	var freqs []float64
	var rows float64
	err := db.pool.QueryRow(ctx, `SELECT COALESCE(s.most_common_elems::text::text[], '{}'), COALESCE(s.most_common_elem_freqs, '{}'),
			GREATEST(c.reltuples, 0)::float8
		FROM pg_class c LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = 'knowledge_chunks' AND s.attname = 'tsv'
		WHERE c.oid = 'knowledge_chunks'::regclass`).Scan(&elems, &freqs, &rows)
	if err != nil {
		return nil, 0, mapErr(err, "read text search statistics")
	}
	for i, e := range elems {
		if i < len(freqs) {
			counts[e] = freqs[i] * rows
		}
	}
	db.terms.passage, db.terms.passages, db.terms.at = counts, rows, time.Now()
	return counts, rows, nil
}

func (db *DB) ChunksByID(ctx context.Context, ids []int64, visibilities []string) ([]domain.ChunkHit, error) {
	if len(ids) == 0 || len(visibilities) == 0 {
		return []domain.ChunkHit{}, nil
	}
	return db.hits(ctx, `SELECT c.id, c.document_id, d.title, c.headings, c.body, '', 0::float8, loc.source_id, loc.visibility, loc.path
		FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id `+visibleFile+`
		WHERE c.id = ANY($1)`, ids, visibilities)
}

func (db *DB) hits(ctx context.Context, query string, args ...any) ([]domain.ChunkHit, error) {
	rows, err := db.pool.Query(ctx, query, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, mapErr(err, "search knowledge")
	}
	defer rows.Close()
	out := []domain.ChunkHit{}
	for rows.Next() {
		var h domain.ChunkHit
		var headings string
		var source, visibility, path *string
		var rank float64
		if err := rows.Scan(&h.ChunkID, &h.DocumentID, &h.Title, &headings, &h.Text, &h.Snippet, &rank, &source, &visibility, &path); err != nil {
			return nil, mapErr(err, "search knowledge")
		}
		if source == nil { // no file the caller may see holds it
			continue
		}
		h.Rank = rank
		h.Headings = []string{}
		if headings != "" {
			h.Headings = strings.Split(headings, "\n")
		}
		h.SourceID, h.Visibility, h.Path = *source, *visibility, *path
		out = append(out, h)
	}
	return out, mapErr(rows.Err(), "search knowledge")
}

func (db *DB) ChunkVectors(ctx context.Context, model string, fn func(domain.ChunkVector) error) error {
	rows, err := db.pool.Query(ctx, `SELECT id, embedding FROM knowledge_chunks WHERE embedding IS NOT NULL AND embedding_model = $1`, model)
	if err != nil {
		return mapErr(err, "read chunk vectors")
	}
	defer rows.Close()
	for rows.Next() {
		var v domain.ChunkVector
		var raw []byte
		if err := rows.Scan(&v.ChunkID, &raw); err != nil {
			return mapErr(err, "read chunk vectors")
		}
		if v.Vector, err = vector.Decode(raw); err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return mapErr(rows.Err(), "read chunk vectors")
}
