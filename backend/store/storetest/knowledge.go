package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

var knowledgeTests = []struct {
	name string
	fn   func(t *testing.T, db store.DB)
}{
	{"KnowledgeSources", testKnowledgeSources},
	{"KnowledgeIndexAndSearch", testKnowledgeIndexAndSearch},
	{"KnowledgeVersionsStoredOnce", testKnowledgeVersionsOnce},
	{"KnowledgeVisibility", testKnowledgeVisibility},
	{"KnowledgeFailedFiles", testKnowledgeFailed},
	{"KnowledgeQuerySyntaxIsData", testKnowledgeQuerySyntax},
	{"KnowledgeVectors", testKnowledgeVectors},
	{"KnowledgeCommonTerms", testKnowledgeCommonTerms},
}

func source(t *testing.T, db store.DB, path, visibility string) *domain.KnowledgeSource {
	t.Helper()
	s := &domain.KnowledgeSource{Kind: domain.SourceFolder, Path: path, Visibility: visibility, CreatedAt: t0}
	if err := db.CreateSource(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// doc makes a document version from text: one chunk per paragraph, under
// the heading given.
func doc(sourceID, path, heading, text string) domain.IndexedFile {
	id := fmt.Sprintf("%x", sha256.Sum256([]byte(text)))
	var chunks []domain.KnowledgeChunk
	for i, p := range strings.Split(text, "\n\n") {
		chunks = append(chunks, domain.KnowledgeChunk{Ordinal: i, Headings: []string{heading}, Text: p, Tokens: len(strings.Fields(p))})
	}
	return domain.IndexedFile{
		File:     domain.KnowledgeFile{SourceID: sourceID, Path: path, Size: int64(len(text)), ModTime: t0, Hash: id, Status: domain.FileIndexed},
		Document: &domain.KnowledgeDocument{ID: id, Title: "Title of " + path, Format: "markdown", Bytes: int64(len(text))},
		Chunks:   chunks,
	}
}

func search(t *testing.T, db store.DB, q string, vis ...string) []domain.ChunkHit {
	t.Helper()
	hits, err := db.SearchChunks(context.Background(), q, vis, 10)
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func testKnowledgeSources(t *testing.T, db store.DB) {
	ctx := context.Background()
	a := source(t, db, "/srv/clinic/policies", domain.VisibilityStaff)
	err := db.CreateSource(ctx, &domain.KnowledgeSource{Kind: domain.SourceFolder, Path: "/srv/clinic/policies", Visibility: domain.VisibilityEveryone, CreatedAt: t0})
	mustCode(t, err, domain.ECONFLICT)
	b := &domain.KnowledgeSource{Kind: domain.SourceS3, Bucket: "clinic-docs", Prefix: "leaflets/", Visibility: domain.VisibilityEveryone, CreatedAt: t0.Add(time.Second)}
	if err := db.CreateSource(ctx, b); err != nil {
		t.Fatal(err)
	}
	all, err := db.Sources(ctx)
	if err != nil || len(all) != 2 || all[0].ID != a.ID || all[1].Location() != "s3://clinic-docs/leaflets/" {
		t.Fatalf("sources = %+v, %v", all, err)
	}
	at := t0.Add(time.Hour)
	if err := db.SetSourceScan(ctx, a.ID, at, "folder missing"); err != nil {
		t.Fatal(err)
	}
	got, err := db.Source(ctx, a.ID)
	if err != nil || !got.LastScanAt.Equal(at) || got.LastError != "folder missing" || !got.CreatedAt.Equal(t0) || got.ScanRequests != 0 {
		t.Fatalf("source = %+v, %v", got, err)
	}
	// Scans asked for through any process are counted for the one that
	// keeps the sources.
	for range 2 {
		if err := db.RequestSourceScan(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := db.Source(ctx, a.ID); err != nil || got.ScanRequests != 2 {
		t.Fatalf("after two requests: %+v, %v", got, err)
	}
	if all, err := db.Sources(ctx); err != nil || all[0].ScanRequests != 2 || all[1].ScanRequests != 0 {
		t.Fatalf("sources after requests = %+v, %v", all, err)
	}
	mustCode(t, db.RequestSourceScan(ctx, "no-such-source"), domain.ENOTFOUND)
	if err := db.IndexFiles(ctx, []domain.IndexedFile{doc(a.ID, "hours.md", "Hours", "Open weekdays from eight.")}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSource(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	_, err = db.Source(ctx, a.ID)
	mustCode(t, err, domain.ENOTFOUND)
	mustCode(t, db.DeleteSource(ctx, a.ID), domain.ENOTFOUND)
	if hits := search(t, db, "weekdays", domain.VisibilityStaff, domain.VisibilityEveryone); len(hits) != 0 {
		t.Fatalf("a deleted source's chunks are still found: %+v", hits)
	}
	if docs, _ := db.Documents(ctx, "", 10, 0); len(docs) != 0 {
		t.Fatalf("a deleted source left documents: %+v", docs)
	}
}

func testKnowledgeIndexAndSearch(t *testing.T, db store.DB) {
	ctx := context.Background()
	s := source(t, db, "/kb", domain.VisibilityEveryone)
	files := []domain.IndexedFile{
		doc(s.ID, "hours.md", "Opening hours", "We are open Monday to Friday from 8am.\n\nOn Saturdays the clinic opens for urgent appointments only."),
		doc(s.ID, "prescriptions/repeat.md", "Repeat prescriptions", "Request repeat prescriptions two working days ahead.\n\nPharmacies collect them daily."),
	}
	if err := db.IndexFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	hits := search(t, db, "When is the clinic open on Saturday?", domain.VisibilityEveryone)
	if len(hits) == 0 || !strings.Contains(hits[0].Text, "Saturdays") {
		t.Fatalf("hits = %+v", hits)
	}
	h := hits[0]
	if h.Title != "Title of hours.md" || !slices.Equal(h.Headings, []string{"Opening hours"}) || h.Path != "hours.md" ||
		h.SourceID != s.ID || h.Visibility != domain.VisibilityEveryone || !strings.Contains(h.Snippet, "[[") || h.Rank <= 0 {
		t.Fatalf("top hit = %+v", h)
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Rank > hits[i-1].Rank {
			t.Fatalf("hits out of order: %+v", hits)
		}
	}
	// Stemming: "prescription" finds "prescriptions".
	if hits := search(t, db, "prescription", domain.VisibilityEveryone); len(hits) != 2 || hits[0].Path != "prescriptions/repeat.md" {
		t.Fatalf("stemmed search = %+v", hits)
	}
	// Only common words: nothing to look for.
	if hits := search(t, db, "what is the", domain.VisibilityEveryone); len(hits) != 0 {
		t.Fatalf("stop words matched %+v", hits)
	}
	// A changed file replaces its old version; the old text is gone.
	changed := doc(s.ID, "hours.md", "Opening hours", "From January the clinic is open on Sundays.")
	if err := db.IndexFiles(ctx, []domain.IndexedFile{changed}); err != nil {
		t.Fatal(err)
	}
	if hits := search(t, db, "saturdays", domain.VisibilityEveryone); len(hits) != 0 {
		t.Fatalf("the old version is still found: %+v", hits)
	}
	if hits := search(t, db, "sundays", domain.VisibilityEveryone); len(hits) != 1 {
		t.Fatalf("the new version is not found: %+v", hits)
	}
	if ok, _ := db.HasDocument(ctx, files[0].Document.ID); ok {
		t.Fatal("the replaced version is still stored")
	}
	// Touch keeps the content, moves the time.
	later := t0.Add(time.Hour)
	if err := db.TouchFile(ctx, s.ID, "hours.md", later); err != nil {
		t.Fatal(err)
	}
	fs, err := db.Files(ctx, s.ID)
	if err != nil || len(fs) != 2 || fs[0].Path != "hours.md" || !fs[0].ModTime.Equal(later) || fs[0].Hash != changed.File.Hash || fs[0].DocumentID != changed.Document.ID {
		t.Fatalf("files = %+v, %v", fs, err)
	}
	if c, err := db.SourceCounts(ctx, s.ID); err != nil || c != (domain.SourceCounts{Indexed: 2}) {
		t.Fatalf("counts = %+v, %v", c, err)
	}
	// Removing a file removes its text.
	if err := db.RemoveFiles(ctx, s.ID, []string{"hours.md"}); err != nil {
		t.Fatal(err)
	}
	if hits := search(t, db, "sundays", domain.VisibilityEveryone); len(hits) != 0 {
		t.Fatalf("a removed file is still found: %+v", hits)
	}
	docs, err := db.Documents(ctx, s.ID, 10, 0)
	if err != nil || len(docs) != 1 || docs[0].Chunks != 2 || docs[0].Format != "markdown" {
		t.Fatalf("documents = %+v, %v", docs, err)
	}
}

func testKnowledgeVersionsOnce(t *testing.T, db store.DB) {
	ctx := context.Background()
	a := source(t, db, "/a", domain.VisibilityStaff)
	b := source(t, db, "/b", domain.VisibilityStaff)
	text := "Flu vaccination clinics run every October."
	if err := db.IndexFiles(ctx, []domain.IndexedFile{doc(a.ID, "flu.md", "Flu", text), doc(b.ID, "copy/flu.md", "Flu", text)}); err != nil {
		t.Fatal(err)
	}
	all, _ := db.Documents(ctx, "", 10, 0)
	if len(all) != 1 {
		t.Fatalf("the same content in two folders is stored %d times", len(all))
	}
	if hits := search(t, db, "vaccination", domain.VisibilityStaff); len(hits) != 1 {
		t.Fatalf("the same chunk came back %d times: %+v", len(hits), hits)
	}
	// Removing one copy keeps the other searchable.
	if err := db.RemoveFiles(ctx, a.ID, []string{"flu.md"}); err != nil {
		t.Fatal(err)
	}
	hits := search(t, db, "vaccination", domain.VisibilityStaff)
	if len(hits) != 1 || hits[0].SourceID != b.ID || hits[0].Path != "copy/flu.md" {
		t.Fatalf("after removing one copy: %+v", hits)
	}
}

func testKnowledgeVisibility(t *testing.T, db store.DB) {
	ctx := context.Background()
	staff := source(t, db, "/staff", domain.VisibilityStaff)
	public := source(t, db, "/public", domain.VisibilityEveryone)
	if err := db.IndexFiles(ctx, []domain.IndexedFile{
		doc(staff.ID, "triage.md", "Triage protocol", "Escalate chest pain to the duty doctor immediately."),
		doc(public.ID, "leaflet.md", "Chest pain", "Call emergency services for chest pain."),
		doc(staff.ID, "shared.md", "Both", "Parking behind the building is free."),
		doc(public.ID, "shared.md", "Both", "Parking behind the building is free."),
	}); err != nil {
		t.Fatal(err)
	}
	hits := search(t, db, "chest pain", domain.VisibilityEveryone)
	if len(hits) != 1 || hits[0].Path != "leaflet.md" {
		t.Fatalf("patient search = %+v", hits)
	}
	if hits := search(t, db, "chest pain", domain.VisibilityStaff, domain.VisibilityEveryone); len(hits) != 2 {
		t.Fatalf("staff search = %+v", hits)
	}
	// A document in both kinds of source is shown to patients from the public one.
	hits = search(t, db, "parking", domain.VisibilityEveryone)
	if len(hits) != 1 || hits[0].SourceID != public.ID {
		t.Fatalf("shared document for a patient = %+v", hits)
	}
	var staffChunk int64
	for _, h := range search(t, db, "duty doctor", domain.VisibilityStaff) {
		staffChunk = h.ChunkID
	}
	if got, err := db.ChunksByID(ctx, []int64{staffChunk}, []string{domain.VisibilityEveryone}); err != nil || len(got) != 0 {
		t.Fatalf("a staff chunk fetched by id for a patient: %+v, %v", got, err)
	}
	if got, err := db.ChunksByID(ctx, []int64{staffChunk}, []string{domain.VisibilityStaff}); err != nil || len(got) != 1 || got[0].Path != "triage.md" {
		t.Fatalf("a staff chunk fetched by id for staff: %+v, %v", got, err)
	}
}

func testKnowledgeFailed(t *testing.T, db store.DB) {
	ctx := context.Background()
	s := source(t, db, "/kb", domain.VisibilityStaff)
	good := doc(s.ID, "a.md", "A", "Blood tests need fasting for eight hours.")
	if err := db.IndexFiles(ctx, []domain.IndexedFile{good}); err != nil {
		t.Fatal(err)
	}
	// The file becomes unreadable: its old text is no longer what it says.
	failed := domain.IndexedFile{File: domain.KnowledgeFile{SourceID: s.ID, Path: "a.md", Size: 9, Status: domain.FileFailed, Reason: "malformed", Error: "not a PDF"}}
	if err := db.IndexFiles(ctx, []domain.IndexedFile{failed}); err != nil {
		t.Fatal(err)
	}
	if hits := search(t, db, "fasting", domain.VisibilityStaff); len(hits) != 0 {
		t.Fatalf("a failed file's old text is still found: %+v", hits)
	}
	fs, err := db.FailedFiles(ctx, s.ID, 10)
	if err != nil || len(fs) != 1 || fs[0].Error != "not a PDF" || fs[0].Reason != "malformed" || fs[0].DocumentID != "" {
		t.Fatalf("failed = %+v, %v", fs, err)
	}
	if c, _ := db.SourceCounts(ctx, s.ID); c != (domain.SourceCounts{Failed: 1}) {
		t.Fatalf("counts = %+v", c)
	}
	// A batch with an impossible row writes none of it.
	bad := doc(s.ID, "b.md", "B", "Travel vaccines need six weeks.")
	bad.File.Status = "weird"
	if err := db.IndexFiles(ctx, []domain.IndexedFile{doc(s.ID, "c.md", "C", "Walk-in clinic on Tuesdays."), bad}); err == nil {
		t.Fatal("an invalid file row was stored")
	}
	if hits := search(t, db, "tuesdays travel", domain.VisibilityStaff); len(hits) != 0 {
		t.Fatalf("part of a failed batch is searchable: %+v", hits)
	}
}

func testKnowledgeQuerySyntax(t *testing.T, db store.DB) {
	ctx := context.Background()
	s := source(t, db, "/kb", domain.VisibilityStaff)
	if err := db.IndexFiles(ctx, []domain.IndexedFile{doc(s.ID, "a.md", "A", "Insulin pens are stored in the fridge.")}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`insulin" OR "x`, `insulin*`, `NEAR(insulin fridge)`, `insulin & !fridge`, `insulin:*`, `'; DROP TABLE knowledge_chunks; --`,
		`body:insulin`, `^insulin`, `insulin -fridge`, `(((insulin`, "insulin\x00fridge", `ИНСУЛИН insulin`} {
		hits, err := db.SearchChunks(ctx, q, []string{domain.VisibilityStaff}, 5)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		if strings.Contains(strings.ToLower(q), "insulin") && len(hits) != 1 {
			t.Fatalf("%q found %d", q, len(hits))
		}
	}
}

func testKnowledgeVectors(t *testing.T, db store.DB) {
	ctx := context.Background()
	s := source(t, db, "/kb", domain.VisibilityStaff)
	f := doc(s.ID, "a.md", "A", "One.\n\nTwo.")
	f.Chunks[0].Embedding, f.Chunks[0].EmbeddingModel = []float32{1, 0, 0.5}, "m1"
	f.Chunks[1].Embedding, f.Chunks[1].EmbeddingModel = []float32{0, 1, -0.5}, "m2"
	if err := db.IndexFiles(ctx, []domain.IndexedFile{f}); err != nil {
		t.Fatal(err)
	}
	var got []domain.ChunkVector
	if err := db.ChunkVectors(ctx, "m1", func(v domain.ChunkVector) error { got = append(got, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !slices.Equal(got[0].Vector, []float32{1, 0, 0.5}) {
		t.Fatalf("vectors = %+v", got)
	}
	hits, err := db.ChunksByID(ctx, []int64{got[0].ChunkID}, []string{domain.VisibilityStaff})
	if err != nil || len(hits) != 1 || hits[0].Text != "One." {
		t.Fatalf("chunk by id = %+v, %v", hits, err)
	}
}

// testKnowledgeCommonTerms: words in more than domain.CommonTermPassages
// passages give way to rarer ones; a query of common words alone still
// ranks passages, within the caller's visibility.
func testKnowledgeCommonTerms(t *testing.T, db store.DB) {
	ctx := context.Background()
	staffSrc := source(t, db, "/staff", domain.VisibilityStaff)
	public := source(t, db, "/public", domain.VisibilityEveryone)
	// The public passages come first, so the staff ones are the newest.
	if err := db.IndexFiles(ctx, []domain.IndexedFile{
		doc(public.ID, "visit.md", "Visit", "The clinic reception answers the phone from eight.\n\nClinic parking is behind the clinic building."),
		doc(staffSrc.ID, "zebra.md", "Zebra", "A zebra crossing sits in front of the clinic."),
	}); err != nil {
		t.Fatal(err)
	}
	n := domain.CommonTermPassages + 100
	var batch []domain.IndexedFile
	for i := 0; i < n; i += 50 {
		var paras []string
		for j := i; j < min(i+50, n); j++ {
			paras = append(paras, fmt.Sprintf("Passage %d of the clinic handbook, note number%d.", j, j))
		}
		batch = append(batch, doc(staffSrc.ID, fmt.Sprintf("handbook-%d.md", i), "Handbook", strings.Join(paras, "\n\n")))
	}
	if err := db.IndexFiles(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if db.Engine() == "postgres" {
		// PostgreSQL tells common words by the planner's statistics, which
		// autovacuum gathers in time; gather them now.
		if err := db.(Raw).Exec(ctx, `ANALYZE knowledge_chunks`); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{domain.VisibilityStaff, domain.VisibilityEveryone}
	// "clinic" is common, "zebra" rare: the rare word decides.
	if hits := search(t, db, "clinic zebra", all...); len(hits) != 1 || hits[0].Path != "zebra.md" {
		t.Fatalf("clinic zebra = %+v", hits)
	}
	// Common words only: passages holding them, ranked, with highlights.
	hits, err := db.SearchChunks(ctx, "clinic handbook", all, 5)
	if err != nil || len(hits) != 5 {
		t.Fatalf("clinic handbook = %d hits, %v", len(hits), err)
	}
	for i, h := range hits {
		if !strings.Contains(strings.ToLower(h.Snippet), "[[clinic]]") || h.Rank <= 0 || i > 0 && h.Rank > hits[i-1].Rank {
			t.Fatalf("hit %d = %+v", i, h)
		}
	}
	// A patient gets the public passages, though the newest are staff-only.
	hits, err = db.SearchChunks(ctx, "clinic", []string{domain.VisibilityEveryone}, 5)
	if err != nil || len(hits) != 2 {
		t.Fatalf("patient clinic = %+v, %v", hits, err)
	}
	for _, h := range hits {
		if h.Path != "visit.md" || h.Visibility != domain.VisibilityEveryone {
			t.Fatalf("patient got %+v", h)
		}
	}
	if hits[0].Text != "Clinic parking is behind the clinic building." {
		t.Fatalf("the passage with clinic twice should rank first: %+v", hits)
	}
}
