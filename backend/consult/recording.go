package consult

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
	"github.com/healthhub/healthhub/backend/transcribe"
)

// Session takes one recording's audio as it is captured: each chunk is
// stored (encrypted, in the blob store) before it is acknowledged, so a
// chunk the client has no acknowledgement for is sent again, and a chunk
// stored twice is kept once.
type Session struct {
	s   *Service
	c   *domain.Consultation
	rec *domain.Recording
}

// Recording is the session's recording as it stands.
func (x *Session) Recording() *domain.Recording { r := *x.rec; return &r }

// Consultation is the session's consultation.
func (x *Session) Consultation() *domain.Consultation { return x.c }

// checkRecordable: only the consultation's own doctor records, once the
// patient's consent is noted, and never after the note is signed.
func (s *Service) recordable(ctx context.Context, id string) (*domain.Consultation, error) {
	c, err := s.load(ctx, policy.Consultation, policy.Update, id)
	if err != nil {
		return nil, err
	}
	if c.ConsentAt.IsZero() {
		return nil, domain.Invalid("consent", "Note the patient's consent to recording first.")
	}
	if c.NoteStatus == domain.NoteSigned {
		return nil, domain.Errorf(domain.ECONFLICT, "The visit note is signed; a signed consultation takes no more recordings.")
	}
	return c, nil
}

// Record starts a new recording of the consultation (recordingID empty) or
// resumes one that has not ended, at rate samples a second (16000 only).
func (s *Service) Record(ctx context.Context, consultationID, recordingID string, rate int) (*Session, error) {
	if rate != SampleRate {
		return nil, domain.Invalid("sample_rate", "Send 16 kHz mono audio (sample_rate 16000); %d was given.", rate)
	}
	c, err := s.recordable(ctx, consultationID)
	if err != nil {
		return nil, err
	}
	if recordingID != "" {
		r, err := s.o.Store.Recording(ctx, recordingID)
		if domain.IsCode(err, domain.ENOTFOUND) || (err == nil && r.ConsultationID != c.ID) {
			return nil, domain.Invalid("recording_id", "This consultation has no recording with that id.")
		} else if err != nil {
			return nil, err
		}
		if r.Ended {
			return nil, domain.Errorf(domain.ECONFLICT, "That recording has ended; start a new one.")
		}
		return &Session{s: s, c: c, rec: r}, nil
	}
	now := s.o.Now()
	r := &domain.Recording{ID: newID(), ConsultationID: c.ID, PatientID: c.PatientID, Source: domain.RecordingStream, SampleRate: SampleRate, CreatedAt: now, UpdatedAt: now}
	if err := s.o.Store.CreateRecording(ctx, r); err != nil {
		return nil, err
	}
	if err := s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: ResourceRecording, ResourceID: r.ID, PatientID: c.PatientID, Detail: "source=stream"}); err != nil {
		return nil, err
	}
	return &Session{s: s, c: c, rec: r}, nil
}

// Add stores chunk seq (little-endian 16-bit samples) and reports the
// recording's samples after it. A chunk already stored is acknowledged
// again without being stored twice.
func (x *Session) Add(ctx context.Context, seq int64, pcm []byte) (int64, error) {
	if seq > x.rec.Chunks {
		// A connection dropped a moment ago may have stored more since
		// this one started.
		if err := x.refresh(ctx); err != nil {
			return 0, err
		}
	}
	switch {
	case len(pcm) == 0:
		return 0, domain.Invalid("audio", "The audio frame is empty.")
	case len(pcm)%2 != 0:
		return 0, domain.Invalid("audio", "The audio frame has an odd number of bytes; send 16-bit samples.")
	case len(pcm)/2 > MaxFrameSamples:
		return 0, domain.Invalid("audio", "The audio frame holds %d samples; send at most %d (one second) per frame.", len(pcm)/2, MaxFrameSamples)
	case seq < x.rec.Chunks:
		// Sent again after a reconnect: the store checks it is the same.
	case seq > x.rec.Chunks:
		return 0, domain.Errorf(domain.ECONFLICT, "Audio frame %d came before frame %d; send the frames in order from %d.", seq, x.rec.Chunks, x.rec.Chunks)
	case x.rec.Samples+int64(len(pcm)/2) > MaxStreamSamples:
		return 0, domain.Invalid("audio", "The recording has reached its limit of %s; stop and start a new one.", transcribe.Duration(MaxStreamSamples, SampleRate))
	}
	added, err := x.s.storeChunk(ctx, x.rec, seq, pcm)
	if err != nil {
		return 0, err
	}
	if !added {
		if err := x.refresh(ctx); err != nil {
			return 0, err
		}
	}
	x.s.Kick()
	return x.rec.Samples, nil
}

