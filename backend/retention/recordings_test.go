package retention_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/retention"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

type blobKeys struct{ blob.Store }

func (b blobKeys) Delete(ctx context.Context, key string) error {
	return b.Store.Delete(ctx, blob.Key(key))
}

// TestRecordingsRetention: the audio of a consultation signed longer ago
// than recordings_days goes (its stored files too, each removal audited
// under the patient); a younger one, an unsigned one, and one of a patient
// on legal hold stay; the transcript and note stay; a second run removes
// nothing.
func TestRecordingsRetention(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			db := e.Open(t)
			log := audit.NewLog(db, time.Now, slog.New(slog.DiscardHandler))
			t.Cleanup(log.Close)
			keys := secret.NewEphemeral()
			blobs, err := blob.NewLocal(t.TempDir(), keys)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Second)
			svc := retention.New(retention.Options{Store: db, Guard: access.New(log), Audit: log, Keys: keys, Blobs: blobKeys{blobs}, Now: func() time.Time { return now }})
			ctx := context.Background()
			d := &domain.Doctor{Specialization: "General practice", CreatedAt: now, UpdatedAt: now}
			if err := db.CreateDoctor(ctx, d, &domain.User{Email: "doc@example.org", Name: "Doc", Role: domain.RoleDoctor, PasswordHash: "x", CreatedAt: now, UpdatedAt: now}, nil); err != nil {
				t.Fatal(err)
			}
			type visit struct {
				name      string
				signedAgo time.Duration // 0: not signed
				held      bool
				gone      bool
			}
			visits := []visit{
				{"signed 31 days ago", 31 * 24 * time.Hour, false, true},
				{"signed 29 days ago", 29 * 24 * time.Hour, false, false},
				{"unsigned", 0, false, false},
				{"on hold", 40 * 24 * time.Hour, true, false},
			}
			recs := map[string]*domain.Recording{}
			files := map[string]blob.Key{}
			patients := map[string]string{}
			for i, v := range visits {
				p := &domain.Patient{Name: fmt.Sprint("Patient ", i), DateOfBirth: "1980-01-01", CreatedAt: now, UpdatedAt: now}
				if err := db.CreatePatient(ctx, p, nil, nil); err != nil {
					t.Fatal(err)
				}
				start := now.Add(-v.signedAgo - time.Hour)
				c := &domain.Consultation{PatientID: p.ID, DoctorID: d.ID, CreatedAt: start, UpdatedAt: start}
				if err := db.CreateConsultation(ctx, c); err != nil {
					t.Fatal(err)
				}
				r := &domain.Recording{ConsultationID: c.ID, Source: domain.RecordingStream, SampleRate: 16000, CreatedAt: start, UpdatedAt: start}
				if err := db.CreateRecording(ctx, r); err != nil {
					t.Fatal(err)
				}
				ref, err := blobs.Put(ctx, bytes.NewReader([]byte(strings.Repeat(fmt.Sprint(i), 3200))))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.AddAudioChunk(ctx, &domain.AudioChunk{RecordingID: r.ID, Seq: 0, BlobKey: string(ref.Key), StartSample: 0, Samples: 1600, CreatedAt: start}); err != nil {
					t.Fatal(err)
				}
				if _, err := db.AddTranscript(ctx, r.ID, 0, 1600, []*domain.TranscriptSegment{{StartMS: 0, EndMS: 90, Text: "hello"}}, "test", start); err != nil {
					t.Fatal(err)
				}
				if v.signedAgo > 0 {
					if _, err := db.SaveNote(ctx, c.ID, 0, domain.VisitNote{Reason: "Check-up"}, domain.NoteSigned, "", "doc", now.Add(-v.signedAgo)); err != nil {
						t.Fatal(err)
					}
				}
				if v.held {
					if err := db.PutLegalHold(ctx, &domain.LegalHold{PatientID: p.ID, Reason: "litigation", PlacedBy: "admin", PlacedAt: now}); err != nil {
						t.Fatal(err)
					}
				}
				recs[v.name], files[v.name], patients[v.name] = r, ref.Key, p.ID
			}

			rep, err := svc.Run(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.RecordingsPurged != 1 || rep.BlobsDeleted != 1 || rep.Policy.RecordingsDays != retention.DefaultRecordingsDays {
				t.Fatalf("report: %+v", rep)
			}
			for _, v := range visits {
				r, err := db.Recording(ctx, recs[v.name].ID)
				if err != nil {
					t.Fatal(err)
				}
				chunks, err := db.AudioChunks(ctx, r.ID, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, serr := blobs.Stat(ctx, files[v.name])
				if v.gone != !r.PurgedAt.IsZero() || v.gone != (len(chunks) == 0) || v.gone != domain.IsCode(serr, domain.ENOTFOUND) {
					t.Errorf("%s: purged %v, %d chunks, file: %v", v.name, r.PurgedAt, len(chunks), serr)
				}
				segs, err := db.Transcript(ctx, r.ConsultationID)
				if err != nil || len(segs) != 1 {
					t.Errorf("%s: the transcript: %d segments, %v", v.name, len(segs), err)
				}
			}
			evs, err := db.ListAudit(ctx, domain.AuditFilter{ResourceType: "recording", Action: domain.ActionDelete})
			if err != nil || len(evs) != 1 || evs[0].PatientID != patients["signed 31 days ago"] {
				t.Fatalf("audit: %d events, %v", len(evs), err)
			}
			again, err := svc.Run(ctx, false)
			if err != nil || again.RecordingsPurged != 0 || again.BlobsDeleted != 0 {
				t.Fatalf("second run: %+v %v", again, err)
			}
		})
	}
}
