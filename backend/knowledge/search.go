package knowledge

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// Embedder turns texts into vectors. OpenAI and Bedrock Titan implement it;
// any other provider can.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Model names the model; vectors of different models are never compared.
	Model() string
}

// embeddingText is what is embedded for a chunk: its heading path gives the
// passage its context.
func embeddingText(headings []string, text string) string {
	if len(headings) == 0 {
		return text
	}
	return strings.Join(headings, " > ") + "\n\n" + text
}

// Result is one search result.
type Result struct {
	DocumentID string   `json:"document_id"`
	ChunkID    int64    `json:"chunk_id"`
	Title      string   `json:"title"`
	Heading    string   `json:"heading"`  // the heading path, joined with " › "
	Headings   []string `json:"headings"` // the heading path
	Source     string   `json:"source"`   // the file's path in its folder, or its S3 key
	SourceID   string   `json:"source_id"`
	Snippet    string   `json:"snippet"` // matched words between [[ and ]]
	Text       string   `json:"text"`    // the whole passage
	Score      float64  `json:"score"`   // fused reciprocal rank, higher is better
}

// MaxResults bounds one search.
const MaxResults = 50

// rrfK is the constant of reciprocal-rank fusion: a result's score is the
// sum over the rankings it appears in of 1/(k + rank).
const rrfK = 60

// Search finds the passages that best answer q among the sources the
// caller's role may see: full-text (BM25) ranking, fused by reciprocal rank
// with vector similarity when an embedding provider is configured.
func (s *Service) Search(ctx context.Context, q string, limit int) ([]Result, error) {
	p := domain.PrincipalFrom(ctx)
	if err := s.access.Authorize(ctx, policy.Read, policy.Resource{Type: policy.Knowledge}); err != nil {
		return nil, err
	}
	if strings.TrimSpace(q) == "" {
		return nil, domain.Invalid("q", "q must say what to look for.")
	}
	if len(q) > 2000 {
		return nil, domain.Invalid("q", "q is longer than 2,000 characters; ask a shorter question.")
	}
	if limit <= 0 {
		limit = 10
	}
	limit = min(limit, MaxResults)
	return s.search(ctx, q, domain.VisibilitiesFor(p.Role), limit)
}

func (s *Service) search(ctx context.Context, q string, vis []string, limit int) ([]Result, error) {
	depth := max(limit*3, 20) // each ranking looks deeper than it returns, so fusion has something to work with
	text, err := s.store.SearchChunks(ctx, q, vis, depth)
	if err != nil {
		return nil, err
	}
	lists := [][]domain.ChunkHit{text}
	if s.embedder != nil {
		vec, err := s.vectorHits(ctx, q, vis, depth)
		if err != nil {
			// The provider is down: full-text results still answer.
			s.logger.Warn("knowledge: vector search unavailable; full-text results only", "err", err)
		} else {
			lists = append(lists, vec)
		}
	}
	return fuse(lists, limit), nil
}

// fuse merges rankings by reciprocal rank. A chunk keeps the first snippet
// it was given (full-text ranking comes first and has highlights).
func fuse(lists [][]domain.ChunkHit, limit int) []Result {
	byID := map[int64]*Result{}
	var order []*Result
	for _, list := range lists {
		for rank, h := range list {
			r := byID[h.ChunkID]
			if r == nil {
				r = &Result{DocumentID: h.DocumentID, ChunkID: h.ChunkID, Title: h.Title, Headings: h.Headings,
					Heading: strings.Join(h.Headings, " › "), Source: h.Path, SourceID: h.SourceID, Snippet: h.Snippet, Text: h.Text}
				if r.Snippet == "" {
					r.Snippet = leadingWords(h.Text, 40)
				}
				byID[h.ChunkID] = r
				order = append(order, r)
			}
			r.Score += 1.0 / float64(rrfK+rank+1)
		}
	}
	slices.SortStableFunc(order, func(a, b *Result) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	out := make([]Result, 0, min(limit, len(order)))
	for _, r := range order[:min(limit, len(order))] {
		out = append(out, *r)
	}
	return out
}

func leadingWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) <= n {
		return strings.Join(f, " ")
	}
	return strings.Join(f[:n], " ") + " …"
}

// vectorHits ranks chunks by cosine similarity to the query's embedding.
func (s *Service) vectorHits(ctx context.Context, q string, vis []string, depth int) ([]domain.ChunkHit, error) {
	qv, err := s.embedder.Embed(ctx, []string{q})
	if err != nil {
		return nil, err
	}
	if len(qv) != 1 {
		return nil, domain.Errorf(domain.EUNAVAILABLE, "The embedding provider returned no vector.")
	}
	ids, err := s.vectors.nearest(ctx, s.store, s.embedder.Model(), qv[0], depth*2)
	if err != nil {
		return nil, err
	}
	hits, err := s.store.ChunksByID(ctx, ids, vis)
	if err != nil {
		return nil, err
	}
	pos := make(map[int64]int, len(ids))
	for i, id := range ids {
		pos[id] = i
	}
	slices.SortFunc(hits, func(a, b domain.ChunkHit) int { return pos[a.ChunkID] - pos[b.ChunkID] })
	return hits[:min(depth, len(hits))], nil
}

// vectorIndex holds every stored embedding of one model in memory,
// normalised, loaded on first use and again after the index changes.
type vectorIndex struct {
	mu    sync.Mutex
	model string
	stale bool
	ids   []int64
	vecs  [][]float32
}

func (v *vectorIndex) invalidate() {
	v.mu.Lock()
	v.stale = true
	v.mu.Unlock()
}

func (v *vectorIndex) nearest(ctx context.Context, store Store, model string, q []float32, k int) ([]int64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.model != model || v.stale || v.ids == nil {
		ids, vecs := []int64{}, [][]float32{}
		err := store.ChunkVectors(ctx, model, func(c domain.ChunkVector) error {
			ids, vecs = append(ids, c.ChunkID), append(vecs, normalize(c.Vector))
			return nil
		})
		if err != nil {
			return nil, err
		}
		v.model, v.stale, v.ids, v.vecs = model, false, ids, vecs
	}
	q = normalize(q)
	type scored struct {
		id  int64
		sim float32
	}
	best := make([]scored, 0, k+1)
	for i, vec := range v.vecs {
		if len(vec) != len(q) {
			continue
		}
		var dot float32
		for j := range q {
			dot += q[j] * vec[j]
		}
		// Orthogonal or opposite passages share nothing with the query.
		if dot <= 0 || len(best) == k && dot <= best[k-1].sim {
			continue
		}
		at, _ := slices.BinarySearchFunc(best, dot, func(s scored, d float32) int {
			if s.sim > d {
				return -1
			}
			return 1
		})
		best = slices.Insert(best, at, scored{v.ids[i], dot})
		if len(best) > k {
			best = best[:k]
		}
	}
	out := make([]int64, len(best))
	for i, b := range best {
		out[i] = b.id
	}
	return out, nil
}

func normalize(v []float32) []float32 {
	var sum float64
	for _, f := range v {
		sum += float64(f) * float64(f)
	}
	if sum == 0 {
		return v
	}
	n := float32(1 / math.Sqrt(sum))
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = f * n
	}
	return out
}