// refresh reads the recording's progress again.
func (x *Session) refresh(ctx context.Context) error {
	r, err := x.s.o.Store.Recording(ctx, x.rec.ID)
	if err != nil {
		return err
	}
	x.rec = r
	return nil
}

// chunkSaltLen is the length of the salt each stored chunk starts with.
const chunkSaltLen = 16

// chunkSalt makes a chunk's stored content, and so its key, its own: the
// same audio (a second of silence) in two recordings, or twice in one, is
// two blobs, so that removing one recording's audio can never remove
// another's. A chunk sent again has the same salt and so the same key.
func chunkSalt(recordingID string, seq int64) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "healthhub audio chunk\x00%s\x00%d", recordingID, seq))
	return h[:chunkSaltLen]
}

// storeChunk puts the audio in the blob store, then records it at the
// recording's end, and keeps r up to date.
func (s *Service) storeChunk(ctx context.Context, r *domain.Recording, seq int64, pcm []byte) (bool, error) {
	ref, err := s.o.Blobs.Put(ctx, io.MultiReader(bytes.NewReader(chunkSalt(r.ID, seq)), bytes.NewReader(pcm)))
	if err != nil {
		return false, fmt.Errorf("store audio: %w", err)
	}
	ch := &domain.AudioChunk{RecordingID: r.ID, Seq: seq, BlobKey: string(ref.Key), StartSample: r.Samples, Samples: int64(len(pcm) / 2), CreatedAt: s.o.Now()}
	added, err := s.o.Store.AddAudioChunk(ctx, ch)
	if err != nil {
		return false, err
	}
	if added {
		r.Chunks, r.Samples = seq+1, r.Samples+ch.Samples
	}
	return added, nil
}

// Stop ends the recording: transcription finishes what is left.
func (x *Session) Stop(ctx context.Context) error {
	if err := x.s.o.Store.EndRecording(ctx, x.rec.ID, x.s.o.Now()); err != nil {
		return err
	}
	x.rec.Ended = true
	x.s.Kick()
	return x.s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: ResourceRecording, ResourceID: x.rec.ID, PatientID: x.c.PatientID,
		Detail: fmt.Sprintf("ended samples=%d chunks=%d", x.rec.Samples, x.rec.Chunks)})
}

// Upload stores a recording given as a file (WAV, FLAC, Ogg/Opus, MP3,
// M4A …), converted to 16 kHz mono; at most two hours.
func (s *Service) Upload(ctx context.Context, consultationID, filename, contentType string, body io.Reader) (*domain.Recording, error) {
	c, err := s.recordable(ctx, consultationID)
	if err != nil {
		return nil, err
	}
	if ct := contentType; ct != "" && !strings.HasPrefix(ct, "audio/") && !strings.HasPrefix(ct, "video/") && ct != "application/octet-stream" && ct != "application/ogg" {
		return nil, domain.Invalid("file", "Send the recording itself as the body (Content-Type audio/… or application/octet-stream), not %s.", ct)
	}
	filename = cleanName(filename)
	pcm, err := s.o.Decoder.Decode(ctx, body)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.o.Logger.Info("consult: upload refused", "consultation_id", c.ID, "reason", err)
		if errors.Is(err, transcribe.ErrNoFFmpeg) {
			return nil, domain.Errorf(domain.EINVALID, "%s", capitalize(err.Error()))
		}
		if strings.Contains(err.Error(), "larger than") || strings.Contains(err.Error(), "longer than") {
			return nil, domain.Errorf(domain.ETOOLARGE, "%s.", capitalize(err.Error()))
		}
		return nil, domain.Invalid("file", "%s. Upload a WAV, FLAC, Ogg/Opus, MP3 or M4A recording.", capitalize(err.Error()))
	}
	now := s.o.Now()
	r := &domain.Recording{ID: newID(), ConsultationID: c.ID, PatientID: c.PatientID, Source: domain.RecordingUpload, Filename: filename, SampleRate: SampleRate, CreatedAt: now, UpdatedAt: now}
	if err := s.o.Store.CreateRecording(ctx, r); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, 2*uploadChunkSamples)
	for seq, off := int64(0), 0; off < len(pcm); seq, off = seq+1, off+uploadChunkSamples {
		part := pcm[off:min(off+uploadChunkSamples, len(pcm))]
		buf = buf[:2*len(part)]
		for i, v := range part {
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(v))
		}
		if _, err := s.storeChunk(ctx, r, seq, buf); err != nil {
			return nil, err
		}
	}
	if err := s.o.Store.EndRecording(ctx, r.ID, s.o.Now()); err != nil {
		return nil, err
	}
	r.Ended = true
	s.Kick()
	return r, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: ResourceRecording, ResourceID: r.ID, PatientID: c.PatientID,
		Detail: fmt.Sprintf("source=upload samples=%d", r.Samples)})
}

