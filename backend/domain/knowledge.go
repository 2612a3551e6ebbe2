package domain

import (
	"context"
	"strings"
	"time"
	"unicode"
)

// Knowledge source kinds.
const (
	SourceFolder = "folder"
	SourceS3     = "s3"
)

// Knowledge visibilities: who may see answers drawn from a source.
const (
	VisibilityStaff    = "staff"    // doctors, staff and admins
	VisibilityEveryone = "everyone" // patients too
)

// KnowledgeSource is a place the clinic's documents come from: a folder on
// this machine (recursive) or an S3 bucket and prefix.
type KnowledgeSource struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`             // folder or s3
	Path       string    `json:"path,omitempty"`   // folder: absolute path
	Bucket     string    `json:"bucket,omitempty"` // s3
	Prefix     string    `json:"prefix,omitempty"` // s3
	Visibility string    `json:"visibility"`       // staff or everyone
	CreatedBy  string    `json:"created_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastScanAt time.Time `json:"last_scan_at,omitzero"`
	// LastError is why the last scan of the whole source failed (the folder
	// is missing, the bucket refuses access); empty when it ran.
	LastError string `json:"last_error,omitempty"`
	// ScanRequests counts the full scans asked for, so that the process
	// keeping the sources learns of those asked through another.
	ScanRequests int64 `json:"-"`
}

// Location names the source for people: its folder, or s3://bucket/prefix.
func (s KnowledgeSource) Location() string {
	if s.Kind == SourceS3 {
		return "s3://" + s.Bucket + "/" + s.Prefix
	}
	return s.Path
}

// Knowledge file states.
const (
	FileIndexed = "indexed"
	FileFailed  = "failed"
)

