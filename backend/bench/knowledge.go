package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/store"
)

// KnowledgeResult is what the knowledge base scenario measured.
type KnowledgeResult struct {
	Engine string
	// Ingestion of generated Markdown documents from a folder.
	Docs     int
	Bytes    int64
	Ingest   time.Duration
	Indexed  int
	Failures int
	// Saved-to-searchable: from a file written in a watched folder to its
	// text being found by search.
	Saves         int
	SaveP50       time.Duration
	SaveP95       time.Duration
	SaveMax       time.Duration
	SaveTimeouts  int
	SearchScales  []SearchScale
	IngestChunks  int
	SearchQueries int
}

// SearchScale is search latency over an index of Chunks passages.
type SearchScale struct {
	Chunks        int
	Load          time.Duration // time to write the passages
	P50, P99, Max time.Duration
	Hits          float64 // mean results per query
}

// vocabulary is the words generated text is drawn from: clinic words first
// (the most frequent), then made-up ones, drawn with a Zipf distribution as
// words are in real text.
func vocabulary() []string {
	words := strings.Fields(`patient clinic doctor appointment prescription vaccine blood test result referral
		pain fever cough asthma diabetes insulin pressure heart chest breathing allergy rash infection antibiotic dose
		tablet inhaler pharmacy nurse reception phone call book cancel reschedule visit morning afternoon evening weekend
		holiday emergency ambulance hospital wound dressing injection flu covid travel child baby pregnancy screening
		smear mammogram cholesterol kidney liver thyroid skin eye ear throat back joint knee hip shoulder physiotherapy
		counselling mental anxiety depression sleep diet exercise weight smoking alcohol consent privacy record request
		form insurance billing payment invoice card parking wheelchair interpreter telehealth video portal message
		result letter certificate fitness work school repeat review annual check monitoring symptom warning urgent`)
	for i := len(words); i < 20000; i++ {
		words = append(words, fmt.Sprintf("term%dx", i))
	}
	return words
}

type textGen struct {
	words []string
	zipf  *rand.Zipf
	rng   *rand.Rand
}

func newTextGen(seed uint64) *textGen {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	words := vocabulary()
	return &textGen{words: words, rng: rng, zipf: rand.NewZipf(rng, 1.07, 2, uint64(len(words)-1))}
}

func (g *textGen) sentence(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(g.words[g.zipf.Uint64()])
	}
	b.WriteString(". ")
	return b.String()
}

// document is a Markdown document of about size bytes, with headings and
// paragraphs.
func (g *textGen) document(title string, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", title)
	for section := 1; b.Len() < size; section++ {
		fmt.Fprintf(&b, "## %s %d\n\n", strings.TrimSuffix(g.sentence(2), ". "), section)
		for p := 0; p < 3 && b.Len() < size; p++ {
			for s := 0; s < 4; s++ {
				b.WriteString(g.sentence(8 + g.rng.IntN(8)))
			}
			b.WriteString("\n\n")
		}
	}
	return b.String()
}

