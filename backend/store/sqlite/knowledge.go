package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/vector"
)

const sourceColumns = `id, kind, path, bucket, prefix, visibility, created_by, created_at, last_scan_at, last_error, scan_requests`

func scanSource(row interface{ Scan(...any) error }) (*domain.KnowledgeSource, error) {
	var s domain.KnowledgeSource
	var created, scanned string
	if err := row.Scan(&s.ID, &s.Kind, &s.Path, &s.Bucket, &s.Prefix, &s.Visibility, &s.CreatedBy, &created, &scanned, &s.LastError, &s.ScanRequests); err != nil {
		return nil, err
	}
	var err error
	if s.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if s.LastScanAt, err = parseTime(scanned); err != nil {
		return nil, err
	}
	return &s, nil
}

func (db *DB) CreateSource(ctx context.Context, s *domain.KnowledgeSource) error {
	if s.ID == "" {
		s.ID = newID()
	}
	_, err := db.writer.ExecContext(ctx, `INSERT INTO knowledge_sources (id, kind, path, bucket, prefix, visibility, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, s.Kind, s.Path, s.Bucket, s.Prefix, s.Visibility, s.CreatedBy, fmtTime(s.CreatedAt))
	if isCode(err, 2067) /* SQLITE_CONSTRAINT_UNIQUE */ {
		return domain.Errorf(domain.ECONFLICT, "This knowledge source already exists: %s.", s.Location())
	}
	return mapErr(err, "create knowledge source")
}

func (db *DB) Source(ctx context.Context, id string) (*domain.KnowledgeSource, error) {
	s, err := scanSource(db.reader.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM knowledge_sources WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such knowledge source.")
	}
	return s, mapErr(err, "read knowledge source")
}

func (db *DB) Sources(ctx context.Context) ([]domain.KnowledgeSource, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+sourceColumns+` FROM knowledge_sources ORDER BY created_at, id`)
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
	return mapErr(db.tx(ctx, func(tx *sql.Tx) error {
		docs, err := fileDocuments(ctx, tx, `SELECT DISTINCT document_id FROM knowledge_files WHERE source_id = ? AND document_id IS NOT NULL`, id)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM knowledge_sources WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return domain.Errorf(domain.ENOTFOUND, "No such knowledge source.")
		}
		return dropOrphans(ctx, tx, docs)
	}), "delete knowledge source")
}

func (db *DB) SetSourceScan(ctx context.Context, id string, at time.Time, scanErr string) error {
	_, err := db.writer.ExecContext(ctx, `UPDATE knowledge_sources SET last_scan_at = ?, last_error = ? WHERE id = ?`, fmtTime(at), scanErr, id)
	return mapErr(err, "record knowledge scan")
}

func (db *DB) RequestSourceScan(ctx context.Context, id string) error {
	res, err := db.writer.ExecContext(ctx, `UPDATE knowledge_sources SET scan_requests = scan_requests + 1 WHERE id = ?`, id)
	if err != nil {
		return mapErr(err, "ask for a knowledge scan")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return domain.Errorf(domain.ENOTFOUND, "No such knowledge source.")
	}
	return nil
}

func (db *DB) SourceCounts(ctx context.Context, id string) (domain.SourceCounts, error) {
	var c domain.SourceCounts
	err := db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FILTER (WHERE status = 'indexed'), COUNT(*) FILTER (WHERE status = 'failed')
		FROM knowledge_files WHERE source_id = ?`, id).Scan(&c.Indexed, &c.Failed)
	return c, mapErr(err, "count knowledge files")
}

const fileColumns = `source_id, path, size, mod_time, etag, hash, COALESCE(document_id, ''), status, reason, error, updated_at`

func (db *DB) queryFiles(ctx context.Context, query string, args ...any) ([]domain.KnowledgeFile, error) {
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err, "list knowledge files")
	}
	defer rows.Close()
	out := []domain.KnowledgeFile{}
	for rows.Next() {
		var f domain.KnowledgeFile
		var mod, updated string
		if err := rows.Scan(&f.SourceID, &f.Path, &f.Size, &mod, &f.ETag, &f.Hash, &f.DocumentID, &f.Status, &f.Reason, &f.Error, &updated); err != nil {
			return nil, mapErr(err, "list knowledge files")
		}
		if f.ModTime, err = parseTime(mod); err != nil {
			return nil, err
		}
		if f.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, mapErr(rows.Err(), "list knowledge files")
}