// KnowledgeFile is one file of a source as last seen: its path (relative to
// the folder, or the S3 key), what identified its content, and the document
// version it was indexed as or why it could not be.
type KnowledgeFile struct {
	SourceID   string    `json:"source_id"`
	Path       string    `json:"path"`
	Size       int64     `json:"size"`
	ModTime    time.Time `json:"mod_time,omitzero"`
	ETag       string    `json:"etag,omitempty"` // S3 objects
	Hash       string    `json:"hash,omitempty"` // SHA-256 of the content, hex
	DocumentID string    `json:"document_id,omitempty"`
	Status     string    `json:"status"` // indexed or failed
	Reason     string    `json:"reason,omitempty"`
	Error      string    `json:"error,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// KnowledgeDocument is one version of a document's content, stored once
// whatever the number of files that hold it. Its ID is the content hash.
type KnowledgeDocument struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Format    string    `json:"format"`
	Bytes     int64     `json:"bytes"`
	Chunks    int       `json:"chunks"`
	CreatedAt time.Time `json:"created_at"`
}

// KnowledgeChunk is one passage of a document.
type KnowledgeChunk struct {
	Ordinal  int
	Headings []string
	Text     string
	Tokens   int
	// Embedding is the passage's vector when an embedding provider is
	// configured; EmbeddingModel names the model that made it.
	Embedding      []float32
	EmbeddingModel string
}

// IndexedFile is what the store writes for one file in one transaction:
// the document version (with its chunks, when the version is new) and the
// file row pointing at it. A failed file carries no document.
type IndexedFile struct {
	File     KnowledgeFile
	Document *KnowledgeDocument // nil for a failed file
	Chunks   []KnowledgeChunk   // needed only when the store lacks the document
}

// ChunkHit is one search result.
type ChunkHit struct {
	ChunkID    int64    `json:"chunk_id"`
	DocumentID string   `json:"document_id"`
	Title      string   `json:"title"`
	Headings   []string `json:"headings"`
	Text       string   `json:"text"`
	Snippet    string   `json:"snippet"` // matched terms between [[ and ]]
	Rank       float64  `json:"rank"`    // engine's relevance, higher is better
	SourceID   string   `json:"source_id"`
	Path       string   `json:"path"`
	Visibility string   `json:"visibility"`
}

// ChunkVector is a chunk's embedding, for vector search in process.
type ChunkVector struct {
	ChunkID int64
	Vector  []float32
}

// SourceCounts is what a source holds.
type SourceCounts struct {
	Indexed int `json:"indexed"`
	Failed  int `json:"failed"`
}

// KnowledgeStore keeps sources, files, document versions and their chunks.
type KnowledgeStore interface {
	CreateSource(ctx context.Context, s *KnowledgeSource) error
	Source(ctx context.Context, id string) (*KnowledgeSource, error)
	Sources(ctx context.Context) ([]KnowledgeSource, error)
	DeleteSource(ctx context.Context, id string) error
	// SetSourceScan records the end of a scan of the whole source.
	SetSourceScan(ctx context.Context, id string, at time.Time, scanErr string) error
	// RequestSourceScan asks for a full scan of a source (ScanRequests).
	RequestSourceScan(ctx context.Context, id string) error
	SourceCounts(ctx context.Context, id string) (SourceCounts, error)

	// Files lists what the store knows of a source's files, for
	// reconciliation with what is there now.
	Files(ctx context.Context, sourceID string) ([]KnowledgeFile, error)
	// FailedFiles lists a source's files that could not be indexed.
	FailedFiles(ctx context.Context, sourceID string, limit int) ([]KnowledgeFile, error)
	// HasDocument reports whether a document version is stored.
	HasDocument(ctx context.Context, id string) (bool, error)
	// IndexFiles writes files and their document versions, each file whole
	// or not at all, all in one transaction. A document version no file
	// points at any more is removed with its chunks.
	IndexFiles(ctx context.Context, files []IndexedFile) error
	// TouchFile records a new modification time for a file whose content did
	// not change.
	TouchFile(ctx context.Context, sourceID, path string, modTime time.Time) error
	// RemoveFiles forgets files (deleted from the source) and the document
	// versions no other file holds.
	RemoveFiles(ctx context.Context, sourceID string, paths []string) error
	Documents(ctx context.Context, sourceID string, limit, offset int) ([]KnowledgeDocument, error)

	// SearchChunks ranks chunks by full-text relevance to query within the
	// given visibilities; a chunk held by several files is returned once.
	SearchChunks(ctx context.Context, query string, visibilities []string, limit int) ([]ChunkHit, error)
	// ChunksByID returns chunks for hits found another way (vector search),
	// within the visibilities.
	ChunksByID(ctx context.Context, ids []int64, visibilities []string) ([]ChunkHit, error)
	// ChunkVectors streams the stored embeddings of one model.
	ChunkVectors(ctx context.Context, model string, fn func(ChunkVector) error) error
}

// CommonTermPassages is where full-text search draws the line between rare
// and common words. Ranking every passage that holds any word of a query
// costs time in proportion to the passages matched, and the words found in
// many passages weigh little in BM25 (their inverse document frequency is
// low). So both engines search for the query's rare words (in at most this
// many passages each) and leave out the common ones, unless no word is rare.
// SQLite ranks every passage holding a rare word; with common words only, the
// most recent CommonTermCandidates passages holding one. PostgreSQL ranks
// every match while the words are expected in at most CommonTermPassages
// passages together, and otherwise the most recent CommonTermCandidates
// matches (500 and 100 once the index is large, where each ranked row costs
// a read). That keeps a search's work bounded however large the index grows.
const (
	CommonTermPassages   = 1000
	CommonTermCandidates = 200
)

// maxSearchTerms bounds the terms of one query, so a pasted page cannot make
// a search scan the whole index many times over.
const maxSearchTerms = 24

// SearchTerms reduces a question to the words worth matching: letters and
// digits only (so no word can carry full-text query syntax), lower case,
// common English words dropped, each once, at most 24. Both engines build
// their full-text query from these terms, any of which may match.
func SearchTerms(q string) []string {
	var terms []string
	seen := map[string]bool{}
	word := make([]rune, 0, 32)
	flush := func() {
		if len(word) == 0 {
			return
		}
		w := string(word)
		word = word[:0]
		if len(w) > 64 || stopWords[w] || seen[w] || len(terms) >= maxSearchTerms {
			return
		}
		seen[w] = true
		terms = append(terms, w)
	}
	for _, r := range q {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			word = append(word, unicode.ToLower(r))
			continue
		}
		flush()
	}
	flush()
	return terms
}

var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about above after again against all am an and any are as at be because been
		before being below between both but by can could did do does doing down during each few for from further had has
		have having he her here hers herself him himself his how i if in into is it its itself just me more most my myself
		no nor not now of off on once only or other our ours ourselves out over own same she should so some such than that
		the their theirs them themselves then there these they this those through to too under until up very was we were
		what when where which while who whom why will with would you your yours yourself yourselves s t don`) {
		m[w] = true
	}
	return m
}()

// VisibilitiesFor is what a role may see of the knowledge base.
func VisibilitiesFor(role Role) []string {
	if role == RolePatient {
		return []string{VisibilityEveryone}
	}
	return []string{VisibilityStaff, VisibilityEveryone}
}

// AllVisibilities reports whether vs admits every source.
func AllVisibilities(vs []string) bool {
	var staff, everyone bool
	for _, v := range vs {
		staff = staff || v == VisibilityStaff
		everyone = everyone || v == VisibilityEveryone
	}
	return staff && everyone
}

// ErrDocumentGone is returned by IndexFiles when a file refers to a stored
// document version (no chunks given) that is no longer stored.
var ErrDocumentGone = &Error{Code: ECONFLICT, Message: "A document version was removed while files referring to it were written; index them again."}
