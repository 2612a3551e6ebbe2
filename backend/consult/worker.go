package consult

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
	"github.com/healthhub/healthhub/backend/transcribe"
)

// Run transcribes stored audio until ctx ends: whenever a chunk is stored
// or a recording ends (Kick), and every PollEvery for what an earlier
// failure, another replica or a restart left behind. A failing engine is
// tried again on the next round; the audio waits, stored.
//
// Recordings are transcribed side by side, up to MaxParallel at once, each
// by one goroutine at a time, so a long window of one (an engine that
// takes audio at the speaker's pace) never holds up the others.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.o.PollEvery)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	// busy: recordings being transcribed; again: those asked for again
	// meanwhile (a chunk stored, the recording stopped), looked at once
	// more when their goroutine ends.
	busy, again := map[string]bool{}, map[string]bool{}
	var mu sync.Mutex
	for {
		if err := s.dispatch(ctx, &wg, &mu, busy, again); err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("consult: transcription round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
	}
}

// MaxParallel bounds the recordings transcribed at once by one process.
const MaxParallel = 32

// dispatch starts a goroutine for each pending recording not already
// being transcribed; it transcribes window after window while there is
// one to send.
func (s *Service) dispatch(ctx context.Context, wg *sync.WaitGroup, mu *sync.Mutex, busy, again map[string]bool) error {
	eng, _, err := s.engine(ctx)
	if err != nil || eng == nil {
		return err
	}
	recs, err := s.o.Store.PendingRecordings(ctx, 200)
	if err != nil {
		return err
	}
	for _, r := range recs {
		mu.Lock()
		if busy[r.ID] {
			again[r.ID] = true
			mu.Unlock()
			continue
		}
		if len(busy) >= MaxParallel {
			mu.Unlock()
			continue
		}
		busy[r.ID] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			progressed := s.drain(ctx, eng, r)
			mu.Lock()
			delete(busy, r.ID)
			asked := again[r.ID]
			delete(again, r.ID)
			mu.Unlock()
			// Look again only when it may help: this recording got more
			// audio meanwhile, or a slot is free for one that waited.
			// Nothing ready and nothing new waits for the next chunk or
			// the poll, never in a loop.
			if asked || progressed {
				s.Kick()
			}
		}()
	}
	return nil
}

// drain transcribes r's windows until none is ready or the engine fails,
// reporting whether it transcribed any.
func (s *Service) drain(ctx context.Context, eng transcribe.Engine, r *domain.Recording) (progressed bool) {
	for ctx.Err() == nil {
		ok, err := s.transcribeOne(ctx, eng, r)
		if err != nil {
			if ctx.Err() == nil {
				s.o.Logger.Warn("consult: transcription", "recording_id", r.ID, "err", err)
			}
			return progressed
		}
		if !ok {
			return progressed
		}
		progressed = true
		next, err := s.o.Store.Recording(ctx, r.ID)
		if err != nil {
			if ctx.Err() == nil {
				s.o.Logger.Warn("consult: read recording", "recording_id", r.ID, "err", err)
			}
			return progressed
		}
		r = next
	}
	return progressed
}

// TranscribePending sends each recording's next window of audio to the
// engine and stores what comes back, returning how many windows were
// transcribed. With engine "none" nothing is done: the audio is kept for
// later.
func (s *Service) TranscribePending(ctx context.Context) (int, error) {
	eng, _, err := s.engine(ctx)
	if err != nil || eng == nil {
		return 0, err
	}
	recs, err := s.o.Store.PendingRecordings(ctx, 100)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, r := range recs {
		ok, err := s.transcribeOne(ctx, eng, r)
		if err != nil {
			return done, err
		}
		if ok {
			done++
		}
	}
	return done, nil
}