func (db *DB) Files(ctx context.Context, sourceID string) ([]domain.KnowledgeFile, error) {
	return db.queryFiles(ctx, `SELECT `+fileColumns+` FROM knowledge_files WHERE source_id = ? ORDER BY path`, sourceID)
}

func (db *DB) FailedFiles(ctx context.Context, sourceID string, limit int) ([]domain.KnowledgeFile, error) {
	return db.queryFiles(ctx, `SELECT `+fileColumns+` FROM knowledge_files WHERE source_id = ? AND status = 'failed'
		ORDER BY updated_at DESC, path LIMIT ?`, sourceID, limit)
}

func (db *DB) HasDocument(ctx context.Context, id string) (bool, error) {
	var n int
	err := db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM knowledge_documents WHERE id = ?`, id).Scan(&n)
	return n > 0, mapErr(err, "find knowledge document")
}

// fileDocuments collects the document ids a query returns: the versions a
// change may leave without any file.
func fileDocuments(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// dropOrphans removes those of docs that no file points at any more, chunks
// first so the full-text index follows.
func dropOrphans(ctx context.Context, tx *sql.Tx, docs []string) error {
	for _, id := range docs {
		var held int
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM knowledge_files WHERE document_id = ?)`, id).Scan(&held); err != nil {
			return err
		}
		if held != 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM knowledge_chunks WHERE document_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM knowledge_documents WHERE id = ?`, id); err != nil {
			return err
		}
	}
	return nil
}

// IndexFiles writes the rows of documents and files first and the chunks
// last, in few statements: FTS5 flushes its pending index data to disk at
// the start of every statement once it has been written in a transaction.
func (db *DB) IndexFiles(ctx context.Context, files []domain.IndexedFile) error {
	if len(files) == 0 {
		return nil
	}
	now := fmtTime(time.Now())
	return mapErr(db.tx(ctx, func(tx *sql.Tx) error {
		var replaced []string
		var chunks []any // rows of chunkColumns values
		for _, in := range files {
			f := in.File
			prev, err := fileDocuments(ctx, tx, `SELECT document_id FROM knowledge_files WHERE source_id = ? AND path = ? AND document_id IS NOT NULL`, f.SourceID, f.Path)
			if err != nil {
				return err
			}
			replaced = append(replaced, prev...)
			var docID any
			if d := in.Document; d != nil {
				docID = d.ID
				res, err := tx.ExecContext(ctx, `INSERT INTO knowledge_documents (id, title, format, bytes, chunks, created_at)
					VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, d.ID, d.Title, d.Format, d.Bytes, len(in.Chunks), now)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 1 {
					if len(in.Chunks) == 0 {
						return domain.ErrDocumentGone
					}
					for _, c := range in.Chunks {
						chunks = append(chunks, d.ID, c.Ordinal, strings.Join(c.Headings, "\n"), c.Text, c.Tokens, vector.Encode(c.Embedding), c.EmbeddingModel)
					}
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO knowledge_files (source_id, path, size, mod_time, etag, hash, document_id, status, reason, error, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (source_id, path) DO UPDATE SET size = excluded.size, mod_time = excluded.mod_time, etag = excluded.etag,
					hash = excluded.hash, document_id = excluded.document_id, status = excluded.status, reason = excluded.reason,
					error = excluded.error, updated_at = excluded.updated_at`,
				f.SourceID, f.Path, f.Size, fmtTime(f.ModTime), f.ETag, f.Hash, docID, f.Status, f.Reason, f.Error, now); err != nil {
				return err
			}
		}
		if err := insertChunks(ctx, tx, chunks); err != nil {
			return err
		}
		return dropOrphans(ctx, tx, replaced)
	}), "index knowledge files")
}

// chunkColumns are the columns insertChunks fills, in order.
const chunkColumns = 7

// chunksPerStatement keeps a statement's variables under SQLite's limit.
const chunksPerStatement = 500

// insertChunks inserts chunk rows (chunkColumns values each) a few hundred
// per statement.
func insertChunks(ctx context.Context, tx *sql.Tx, values []any) error {
	rowSQL := "(?, ?, ?, ?, ?, ?, ?)"
	for len(values) > 0 {
		n := min(len(values)/chunkColumns, chunksPerStatement)
		q := `INSERT INTO knowledge_chunks (document_id, ordinal, headings, body, tokens, embedding, embedding_model) VALUES ` +
			strings.Repeat(rowSQL+", ", n-1) + rowSQL
		if _, err := tx.ExecContext(ctx, q, values[:n*chunkColumns]...); err != nil {
			return err
		}
		values = values[n*chunkColumns:]
	}
	return nil
}

func (db *DB) TouchFile(ctx context.Context, sourceID, path string, modTime time.Time) error {
	_, err := db.writer.ExecContext(ctx, `UPDATE knowledge_files SET mod_time = ? WHERE source_id = ? AND path = ?`, fmtTime(modTime), sourceID, path)
	return mapErr(err, "touch knowledge file")
}

func (db *DB) RemoveFiles(ctx context.Context, sourceID string, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	return mapErr(db.tx(ctx, func(tx *sql.Tx) error {
		var docs []string
		for _, p := range paths {
			prev, err := fileDocuments(ctx, tx, `DELETE FROM knowledge_files WHERE source_id = ? AND path = ? RETURNING COALESCE(document_id, '')`, sourceID, p)
			if err != nil {
				return err
			}
			docs = append(docs, prev...)
		}
		return dropOrphans(ctx, tx, docs)
	}), "remove knowledge files")
}

func (db *DB) Documents(ctx context.Context, sourceID string, limit, offset int) ([]domain.KnowledgeDocument, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT d.id, d.title, d.format, d.bytes, d.chunks, d.created_at FROM knowledge_documents d
		WHERE ? = '' OR EXISTS (SELECT 1 FROM knowledge_files f WHERE f.document_id = d.id AND f.source_id = ?)
		ORDER BY d.title, d.id LIMIT ? OFFSET ?`, sourceID, sourceID, limit, offset)
	if err != nil {
		return nil, mapErr(err, "list knowledge documents")
	}
	defer rows.Close()
	out := []domain.KnowledgeDocument{}
	for rows.Next() {
		var d domain.KnowledgeDocument
		var created string
		if err := rows.Scan(&d.ID, &d.Title, &d.Format, &d.Bytes, &d.Chunks, &created); err != nil {
			return nil, mapErr(err, "list knowledge documents")
		}
		if d.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, mapErr(rows.Err(), "list knowledge documents")
}

// visibleFile is the first file holding a document in a source the caller
// may see: where a hit is cited from. Rows without one are not returned.
const visibleFile = `(SELECT f.source_id || char(31) || s.visibility || char(31) || f.path FROM knowledge_files f
	JOIN knowledge_sources s ON s.id = f.source_id
	WHERE f.document_id = c.document_id AND s.visibility IN (SELECT value FROM json_each(?))
	ORDER BY s.visibility = 'everyone', f.source_id, f.path LIMIT 1)`

// SearchChunks ranks in two steps: BM25 over every match picks the top ids
// (within the visibilities), then only those get a snippet and a location,
// which would cost far more if computed for every match.
func (db *DB) SearchChunks(ctx context.Context, query string, visibilities []string, limit int) ([]domain.ChunkHit, error) {
	terms := domain.SearchTerms(query)
	if len(terms) == 0 || len(visibilities) == 0 {
		return []domain.ChunkHit{}, nil
	}
	rare, common, err := db.searchPlan(ctx, terms)
	if err != nil || len(rare)+len(common) == 0 {
		return []domain.ChunkHit{}, err
	}
	vis := jsonList(visibilities)
	if len(rare) == 0 {
		return db.searchCommon(ctx, common, visibilities, limit)
	}
	match := `"` + strings.Join(rare, `" OR "`) + `"`
	top, err := db.rankBM25(ctx, match, visibilities, limit)
	if err != nil {
		return nil, err
	}
	out := make([]domain.ChunkHit, 0, len(top))
	for _, r := range top {
		hs, err := db.hits(ctx, `SELECT c.id, c.document_id, d.title, c.headings, c.body,
				snippet(knowledge_fts, 1, '[[', ']]', '…', 24), 0.0, `+visibleFile+` AS loc
			FROM knowledge_fts JOIN knowledge_chunks c ON c.id = knowledge_fts.rowid JOIN knowledge_documents d ON d.id = c.document_id
			WHERE knowledge_fts MATCH ? AND knowledge_fts.rowid = ?`, vis, match, r.id)
		if err != nil {
			return nil, err
		}
		for _, h := range hs { // none when the chunk went between the two steps
			h.Rank = r.score
			out = append(out, h)
		}
	}
	return out, nil
}

// searchPlan splits the query's terms by how many passages hold them (see
// domain.CommonTermPassages), dropping those no passage holds.
func (db *DB) searchPlan(ctx context.Context, terms []string) (rare, common []string, err error) {
	for _, t := range terms {
		n, err := db.countMatches(ctx, `"`+t+`"`, domain.CommonTermPassages+1)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case n == 0:
		case n <= domain.CommonTermPassages:
			rare = append(rare, t)
		default:
			common = append(common, t)
		}
	}
	return rare, common, nil
}

