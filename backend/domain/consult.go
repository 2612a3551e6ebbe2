package domain

import (
	"context"
	"time"
)

// Consultation is one visit as the doctor records it: the patient's
// consent to recording, the recordings, their transcript and the visit
// note drafted from it, edited and signed by the doctor.
type Consultation struct {
	ID            string `json:"id"`
	PatientID     string `json:"patient_id"`
	DoctorID      string `json:"doctor_id"`
	DoctorUserID  string `json:"doctor_user_id"`
	AppointmentID string `json:"appointment_id,omitempty"`
	// Consent: when and by whom the patient's consent to recording was
	// noted, and how it was given ("verbal", "written").
	ConsentAt   time.Time `json:"consent_at,omitzero"`
	ConsentBy   string    `json:"consent_by,omitempty"`
	ConsentHow  string    `json:"consent_how,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Note        VisitNote `json:"note"`
	NoteStatus  string    `json:"note_status"` // none, draft, signed
	NoteVersion int64     `json:"note_version"`
	// DraftedBy says what drafted the note: a model's provider and name,
	// "offline" for the extractive draft, empty when typed by hand.
	DraftedBy string    `json:"drafted_by,omitempty"`
	SignedAt  time.Time `json:"signed_at,omitzero"`
	SignedBy  string    `json:"signed_by,omitempty"`
	// Names joined in when read; not stored with the consultation.
	PatientName string `json:"patient_name,omitempty"`
	DoctorName  string `json:"doctor_name,omitempty"`
}

// Note states.
const (
	NoteNone   = "none"
	NoteDraft  = "draft"
	NoteSigned = "signed"
)

// VisitNote is the note's fixed structure.
type VisitNote struct {
	Reason   string `json:"reason"`
	History  string `json:"history"`
	Findings string `json:"findings"`
	Plan     string `json:"plan"`
}

// Recording is the audio of (part of) a consultation, kept as 16 kHz mono
// 16-bit PCM in numbered chunks in the blob store, each stored before it is
// acknowledged or transcribed.
type Recording struct {
	ID             string `json:"id"`
	ConsultationID string `json:"consultation_id"`
	PatientID      string `json:"patient_id"`
	Source         string `json:"source"` // stream, upload
	// Filename and Format of an upload ("recording.mp3", "mp3").
	Filename   string `json:"filename,omitempty"`
	SampleRate int    `json:"sample_rate"`
	// Samples stored so far, and Chunks (the next chunk's seq).
	Samples int64 `json:"samples"`
	Chunks  int64 `json:"chunks"`
	// Ended: no more audio will come (the doctor stopped, or an upload).
	Ended bool `json:"ended"`
	// TranscribedSamples: the audio up to here has been transcribed.
	TranscribedSamples int64 `json:"transcribed_samples"`
	// Engine transcribing it and the last failure, if the engine failed
	// (it is tried again later).
	Engine          string    `json:"engine,omitempty"`
	TranscribeError string    `json:"transcribe_error,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	// PurgedAt: the audio was removed by retention (the transcript stays).
	PurgedAt time.Time `json:"purged_at,omitzero"`
}

// Recording sources.
const (
	RecordingStream = "stream"
	RecordingUpload = "upload"
)

// AudioChunk is one stored piece of a recording.
type AudioChunk struct {
	RecordingID string `json:"recording_id"`
	Seq         int64  `json:"seq"`
	BlobKey     string `json:"blob_key"`
	// StartSample is the chunk's first sample in the recording.
	StartSample int64     `json:"start_sample"`
	Samples     int64     `json:"samples"`
	CreatedAt   time.Time `json:"created_at"`
}

// TranscriptSegment is a stretch of speech in a recording, in milliseconds
// from the recording's start.
type TranscriptSegment struct {
	ID             string    `json:"id"`
	RecordingID    string    `json:"recording_id"`
	ConsultationID string    `json:"consultation_id"`
	StartMS        int64     `json:"start_ms"`
	EndMS          int64     `json:"end_ms"`
	Speaker        string    `json:"speaker,omitempty"`
	Text           string    `json:"text"`
	CreatedAt      time.Time `json:"created_at"`
}