// transcribeOne transcribes r's next window; an engine's failure is
// recorded on the recording (and told to listeners) and left for the next
// round, and only the database's failure is returned.
func (s *Service) transcribeOne(ctx context.Context, eng transcribe.Engine, r *domain.Recording) (bool, error) {
	ok, err := s.transcribeNext(ctx, eng, r)
	if err == nil {
		if ok && r.TranscribeError != "" {
			err = s.o.Store.SetTranscribeError(ctx, r.ID, eng.Name(), "", s.o.Now())
		}
		return ok, err
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	msg := describeEngineError(err)
	s.o.Logger.Warn("consult: transcription failed; the audio is kept and will be tried again", "recording_id", r.ID, "engine", eng.Name(), "err", msg)
	if serr := s.o.Store.SetTranscribeError(ctx, r.ID, eng.Name(), msg, s.o.Now()); serr != nil {
		return false, serr
	}
	r.TranscribeError = msg
	s.notify(r.ConsultationID, Event{Type: "transcribing", RecordingID: r.ID, TranscribedSamples: r.TranscribedSamples, Error: msg})
	return false, nil
}

// describeEngineError keeps an engine's message short for the record.
func describeEngineError(err error) string {
	msg := err.Error()
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return msg
}

// WholeTranscriber is an engine with a way of its own for a whole
// uploaded recording (Amazon Transcribe Medical's batch jobs).
type WholeTranscriber interface {
	TranscribeWhole(ctx context.Context, pcm []int16, rate int) ([]transcribe.Segment, error)
}

// transcribeNext transcribes the recording's next window, if there is one
// worth sending.
func (s *Service) transcribeNext(ctx context.Context, eng transcribe.Engine, r *domain.Recording) (bool, error) {
	if whole, ok := eng.(WholeTranscriber); ok && r.Source == domain.RecordingUpload && r.Ended && r.TranscribedSamples == 0 {
		pcm, err := s.readAudio(ctx, r.ID, 0, r.Samples)
		if err != nil {
			return false, err
		}
		segs, err := whole.TranscribeWhole(ctx, pcm, r.SampleRate)
		if err != nil {
			return false, err
		}
		return s.storeSegments(ctx, eng, r, transcribe.Window{End: r.Samples, Own: r.Samples}, segs)
	}
	w, pcm, ok, err := transcribe.LivePacing.Next(r.Samples, r.TranscribedSamples, r.Ended, r.SampleRate, func(from, to int64) ([]int16, error) {
		return s.readAudio(ctx, r.ID, from, to)
	})
	if err != nil || !ok {
		return false, err
	}
	segs, err := eng.Transcribe(ctx, pcm, r.SampleRate)
	if err != nil {
		return false, err
	}
	return s.storeSegments(ctx, eng, r, w, segs)
}

// storeSegments keeps the segments the window answers for and moves the
// recording's mark past it.
func (s *Service) storeSegments(ctx context.Context, eng transcribe.Engine, r *domain.Recording, w transcribe.Window, segs []transcribe.Segment) (bool, error) {
	offset := transcribe.Duration(int(w.Start), r.SampleRate)
	now := s.o.Now()
	var out []*domain.TranscriptSegment
	for _, sg := range segs {
		sg.Start += offset
		sg.End += offset
		if !w.Keep(sg, r.SampleRate) {
			continue
		}
		out = append(out, &domain.TranscriptSegment{ID: newID(), RecordingID: r.ID, ConsultationID: r.ConsultationID,
			StartMS: sg.Start.Milliseconds(), EndMS: sg.End.Milliseconds(), Speaker: sg.Speaker, Text: sg.Text, CreatedAt: now})
	}
	stored, err := s.o.Store.AddTranscript(ctx, r.ID, w.Done, w.Own, out, eng.Name(), now)
	if err != nil || !stored {
		return false, err
	}
	for _, sg := range out {
		s.notify(r.ConsultationID, Event{Type: "segment", Segment: sg})
	}
	s.notify(r.ConsultationID, Event{Type: "transcribing", RecordingID: r.ID, TranscribedSamples: w.Own})
	return true, nil
}

// Transcript returns a consultation's transcript and recordings (the
// treating doctors); the read is audited.
func (s *Service) Transcript(ctx context.Context, id string) ([]*domain.TranscriptSegment, []*domain.Recording, error) {
	c, err := s.load(ctx, policy.Consultation, policy.Read, id)
	if err != nil {
		return nil, nil, err
	}
	// The recordings first: segments are stored with the mark that says
	// how far they go, so the marks read are never ahead of the segments.
	recs, err := s.o.Store.Recordings(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	segs, err := s.o.Store.Transcript(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return segs, recs, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionRead, ResourceType: ResourceTranscript, ResourceID: c.ID, PatientID: c.PatientID,
		Detail: fmt.Sprintf("segments=%d", len(segs))})
}

// Listen authorizes the caller to follow a consultation's transcript live.
func (s *Service) Listen(ctx context.Context, id string) (*domain.Consultation, error) {
	return s.load(ctx, policy.Consultation, policy.Read, id)
}