// countMatches counts the passages matching an FTS5 expression, stopping
// at most.
func (db *DB) countMatches(ctx context.Context, match string, most int) (int, error) {
	var n int
	err := db.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT rowid FROM knowledge_fts WHERE knowledge_fts MATCH ? LIMIT ?)`, match, most).Scan(&n)
	return n, mapErr(err, "search knowledge")
}

// searchCommon answers a query of common terms only: the passages ranked
// in Go, with snippets made here too, since FTS5 would read the terms' long
// position lists again for each.
func (db *DB) searchCommon(ctx context.Context, terms []string, visibilities []string, limit int) ([]domain.ChunkHit, error) {
	match := `"` + strings.Join(terms, `" OR "`) + `"`
	top, err := db.rankRecent(ctx, match, terms, visibilities, limit)
	if err != nil || len(top) == 0 {
		return []domain.ChunkHit{}, err
	}
	ids := make([]int64, len(top))
	for i, r := range top {
		ids[i] = r.id
	}
	hs, err := db.ChunksByID(ctx, ids, visibilities)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]domain.ChunkHit, len(hs))
	for _, h := range hs {
		byID[h.ChunkID] = h
	}
	out := make([]domain.ChunkHit, 0, len(top))
	for _, r := range top {
		if h, ok := byID[r.id]; ok {
			h.Rank, h.Snippet = r.score, highlight(h.Text, terms)
			out = append(out, h)
		}
	}
	return out, nil
}

type ranked struct {
	id    int64
	score float64 // higher is better
}

// visibleChunk keeps the passages of documents in a source of one of the
// visibilities; it reads the FTS rowid as m.rowid.
const visibleChunk = ` EXISTS (SELECT 1 FROM knowledge_chunks c
	JOIN knowledge_files f ON f.document_id = c.document_id JOIN knowledge_sources s ON s.id = f.source_id
	WHERE c.id = m.rowid AND s.visibility IN (SELECT value FROM json_each(?)))`

// rankBM25 ranks every passage matching match by FTS5's BM25, a match in
// the heading path counting twice one in the body.
func (db *DB) rankBM25(ctx context.Context, match string, visibilities []string, limit int) ([]ranked, error) {
	q := `SELECT rowid, -bm25(knowledge_fts, 2.0, 1.0) AS score FROM knowledge_fts WHERE knowledge_fts MATCH ?`
	args := []any{match}
	if !domain.AllVisibilities(visibilities) {
		q = `SELECT m.rowid, m.score FROM (` + q + `) m WHERE` + visibleChunk
		args = append(args, jsonList(visibilities))
	}
	return db.ranked(ctx, q+` ORDER BY score DESC LIMIT ?`, append(args, limit)...)
}

// rankRecent ranks the most recent passages matching common terms. FTS5's
// BM25 would first count every passage holding each term, which for common
// terms means reading most of the index; these passages are scored here
// instead, by BM25 with every term weighing alike (their inverse document
// frequencies are all low and close).
func (db *DB) rankRecent(ctx context.Context, match string, terms []string, visibilities []string, limit int) ([]ranked, error) {
	// Newest first, stopping at the candidates wanted: FTS5 walks its lists
	// backwards and the visibility check runs only on the rows walked.
	q := `SELECT rowid FROM knowledge_fts WHERE knowledge_fts MATCH ? ORDER BY rowid DESC`
	args := []any{match}
	if !domain.AllVisibilities(visibilities) {
		q = `SELECT m.rowid FROM (` + q + `) m WHERE` + visibleChunk
		args = append(args, jsonList(visibilities))
	}
	var ids []int64
	rows, err := db.reader.QueryContext(ctx, q+` LIMIT ?`, append(args, domain.CommonTermCandidates)...)
	if err != nil {
		return nil, mapErr(err, "search knowledge")
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, mapErr(err, "search knowledge")
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "search knowledge")
	}
	rows, err = db.reader.QueryContext(ctx, `SELECT c.id, c.headings, c.body FROM knowledge_chunks c WHERE c.id IN (SELECT value FROM json_each(?))`, jsonInts(ids))
	if err != nil {
		return nil, mapErr(err, "search knowledge")
	}
	defer rows.Close()
	var cands []scoredText
	for rows.Next() {
		var c scoredText
		if err := rows.Scan(&c.id, &c.headings, &c.body); err != nil {
			return nil, mapErr(err, "search knowledge")
		}
		cands = append(cands, c)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "search knowledge")
	}
	return rankByTerms(cands, terms, limit), nil
}

func (db *DB) ranked(ctx context.Context, q string, args ...any) ([]ranked, error) {
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "search knowledge")
	}
	defer rows.Close()
	var top []ranked
	for rows.Next() {
		var r ranked
		if err := rows.Scan(&r.id, &r.score); err != nil {
			return nil, mapErr(err, "search knowledge")
		}
		top = append(top, r)
	}
	return top, mapErr(rows.Err(), "search knowledge")
}

func (db *DB) ChunksByID(ctx context.Context, ids []int64, visibilities []string) ([]domain.ChunkHit, error) {
	if len(ids) == 0 || len(visibilities) == 0 {
		return []domain.ChunkHit{}, nil
	}
	return db.hits(ctx, `SELECT * FROM (SELECT c.id, c.document_id, d.title, c.headings, c.body, '', 0.0, `+visibleFile+` AS loc
		FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id
		WHERE c.id IN (SELECT value FROM json_each(?))) WHERE loc IS NOT NULL`, jsonList(visibilities), jsonInts(ids))
}

func (db *DB) hits(ctx context.Context, query string, args ...any) ([]domain.ChunkHit, error) {
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err, "search knowledge")
	}
	defer rows.Close()
	out := []domain.ChunkHit{}
	for rows.Next() {
		var h domain.ChunkHit
		var headings string
		var loc sql.NullString
		if err := rows.Scan(&h.ChunkID, &h.DocumentID, &h.Title, &headings, &h.Text, &h.Snippet, &h.Rank, &loc); err != nil {
			return nil, mapErr(err, "search knowledge")
		}
		if !loc.Valid { // no file the caller may see holds it
			continue
		}
		h.Headings = splitHeadings(headings)
		parts := strings.SplitN(loc.String, "\x1f", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("search knowledge: malformed location %q", loc.String)
		}
		h.SourceID, h.Visibility, h.Path = parts[0], parts[1], parts[2]
		out = append(out, h)
	}
	return out, mapErr(rows.Err(), "search knowledge")
}

func (db *DB) ChunkVectors(ctx context.Context, model string, fn func(domain.ChunkVector) error) error {
	rows, err := db.reader.QueryContext(ctx, `SELECT id, embedding FROM knowledge_chunks WHERE embedding IS NOT NULL AND embedding_model = ?`, model)
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

func splitHeadings(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

func jsonList(vs []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", v)
	}
	b.WriteByte(']')
	return b.String()
}

func jsonInts(vs []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d", v)
	}
	b.WriteByte(']')
	return b.String()
}
