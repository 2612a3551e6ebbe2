package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

var consultTests = []struct {
	name string
	fn   func(t *testing.T, db store.DB)
}{
	{"Consultations", testConsultations},
	{"ConsultNoteVersions", testConsultNote},
	{"ConsultNoteRaceHasOneWinner", testConsultNoteRace},
	{"AudioChunks", testAudioChunks},
	{"AudioChunkRaceStoresOnce", testAudioChunkRace},
	{"TranscriptCompareAndSet", testTranscripts},
	{"RecordingRetention", testRecordingRetention},
	{"PurgePatientConsultations", testPurgePatientConsultations},
}

func newConsultation(t *testing.T, db store.DB, d *domain.Doctor, p *domain.Patient, appointmentID string, at time.Time) *domain.Consultation {
	t.Helper()
	c := &domain.Consultation{PatientID: p.ID, DoctorID: d.ID, AppointmentID: appointmentID, CreatedAt: at, UpdatedAt: at}
	if err := db.CreateConsultation(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

func newRecording(t *testing.T, db store.DB, c *domain.Consultation, at time.Time) *domain.Recording {
	t.Helper()
	r := &domain.Recording{ConsultationID: c.ID, Source: domain.RecordingStream, SampleRate: 16000, CreatedAt: at, UpdatedAt: at}
	if err := db.CreateRecording(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// addChunks stores chunks of the given sizes at the recording's end, each in
// a blob named key-seq.
func addChunks(t *testing.T, db store.DB, r *domain.Recording, key string, sizes ...int64) {
	t.Helper()
	got, err := db.Recording(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	seq, start := got.Chunks, got.Samples
	for _, n := range sizes {
		c := &domain.AudioChunk{RecordingID: r.ID, Seq: seq, BlobKey: fmt.Sprintf("%s-%d", key, seq), StartSample: start, Samples: n, CreatedAt: t0}
		if added, err := db.AddAudioChunk(context.Background(), c); err != nil || !added {
			t.Fatalf("add chunk %d: %v, %v", seq, added, err)
		}
		seq, start = seq+1, start+n
	}
}

func consultIDs(cs []*domain.Consultation) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// testConsultations: a consultation reads back with the patient's and
// doctor's names; one appointment has one consultation; lists are newest
// first and filtered; consent is noted.
func testConsultations(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "c1")
	d2, p2 := clinic(t, db, "c2")
	a := appt(d, p, t0, 30)
	if err := db.BookAppointment(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	c1 := &domain.Consultation{PatientID: p.ID, DoctorID: d.ID, AppointmentID: a.ID, ConsentAt: t0, ConsentBy: "user-1", ConsentHow: "verbal",
		CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateConsultation(ctx, c1); err != nil {
		t.Fatal(err)
	}
	if c1.ID == "" || c1.NoteStatus != domain.NoteNone {
		t.Fatalf("created = %+v", c1)
	}
	got, err := db.Consultation(ctx, c1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PatientID != p.ID || got.DoctorID != d.ID || got.DoctorUserID != d.UserID || got.AppointmentID != a.ID ||
		!got.ConsentAt.Equal(t0) || got.ConsentBy != "user-1" || got.ConsentHow != "verbal" || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) ||
		got.NoteStatus != domain.NoteNone || got.NoteVersion != 0 || !got.SignedAt.IsZero() || got.Note != (domain.VisitNote{}) ||
		got.PatientName != "Pat c1" || got.DoctorName != "Name of doc-c1@example.org" {
		t.Fatalf("read = %+v", got)
	}

	// One consultation per appointment; the appointment must be the patient's.
	mustCode(t, db.CreateConsultation(ctx, &domain.Consultation{PatientID: p.ID, DoctorID: d.ID, AppointmentID: a.ID, CreatedAt: t0}), domain.ECONFLICT)
	mustCode(t, db.CreateConsultation(ctx, &domain.Consultation{PatientID: p2.ID, DoctorID: d.ID, AppointmentID: a.ID, CreatedAt: t0}), domain.EINVALID)
	mustCode(t, db.CreateConsultation(ctx, &domain.Consultation{PatientID: "nope", DoctorID: d.ID, CreatedAt: t0}), domain.ENOTFOUND)
	mustCode(t, db.CreateConsultation(ctx, &domain.Consultation{PatientID: p.ID, DoctorID: "nope", CreatedAt: t0}), domain.ENOTFOUND)
	mustCode(t, db.CreateConsultation(ctx, &domain.Consultation{PatientID: p.ID, DoctorID: d.ID, AppointmentID: "nope", CreatedAt: t0}), domain.ENOTFOUND)
	mustCode(t, db.CreateConsultation(ctx, &domain.Consultation{PatientID: p.ID, DoctorID: d.ID, NoteStatus: domain.NoteSigned, CreatedAt: t0}), domain.EINVALID)
	_, err = db.Consultation(ctx, "nope")
	mustCode(t, err, domain.ENOTFOUND)

	c2 := newConsultation(t, db, d2, p2, "", t0.Add(time.Hour))
	c3 := newConsultation(t, db, d2, p, "", t0.Add(2*time.Hour))
	for _, tc := range []struct {
		f    domain.ConsultFilter
		want []string
	}{
		{domain.ConsultFilter{}, []string{c3.ID, c2.ID, c1.ID}},
		{domain.ConsultFilter{PatientID: p.ID}, []string{c3.ID, c1.ID}},
		{domain.ConsultFilter{DoctorID: d2.ID}, []string{c3.ID, c2.ID}},
		{domain.ConsultFilter{DoctorID: d2.ID, PatientID: p.ID}, []string{c3.ID}},
		{domain.ConsultFilter{AppointmentID: a.ID}, []string{c1.ID}},
		{domain.ConsultFilter{SignedOnly: true}, []string{}},
		{domain.ConsultFilter{Limit: 2}, []string{c3.ID, c2.ID}},
	} {
		cs, err := db.ListConsultations(ctx, tc.f)
		if err != nil || !slices.Equal(consultIDs(cs), tc.want) {
			t.Fatalf("list %+v = %v, %v; want %v", tc.f, consultIDs(cs), err, tc.want)
		}
	}
	cs, _ := db.ListConsultations(ctx, domain.ConsultFilter{PatientID: p2.ID})
	if len(cs) != 1 || cs[0].PatientName != "Pat c2" || cs[0].DoctorName != "Name of doc-c2@example.org" || cs[0].DoctorUserID != d2.UserID {
		t.Fatalf("listed names = %+v", cs)
	}

	consent := t0.Add(90 * time.Minute)
	if err := db.SetConsent(ctx, c2.ID, "written", "user-2", consent); err != nil {
		t.Fatal(err)
	}
	got, err = db.Consultation(ctx, c2.ID)
	if err != nil || !got.ConsentAt.Equal(consent) || got.ConsentHow != "written" || got.ConsentBy != "user-2" || !got.UpdatedAt.Equal(consent) {
		t.Fatalf("after consent: %+v, %v", got, err)
	}
	mustCode(t, db.SetConsent(ctx, "nope", "verbal", "user-2", consent), domain.ENOTFOUND)
}

// testConsultNote: each save bumps the version; a stale version and a
// signed note are conflicts; the database itself keeps a signed note.
func testConsultNote(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "note")
	c := newConsultation(t, db, d, p, "", t0)
	draft := domain.VisitNote{Reason: "cough", History: "two weeks; 'dry'", Findings: "clear chest", Plan: "rest"}
	t1 := t0.Add(time.Minute)
	got, err := db.SaveNote(ctx, c.ID, 0, draft, domain.NoteDraft, "offline", "", t1)
	if err != nil || got.NoteVersion != 1 || got.NoteStatus != domain.NoteDraft || got.Note != draft || got.DraftedBy != "offline" ||
		!got.UpdatedAt.Equal(t1) || !got.SignedAt.IsZero() || got.PatientName != "Pat note" {
		t.Fatalf("first save = %+v, %v", got, err)
	}
	_, err = db.SaveNote(ctx, c.ID, 0, draft, domain.NoteDraft, "", "", t1)
	mustCode(t, err, domain.ECONFLICT)
	_, err = db.SaveNote(ctx, c.ID, 1, draft, "final", "", "", t1)
	mustCode(t, err, domain.EINVALID)
	_, err = db.SaveNote(ctx, c.ID, 1, draft, domain.NoteSigned, "", "", t1)
	mustCode(t, err, domain.EINVALID)
	_, err = db.SaveNote(ctx, "nope", 1, draft, domain.NoteDraft, "", "", t1)
	mustCode(t, err, domain.ENOTFOUND)

	edited := draft
	edited.Plan = "rest and fluids"
	if got, err = db.SaveNote(ctx, c.ID, 1, edited, domain.NoteDraft, "offline", "", t1); err != nil || got.NoteVersion != 2 || got.Note != edited {
		t.Fatalf("second save = %+v, %v", got, err)
	}
	t2 := t0.Add(2 * time.Minute)
	if got, err = db.SaveNote(ctx, c.ID, 2, edited, domain.NoteSigned, "offline", "doctor-user", t2); err != nil || got.NoteVersion != 3 ||
		got.NoteStatus != domain.NoteSigned || !got.SignedAt.Equal(t2) || got.SignedBy != "doctor-user" || got.Note != edited {
		t.Fatalf("sign = %+v, %v", got, err)
	}
	_, err = db.SaveNote(ctx, c.ID, 3, draft, domain.NoteDraft, "", "", t2)
	mustCode(t, err, domain.ECONFLICT)
	_, err = db.SaveNote(ctx, c.ID, 3, edited, domain.NoteSigned, "", "doctor-user", t2)
	mustCode(t, err, domain.ECONFLICT)
	if cs, err := db.ListConsultations(ctx, domain.ConsultFilter{SignedOnly: true}); err != nil || len(cs) != 1 || cs[0].ID != c.ID {
		t.Fatalf("signed = %v, %v", consultIDs(cs), err)
	}
	// Consent may still be noted; the note itself the database keeps.
	if err := db.SetConsent(ctx, c.ID, "written", "u", t2); err != nil {
		t.Fatal(err)
	}
	raw := db.(Raw)
	for _, q := range []string{
		`UPDATE consultations SET note_plan = 'changed' WHERE id = '` + c.ID + `'`,
		`UPDATE consultations SET note_status = 'draft', signed_at = NULL WHERE id = '` + c.ID + `'`,
		`UPDATE consultations SET signed_by = 'someone else' WHERE id = '` + c.ID + `'`,
	} {
		if err := raw.Exec(ctx, q); err == nil {
			t.Errorf("the database accepted %q on a signed note", q)
		}
	}
	if got, err := db.Consultation(ctx, c.ID); err != nil || got.Note != edited || got.SignedBy != "doctor-user" {
		t.Fatalf("signed note after the attempts: %+v, %v", got, err)
	}
}

// testConsultNoteRace: saves of one version at once: one wins, the others
// are told of the conflict.
func testConsultNoteRace(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "race")
	c := newConsultation(t, db, d, p, "", t0)
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.SaveNote(ctx, c.ID, 0, domain.VisitNote{Plan: fmt.Sprint("plan ", i)}, domain.NoteDraft, "", "", t0)
			switch domain.ErrorCode(err) {
			case "":
				wins.Add(1)
			case domain.ECONFLICT:
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 7 {
		t.Fatalf("wins=%d conflicts=%d; exactly one save of version 0 may win", wins.Load(), conflicts.Load())
	}
	if got, err := db.Consultation(ctx, c.ID); err != nil || got.NoteVersion != 1 {
		t.Fatalf("after the race: %+v, %v", got, err)
	}
}

// testAudioChunks: chunks are stored in order at the recording's end; a
// repeat is acknowledged without change; gaps, replacements and audio
// after the end are conflicts; chunks are found by sample range.
func testAudioChunks(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "audio")
	c := newConsultation(t, db, d, p, "", t0)
	mustCode(t, db.CreateRecording(ctx, &domain.Recording{ConsultationID: "nope", Source: domain.RecordingStream, SampleRate: 16000, CreatedAt: t0}), domain.ENOTFOUND)
	mustCode(t, db.CreateRecording(ctx, &domain.Recording{ConsultationID: c.ID, Source: "tape", SampleRate: 16000, CreatedAt: t0}), domain.EINVALID)
	mustCode(t, db.CreateRecording(ctx, &domain.Recording{ConsultationID: c.ID, Source: domain.RecordingUpload, CreatedAt: t0}), domain.EINVALID)
	r := &domain.Recording{ConsultationID: c.ID, Source: domain.RecordingUpload, Filename: "visit.mp3", SampleRate: 16000, CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateRecording(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.ID == "" || r.PatientID != p.ID {
		t.Fatalf("created = %+v", r)
	}
	addChunks(t, db, r, "k", 1000, 1000, 500)
	got, err := db.Recording(ctx, r.ID)
	if err != nil || got.Samples != 2500 || got.Chunks != 3 || got.Ended || got.PatientID != p.ID || got.ConsultationID != c.ID ||
		got.Filename != "visit.mp3" || got.Source != domain.RecordingUpload || got.SampleRate != 16000 || !got.CreatedAt.Equal(t0) || !got.PurgedAt.IsZero() {
		t.Fatalf("after three chunks: %+v, %v", got, err)
	}

	chunk := func(seq, start, n int64) *domain.AudioChunk {
		return &domain.AudioChunk{RecordingID: r.ID, Seq: seq, BlobKey: fmt.Sprint("again-", seq), StartSample: start, Samples: n, CreatedAt: t0}
	}
	if added, err := db.AddAudioChunk(ctx, chunk(1, 1000, 1000)); err != nil || added {
		t.Fatalf("repeat of chunk 1 = %v, %v; want false, nil", added, err)
	}
	for name, ch := range map[string]*domain.AudioChunk{
		"chunk 1 of another length": chunk(1, 1000, 999),
		"a gap":                     chunk(4, 2500, 100),
		"a wrong start":             chunk(3, 2400, 100),
	} {
		_, err := db.AddAudioChunk(ctx, ch)
		mustCode(t, err, domain.ECONFLICT)
		t.Logf("%s: %v", name, err)
	}
	_, err = db.AddAudioChunk(ctx, chunk(3, 2500, 0))
	mustCode(t, err, domain.EINVALID)
	_, err = db.AddAudioChunk(ctx, &domain.AudioChunk{RecordingID: "nope", Seq: 0, BlobKey: "x", Samples: 1, CreatedAt: t0})
	mustCode(t, err, domain.ENOTFOUND)
	if got, _ := db.Recording(ctx, r.ID); got.Samples != 2500 || got.Chunks != 3 {
		t.Fatalf("refused chunks changed the recording: %+v", got)
	}
	chunks, err := db.AudioChunks(ctx, r.ID, 0, 0)
	if err != nil || len(chunks) != 3 {
		t.Fatalf("all chunks = %d, %v", len(chunks), err)
	}
	if ch := chunks[1]; ch.RecordingID != r.ID || ch.Seq != 1 || ch.BlobKey != "k-1" || ch.StartSample != 1000 || ch.Samples != 1000 || !ch.CreatedAt.Equal(t0) {
		t.Fatalf("chunk 1 = %+v", ch)
	}
	for _, tc := range []struct {
		from, to int64
		want     []int64
	}{
		{1000, 2000, []int64{1}},
		{999, 1001, []int64{0, 1}},
		{2000, 0, []int64{2}},
		{1500, 2001, []int64{1, 2}},
		{2500, 0, []int64{}},
		{0, 1, []int64{0}},
	} {
		chunks, err := db.AudioChunks(ctx, r.ID, tc.from, tc.to)
		seqs := []int64{}
		for _, ch := range chunks {
			seqs = append(seqs, ch.Seq)
		}
		if err != nil || !slices.Equal(seqs, tc.want) {
			t.Fatalf("chunks in [%d, %d) = %v, %v; want %v", tc.from, tc.to, seqs, err, tc.want)
		}
	}

	at := t0.Add(time.Minute)
	if err := db.EndRecording(ctx, r.ID, at); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.EndRecording(ctx, "nope", at), domain.ENOTFOUND)
	_, err = db.AddAudioChunk(ctx, chunk(3, 2500, 100))
	mustCode(t, err, domain.ECONFLICT)
	if added, err := db.AddAudioChunk(ctx, chunk(2, 2000, 500)); err != nil || added {
		t.Fatalf("repeat after the end = %v, %v; want false, nil", added, err)
	}
	recs, err := db.Recordings(ctx, c.ID)
	if err != nil || len(recs) != 1 || !recs[0].Ended || recs[0].Samples != 2500 || !recs[0].UpdatedAt.Equal(at) {
		t.Fatalf("recordings = %+v, %v", recs, err)
	}
	if recs, err := db.Recordings(ctx, "nope"); err != nil || len(recs) != 0 {
		t.Fatalf("recordings of no consultation = %v, %v", recs, err)
	}
}

// testAudioChunkRace: one chunk sent on several connections at once is
// stored once.
func testAudioChunkRace(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "chunkrace")
	r := newRecording(t, db, newConsultation(t, db, d, p, "", t0), t0)
	var added, repeats atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.AddAudioChunk(ctx, &domain.AudioChunk{RecordingID: r.ID, Seq: 0, BlobKey: fmt.Sprint("k", i), Samples: 160, CreatedAt: t0})
			switch {
			case err != nil:
				t.Error(err)
			case ok:
				added.Add(1)
			default:
				repeats.Add(1)
			}
		}()
	}
	wg.Wait()
	if added.Load() != 1 || repeats.Load() != 7 {
		t.Fatalf("added=%d repeats=%d; the chunk must be stored exactly once", added.Load(), repeats.Load())
	}
	if got, err := db.Recording(ctx, r.ID); err != nil || got.Samples != 160 || got.Chunks != 1 {
		t.Fatalf("recording = %+v, %v", got, err)
	}
}

// testTranscripts: recordings with audio left to transcribe are pending,
// oldest first; the transcribed mark moves by compare-and-set, so of
// workers racing on the same audio one stores its segments.
func testTranscripts(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "words")
	c := newConsultation(t, db, d, p, "", t0)
	r1 := newRecording(t, db, c, t0)
	r2 := newRecording(t, db, c, t0.Add(time.Minute))
	idle := newRecording(t, db, c, t0.Add(2*time.Minute))
	addChunks(t, db, r1, "r1", 16000, 16000)
	addChunks(t, db, r2, "r2", 8000)
	pendingIDs := func(limit int) []string {
		t.Helper()
		rs, err := db.PendingRecordings(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	if got := pendingIDs(10); !slices.Equal(got, []string{r1.ID, r2.ID}) {
		t.Fatalf("pending = %v; want r1, r2 (and not the recording without audio %s)", got, idle.ID)
	}
	if got := pendingIDs(1); !slices.Equal(got, []string{r1.ID}) {
		t.Fatalf("pending, one = %v", got)
	}

	at := t0.Add(time.Hour)
	var wins, losses atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			segs := []*domain.TranscriptSegment{
				{StartMS: 0, EndMS: 400, Speaker: "doctor", Text: fmt.Sprint("worker ", i, " first")},
				{StartMS: 500, EndMS: 900, Speaker: "patient", Text: fmt.Sprint("worker ", i, " second")},
			}
			ok, err := db.AddTranscript(ctx, r1.ID, 0, 16000, segs, "engine-a", at)
			switch {
			case err != nil:
				t.Error(err)
			case ok:
				wins.Add(1)
			default:
				losses.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || losses.Load() != 7 {
		t.Fatalf("wins=%d losses=%d; exactly one worker may move the mark from 0", wins.Load(), losses.Load())
	}
	segs, err := db.Transcript(ctx, c.ID)
	if err != nil || len(segs) != 2 || strings.TrimSuffix(segs[0].Text, " first") != strings.TrimSuffix(segs[1].Text, " second") {
		t.Fatalf("transcript after the race = %+v, %v; want the two segments of one worker", segs, err)
	}
	if s := segs[0]; s.ID == "" || s.RecordingID != r1.ID || s.ConsultationID != c.ID || s.StartMS != 0 || s.EndMS != 400 || s.Speaker != "doctor" || !s.CreatedAt.Equal(at) {
		t.Fatalf("segment = %+v", s)
	}
	if got, _ := db.Recording(ctx, r1.ID); got.TranscribedSamples != 16000 || got.Engine != "engine-a" {
		t.Fatalf("r1 = %+v", got)
	}
	if ok, err := db.AddTranscript(ctx, r1.ID, 0, 16000, nil, "engine-a", at); err != nil || ok {
		t.Fatalf("moving the mark from a stale 0 = %v, %v", ok, err)
	}
	_, err = db.AddTranscript(ctx, r1.ID, 16000, 32001, nil, "engine-a", at)
	mustCode(t, err, domain.EINVALID)
	_, err = db.AddTranscript(ctx, r1.ID, 16000, 100, nil, "engine-a", at)
	mustCode(t, err, domain.EINVALID)
	_, err = db.AddTranscript(ctx, r1.ID, 16000, 32000, []*domain.TranscriptSegment{{StartMS: 900, EndMS: 800, Text: "backwards"}}, "engine-a", at)
	mustCode(t, err, domain.EINVALID)
	_, err = db.AddTranscript(ctx, "nope", 0, 1, nil, "engine-a", at)
	mustCode(t, err, domain.ENOTFOUND)
	if ok, err := db.AddTranscript(ctx, r1.ID, 16000, 32000, []*domain.TranscriptSegment{{StartMS: 1000, EndMS: 1900, Text: "third"}}, "engine-a", at); err != nil || !ok {
		t.Fatalf("the rest of r1 = %v, %v", ok, err)
	}
	if got := pendingIDs(10); !slices.Equal(got, []string{r2.ID}) {
		t.Fatalf("pending once r1 is done = %v", got)
	}

	// An engine's failure is kept until it is cleared or the engine succeeds.
	if err := db.SetTranscribeError(ctx, r2.ID, "engine-b", "the engine answered 503", at); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Recording(ctx, r2.ID); got.Engine != "engine-b" || got.TranscribeError != "the engine answered 503" || !got.UpdatedAt.Equal(at) {
		t.Fatalf("r2 after a failure = %+v", got)
	}
	mustCode(t, db.SetTranscribeError(ctx, "nope", "engine-b", "x", at), domain.ENOTFOUND)
	if ok, err := db.AddTranscript(ctx, r2.ID, 0, 8000, []*domain.TranscriptSegment{{StartMS: 0, EndMS: 300, Text: "later recording"}}, "engine-b", at); err != nil || !ok {
		t.Fatalf("r2 = %v, %v", ok, err)
	}
	if got, _ := db.Recording(ctx, r2.ID); got.TranscribeError != "" || got.TranscribedSamples != 8000 {
		t.Fatalf("r2 after success = %+v", got)
	}
	if err := db.SetTranscribeError(ctx, r2.ID, "engine-b", "", at); err != nil {
		t.Fatal(err)
	}
	segs, err = db.Transcript(ctx, c.ID)
	if err != nil || len(segs) != 4 || segs[2].Text != "third" || segs[3].Text != "later recording" || segs[3].RecordingID != r2.ID {
		t.Fatalf("transcript by recording and time = %+v, %v", segs, err)
	}
	if got := pendingIDs(10); len(got) != 0 {
		t.Fatalf("pending when all is transcribed = %v", got)
	}
}

// testRecordingRetention: recordings of signed notes are listed for
// purging unless the patient is on hold; a purge removes the chunks and
// queues their blobs; a blob another recording still uses is not garbage.
func testRecordingRetention(t *testing.T, db store.DB) {
	ctx := context.Background()
	signedAt := t0.Add(time.Hour)
	world := func(tag string, sign bool) (*domain.Patient, *domain.Recording) {
		d, p := clinic(t, db, tag)
		c := newConsultation(t, db, d, p, "", t0)
		r := newRecording(t, db, c, t0)
		addChunks(t, db, r, "k-"+tag, 100, 100)
		if sign {
			if _, err := db.SaveNote(ctx, c.ID, 0, domain.VisitNote{Plan: "p"}, domain.NoteSigned, "", "doctor", signedAt); err != nil {
				t.Fatal(err)
			}
		}
		return p, r
	}
	_, signed := world("signed", true)
	held, onHold := world("held", true)
	_, draft := world("draft", false)
	if err := db.PutLegalHold(ctx, &domain.LegalHold{PatientID: held.ID, Reason: "subpoena", PlacedBy: "admin", PlacedAt: t0}); err != nil {
		t.Fatal(err)
	}
	// The draft's recording shares a blob with the signed one's (the same
	// audio, stored once).
	if added, err := db.AddAudioChunk(ctx, &domain.AudioChunk{RecordingID: draft.ID, Seq: 2, BlobKey: "k-signed-0", StartSample: 200, Samples: 100, CreatedAt: t0}); err != nil || !added {
		t.Fatalf("shared chunk: %v, %v", added, err)
	}
	if rs, err := db.RecordingsSignedBefore(ctx, signedAt, 10); err != nil || len(rs) != 0 {
		t.Fatalf("signed before the signature = %d, %v", len(rs), err)
	}
	rs, err := db.RecordingsSignedBefore(ctx, signedAt.Add(time.Second), 10)
	if err != nil || len(rs) != 1 || rs[0].ID != signed.ID || rs[0].Samples != 200 {
		t.Fatalf("signed before = %+v, %v; want the signed one only (not the held or the draft)", rs, err)
	}

	// Asked directly, a held patient's audio still stays.
	if n, err := db.PurgeRecordingAudio(ctx, onHold.ID, signedAt); err != nil || n != 0 {
		t.Fatalf("purge on hold = %d, %v", n, err)
	}
	if chunks, _ := db.AudioChunks(ctx, onHold.ID, 0, 0); len(chunks) != 2 {
		t.Fatalf("held chunks = %d", len(chunks))
	}
	purgedAt := signedAt.Add(time.Hour)
	if n, err := db.PurgeRecordingAudio(ctx, signed.ID, purgedAt); err != nil || n != 2 {
		t.Fatalf("purge = %d, %v", n, err)
	}
	if n, err := db.PurgeRecordingAudio(ctx, signed.ID, purgedAt); err != nil || n != 0 {
		t.Fatalf("second purge = %d, %v", n, err)
	}
	_, err = db.PurgeRecordingAudio(ctx, "nope", purgedAt)
	mustCode(t, err, domain.ENOTFOUND)
	got, err := db.Recording(ctx, signed.ID)
	if err != nil || !got.PurgedAt.Equal(purgedAt) || got.Samples != 200 {
		t.Fatalf("purged recording = %+v, %v", got, err)
	}
	if chunks, err := db.AudioChunks(ctx, signed.ID, 0, 0); err != nil || len(chunks) != 0 {
		t.Fatalf("chunks after the purge = %d, %v", len(chunks), err)
	}
	_, err = db.AddAudioChunk(ctx, &domain.AudioChunk{RecordingID: signed.ID, Seq: 2, BlobKey: "late", StartSample: 200, Samples: 1, CreatedAt: t0})
	mustCode(t, err, domain.ECONFLICT)
	_, err = db.AddAudioChunk(ctx, &domain.AudioChunk{RecordingID: signed.ID, Seq: 0, BlobKey: "k-signed-0", StartSample: 0, Samples: 100, CreatedAt: t0})
	mustCode(t, err, domain.ECONFLICT)
	if rs, err := db.RecordingsSignedBefore(ctx, farFuture, 10); err != nil || len(rs) != 0 {
		t.Fatalf("after the purge, signed before = %d, %v", len(rs), err)
	}
	for _, r := range mustPending(t, db) {
		if r.ID == signed.ID {
			t.Fatal("a purged recording is pending transcription")
		}
	}

	// k-signed-0 is still the draft recording's: only k-signed-1 is garbage.
	keys, err := db.BlobGarbage(ctx, 10)
	if err != nil || !slices.Equal(keys, []string{"k-signed-1"}) {
		t.Fatalf("garbage = %v, %v", keys, err)
	}
	if err := db.DropBlobGarbage(ctx, keys); err != nil {
		t.Fatal(err)
	}
	if keys, err := db.BlobGarbage(ctx, 10); err != nil || len(keys) != 0 {
		t.Fatalf("garbage after dropping = %v, %v", keys, err)
	}
	if n, err := db.PurgeRecordingAudio(ctx, draft.ID, purgedAt); err != nil || n != 3 {
		t.Fatalf("purge of the draft's recording = %d, %v", n, err)
	}
	keys, err = db.BlobGarbage(ctx, 10)
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, []string{"k-draft-0", "k-draft-1", "k-signed-0"}) {
		t.Fatalf("garbage once no chunk uses the shared blob = %v, %v", keys, err)
	}
	if keys, err := db.BlobGarbage(ctx, 1); err != nil || len(keys) != 1 {
		t.Fatalf("garbage, one = %v, %v", keys, err)
	}
	if err := db.DropBlobGarbage(ctx, []string{"k-draft-0", "k-draft-1", "k-signed-0", "never-queued"}); err != nil {
		t.Fatal(err)
	}
	if keys, err := db.BlobGarbage(ctx, 10); err != nil || len(keys) != 0 {
		t.Fatalf("garbage at the end = %v, %v", keys, err)
	}
}

func mustPending(t *testing.T, db store.DB) []*domain.Recording {
	t.Helper()
	rs, err := db.PendingRecordings(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// testPurgePatientConsultations: a consultation counts as contact; purging
// the patient removes their consultations with recordings and transcripts,
// counts them, and queues the audio's blobs.
func testPurgePatientConsultations(t *testing.T, db store.DB) {
	ctx := context.Background()
	d, p := clinic(t, db, "gone")
	_, other := clinic(t, db, "stays")
	a := appt(d, p, t0, 30)
	if err := db.BookAppointment(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	c := newConsultation(t, db, d, p, a.ID, t0)
	r := newRecording(t, db, c, t0)
	addChunks(t, db, r, "k-gone", 100, 100)
	if ok, err := db.AddTranscript(ctx, r.ID, 0, 200, []*domain.TranscriptSegment{{StartMS: 0, EndMS: 10, Text: "hello"}}, "e", t0); err != nil || !ok {
		t.Fatalf("transcript: %v, %v", ok, err)
	}
	signed := t0.Add(2 * time.Hour)
	if _, err := db.SaveNote(ctx, c.ID, 0, domain.VisitNote{Plan: "p"}, domain.NoteSigned, "", "doctor", signed); err != nil {
		t.Fatal(err)
	}
	kept := newRecording(t, db, newConsultation(t, db, d, other, "", t0), t0)
	addChunks(t, db, kept, "k-stays", 100)

	// The note, signed two hours in, is the last contact.
	cut := t0.Add(time.Hour)
	if ids, err := db.PatientsLastContactBefore(ctx, cut, 10); err != nil || slices.Contains(ids, p.ID) {
		t.Fatalf("patients past retention at %v = %v, %v; the consultation is later", cut, ids, err)
	}
	if got, err := db.PurgePatient(ctx, p.ID, cut, "pn-gone", cut); err != nil || got != (domain.PatientPurge{}) {
		t.Fatalf("purge before the last contact = %+v, %v", got, err)
	}
	cut = signed.Add(time.Hour)
	if ids, err := db.PatientsLastContactBefore(ctx, cut, 10); err != nil || !slices.Contains(ids, p.ID) {
		t.Fatalf("patients past retention at %v = %v, %v", cut, ids, err)
	}
	got, err := db.PurgePatient(ctx, p.ID, cut, "pn-gone", cut)
	if err != nil || got.Patients != 1 || got.Consultations != 1 || got.Appointments != 1 {
		t.Fatalf("purge = %+v, %v; want the patient, the appointment and the consultation", got, err)
	}
	_, err = db.Consultation(ctx, c.ID)
	mustCode(t, err, domain.ENOTFOUND)
	_, err = db.Recording(ctx, r.ID)
	mustCode(t, err, domain.ENOTFOUND)
	if segs, err := db.Transcript(ctx, c.ID); err != nil || len(segs) != 0 {
		t.Fatalf("transcript after the purge = %d, %v", len(segs), err)
	}
	if chunks, err := db.AudioChunks(ctx, r.ID, 0, 0); err != nil || len(chunks) != 0 {
		t.Fatalf("chunks after the purge = %d, %v", len(chunks), err)
	}
	keys, err := db.BlobGarbage(ctx, 10)
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, []string{"k-gone-0", "k-gone-1"}) {
		t.Fatalf("garbage = %v, %v", keys, err)
	}
	if chunks, err := db.AudioChunks(ctx, kept.ID, 0, 0); err != nil || len(chunks) != 1 {
		t.Fatalf("the other patient's chunks = %d, %v", len(chunks), err)
	}
}