// ConsultFilter narrows ListConsultations. Zero values match everything.
type ConsultFilter struct {
	PatientID     string
	DoctorID      string
	AppointmentID string
	SignedOnly    bool
	Limit         int
}

// ConsultStore keeps consultations, their recordings, transcripts and notes.
type ConsultStore interface {
	CreateConsultation(ctx context.Context, c *Consultation) error
	// Consultation reads one, with the patient's and doctor's names.
	Consultation(ctx context.Context, id string) (*Consultation, error)
	// ListConsultations returns matches newest first, with names.
	ListConsultations(ctx context.Context, f ConsultFilter) ([]*Consultation, error)
	// SetConsent notes the patient's consent to recording (how: verbal or
	// written) by the user by at.
	SetConsent(ctx context.Context, id, how, by string, at time.Time) error
	// SaveNote stores the note when the stored version is version, and
	// bumps it; a different version, or a signed note, is a conflict.
	// status is the note's new status (draft, or signed with signedBy and
	// at).
	SaveNote(ctx context.Context, id string, version int64, note VisitNote, status, draftedBy, signedBy string, at time.Time) (*Consultation, error)

	CreateRecording(ctx context.Context, r *Recording) error
	Recording(ctx context.Context, id string) (*Recording, error)
	Recordings(ctx context.Context, consultationID string) ([]*Recording, error)
	// AddAudioChunk records a stored chunk at the recording's end: its seq
	// must be the recording's next (a repeat of a stored seq with the same
	// size reports false and changes nothing, for a client sending again
	// after a reconnect; another seq is a conflict). The recording's
	// sample count grows by the chunk's.
	AddAudioChunk(ctx context.Context, c *AudioChunk) (bool, error)
	// AudioChunks lists the recording's chunks overlapping samples
	// [from, to) in order (to <= 0: to the end).
	AudioChunks(ctx context.Context, recordingID string, from, to int64) ([]*AudioChunk, error)
	// EndRecording marks that no more audio will come.
	EndRecording(ctx context.Context, id string, at time.Time) error
	// PendingRecordings lists recordings with audio not yet transcribed,
	// not purged, oldest first.
	PendingRecordings(ctx context.Context, limit int) ([]*Recording, error)
	// AddTranscript stores segments and moves the recording's transcribed
	// mark to upTo in one transaction, only if the mark still is from
	// (another worker may have done it); it reports whether it did.
	AddTranscript(ctx context.Context, recordingID string, from, upTo int64, segs []*TranscriptSegment, engine string, at time.Time) (bool, error)
	// SetTranscribeError records the engine's last failure ("" clears it).
	SetTranscribeError(ctx context.Context, recordingID, engine, msg string, at time.Time) error
	// Transcript lists a consultation's segments by recording and time.
	Transcript(ctx context.Context, consultationID string) ([]*TranscriptSegment, error)

	// RecordingsSignedBefore lists recordings not purged whose
	// consultation's note was signed before t, and whose patient is not
	// on legal hold.
	RecordingsSignedBefore(ctx context.Context, t time.Time, limit int) ([]*Recording, error)
	// PurgeRecordingAudio deletes a recording's chunks, marks it purged
	// and queues their blob keys as garbage, in one transaction.
	PurgeRecordingAudio(ctx context.Context, id string, at time.Time) (int, error)
	// BlobGarbage lists queued keys no chunk refers to any more (keys still
	// referred to are dropped from the queue); DropBlobGarbage removes
	// keys from the queue once the blobs are deleted.
	BlobGarbage(ctx context.Context, limit int) ([]string, error)
	DropBlobGarbage(ctx context.Context, keys []string) error
}