func cleanName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return -1
		}
		return r
	}, name)
	if len(name) > 200 {
		name = name[:200]
	}
	return name
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Playback writes a recording as a 16 kHz mono WAV file; the playback is
// audited. It returns the recording first so a handler can set headers.
func (s *Service) Playback(ctx context.Context, consultationID, recordingID string) (*domain.Recording, func(w io.Writer) error, error) {
	c, err := s.load(ctx, policy.Consultation, policy.Read, consultationID)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.o.Store.Recording(ctx, recordingID)
	if domain.IsCode(err, domain.ENOTFOUND) || (err == nil && r.ConsultationID != c.ID) {
		return nil, nil, domain.Errorf(domain.ENOTFOUND, "This consultation has no recording with that id.")
	} else if err != nil {
		return nil, nil, err
	}
	if !r.PurgedAt.IsZero() {
		return nil, nil, domain.Errorf(domain.ENOTFOUND, "The recording's audio was removed on %s under the clinic's retention rules; the transcript remains.", r.PurgedAt.Format("2006-01-02"))
	}
	if err := s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionExport, ResourceType: ResourceRecording, ResourceID: r.ID, PatientID: c.PatientID, Detail: "playback"}); err != nil {
		return nil, nil, err
	}
	return r, func(w io.Writer) error {
		if err := writeWAVHeader(w, r.Samples); err != nil {
			return err
		}
		chunks, err := s.o.Store.AudioChunks(ctx, r.ID, 0, 0)
		if err != nil {
			return err
		}
		for _, ch := range chunks {
			if err := s.copyChunk(ctx, w, ch); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func (s *Service) copyChunk(ctx context.Context, w io.Writer, ch *domain.AudioChunk) error {
	b, err := s.chunkAudio(ctx, ch)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// chunkAudio reads a chunk's samples (little-endian bytes), checked.
func (s *Service) chunkAudio(ctx context.Context, ch *domain.AudioChunk) ([]byte, error) {
	rc, err := s.o.Blobs.Open(ctx, blob.Key(ch.BlobKey))
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != chunkSaltLen+2*ch.Samples || !bytes.Equal(b[:chunkSaltLen], chunkSalt(ch.RecordingID, ch.Seq)) {
		return nil, fmt.Errorf("audio chunk %d of recording %s holds %d bytes, not %d: %w", ch.Seq, ch.RecordingID, len(b), chunkSaltLen+2*ch.Samples, blob.ErrCorrupt)
	}
	return b[chunkSaltLen:], nil
}

// writeWAVHeader writes the 44-byte header of a 16 kHz mono 16-bit file of
// n samples.
func writeWAVHeader(w io.Writer, n int64) error {
	var h [44]byte
	size := uint32(2 * n)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+size)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], SampleRate)
	binary.LittleEndian.PutUint32(h[28:], 2*SampleRate)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], size)
	_, err := w.Write(h[:])
	return err
}

// readAudio returns samples [from, to) of a recording from its chunks.
func (s *Service) readAudio(ctx context.Context, recordingID string, from, to int64) ([]int16, error) {
	chunks, err := s.o.Store.AudioChunks(ctx, recordingID, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]int16, 0, to-from)
	for _, ch := range chunks {
		b, err := s.chunkAudio(ctx, ch)
		if err != nil {
			return nil, err
		}
		lo, hi := max(from, ch.StartSample)-ch.StartSample, min(to, ch.StartSample+ch.Samples)-ch.StartSample
		for i := lo; i < hi; i++ {
			out = append(out, int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
	}
	return out, nil
}