// BenchKnowledge measures the knowledge base on a fresh database: ingestion
// of o.KnowledgeDocs documents of about 5 KB from a folder, the time from a
// save in a watched folder to the text being searchable, and full-text
// search latency over indexes of each size in o.KnowledgeChunks.
func BenchKnowledge(ctx context.Context, e Engine, o Options) (KnowledgeResult, error) {
	o = o.withDefaults()
	res := KnowledgeResult{Engine: e.Name}
	d, err := e.fresh(ctx, o.TempDir)
	if err != nil {
		return res, err
	}
	defer d.Close(ctx)
	db, err := store.Open(ctx, d.URL, d.DataDir)
	if err != nil {
		return res, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return res, err
	}
	svc := knowledge.New(db, nil, nil, knowledge.Options{}, time.Now, o.logger())
	defer svc.Close()

	// Ingestion.
	folder := filepath.Join(d.DataDir, "documents")
	gen := newTextGen(1)
	for i := range o.KnowledgeDocs {
		text := gen.document(fmt.Sprintf("Leaflet %d", i), 5000)
		path := filepath.Join(folder, fmt.Sprintf("%02d", i%100), fmt.Sprintf("leaflet-%05d.md", i))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return res, err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return res, err
		}
		res.Bytes += int64(len(text))
	}
	res.Docs = o.KnowledgeDocs
	src, err := svc.EnsureFolder(ctx, folder, domain.VisibilityStaff)
	if err != nil {
		return res, err
	}
	start := time.Now()
	p, err := svc.IngestFolder(ctx, src, nil)
	res.Ingest = time.Since(start)
	if err != nil {
		return res, err
	}
	res.Indexed, res.Failures = p.Indexed, p.Failed
	counts, err := db.SourceCounts(ctx, src.ID)
	if err != nil {
		return res, err
	}
	if counts.Indexed != o.KnowledgeDocs {
		return res, fmt.Errorf("knowledge: %d of %d documents indexed", counts.Indexed, o.KnowledgeDocs)
	}

	// Saved-to-searchable, with the folder watched.
	if err := svc.Start(ctx); err != nil {
		return res, err
	}
	time.Sleep(500 * time.Millisecond) // the start-up reconciliation finds nothing to do
	var saves []time.Duration
	for i := range o.KnowledgeSaves {
		token := fmt.Sprintf("savedtoken%dq", i)
		text := gen.document("Saved "+token, 3000) + "\n\nThe word " + token + " marks this version.\n"
		path := filepath.Join(folder, fmt.Sprintf("%02d", i%100), fmt.Sprintf("saved-%03d.md", i))
		start := time.Now()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return res, err
		}
		found := false
		for deadline := start.Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			hits, err := db.SearchChunks(ctx, token, []string{domain.VisibilityStaff}, 1)
			if err != nil {
				return res, err
			}
			if len(hits) > 0 {
				found = true
				break
			}
		}
		if !found {
			res.SaveTimeouts++
			continue
		}
		saves = append(saves, time.Since(start))
		time.Sleep(50 * time.Millisecond) // saves a person makes, not a burst
	}
	svc.Close()
	slices.Sort(saves)
	res.Saves = len(saves)
	res.SaveP50, res.SaveP95 = percentile(saves, 0.50), percentile(saves, 0.95)
	if len(saves) > 0 {
		res.SaveMax = saves[len(saves)-1]
	}

	// Search latency at each scale, on a store grown to it: the ingested
	// documents' passages count towards the first scale.
	loaded := 0
	for offset := 0; ; offset += 500 {
		docs, err := db.Documents(ctx, "", 500, offset)
		if err != nil {
			return res, err
		}
		for _, d := range docs {
			loaded += d.Chunks
		}
		if len(docs) < 500 {
			break
		}
	}
	res.IngestChunks = loaded
	queryGen := newTextGen(2)
	doc := 0
	for _, scale := range o.KnowledgeChunks {
		start := time.Now()
		for loaded < scale {
			batch := make([]domain.IndexedFile, 0, 100)
			for len(batch) < cap(batch) && loaded < scale {
				n := min(20, scale-loaded)
				f := syntheticDocument(src.ID, doc, n, gen)
				batch = append(batch, f)
				loaded += n
				doc++
			}
			if err := db.IndexFiles(ctx, batch); err != nil {
				return res, err
			}
		}
		sc := SearchScale{Chunks: scale, Load: time.Since(start)}
		// Warm up as a running server would be: caches hold the index's
		// hot pages, statistics are current.
		if err := analyze(ctx, db); err != nil {
			return res, err
		}
		for range max(1, o.KnowledgeQueries/10) {
			q := strings.TrimSuffix(queryGen.sentence(2+queryGen.rng.IntN(3)), ". ")
			if _, err := db.SearchChunks(ctx, q, []string{domain.VisibilityStaff, domain.VisibilityEveryone}, 10); err != nil {
				return res, err
			}
		}
		var lat []time.Duration
		hits := 0
		for range o.KnowledgeQueries {
			q := strings.TrimSuffix(queryGen.sentence(2+queryGen.rng.IntN(3)), ". ")
			t0 := time.Now()
			h, err := db.SearchChunks(ctx, q, []string{domain.VisibilityStaff, domain.VisibilityEveryone}, 10)
			if err != nil {
				return res, err
			}
			lat = append(lat, time.Since(t0))
			hits += len(h)
		}
		slices.Sort(lat)
		sc.P50, sc.P99, sc.Max = percentile(lat, 0.50), percentile(lat, 0.99), lat[len(lat)-1]
		sc.Hits = float64(hits) / float64(len(lat))
		res.SearchScales = append(res.SearchScales, sc)
	}
	res.SearchQueries = o.KnowledgeQueries
	return res, ctx.Err()
}

// syntheticDocument is a document of n passages of about 60 words, written
// straight to the store: the search scales need millions of passages, more
// than extracting files would make in a benchmark's time.
func syntheticDocument(sourceID string, i, n int, gen *textGen) domain.IndexedFile {
	chunks := make([]domain.KnowledgeChunk, n)
	var all strings.Builder
	for c := range chunks {
		text := gen.sentence(12) + gen.sentence(15) + gen.sentence(14) + gen.sentence(12)
		heading := strings.TrimSuffix(gen.sentence(2), ". ")
		chunks[c] = domain.KnowledgeChunk{Ordinal: c, Headings: []string{fmt.Sprintf("Document %d", i), heading}, Text: text, Tokens: 80}
		all.WriteString(text)
	}
	sum := sha256.Sum256([]byte(all.String()))
	id := fmt.Sprintf("%x", sum)
	return domain.IndexedFile{
		File:     domain.KnowledgeFile{SourceID: sourceID, Path: fmt.Sprintf("synthetic/%07d.md", i), Size: int64(all.Len()), Hash: id, DocumentID: id, Status: domain.FileIndexed},
		Document: &domain.KnowledgeDocument{ID: id, Title: fmt.Sprintf("Document %d", i), Format: "markdown", Bytes: int64(all.Len())},
		Chunks:   chunks,
	}
}

// analyze does now what PostgreSQL's autovacuum does soon after a bulk load:
// gathers the planner statistics search uses to tell common words from rare
// ones and to plan joins, and marks pages all-visible.
func analyze(ctx context.Context, db store.DB) error {
	pg, ok := db.(interface {
		Exec(ctx context.Context, query string, args ...any) error
	})
	if !ok || db.Engine() != "postgres" {
		return nil
	}
	return pg.Exec(ctx, `VACUUM (ANALYZE) knowledge_chunks, knowledge_documents, knowledge_files`)
}
