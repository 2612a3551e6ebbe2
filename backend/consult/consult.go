// Package consult is the consultation as a doctor records it: the
// patient's consent, audio captured in the page or uploaded, stored in the
// blob store before anything else happens to it, transcribed by the
// engine the clinic chose (catching up after any outage), a visit note
// drafted from the transcript, edited and signed by the doctor, and the
// recordings removed when their retention ends.
package consult

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/assistant"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
	"github.com/healthhub/healthhub/backend/transcribe"
)

// Store is what the service needs of the database.
type Store interface {
	domain.ConsultStore
	PatientByID(ctx context.Context, id string) (*domain.Patient, error)
	DoctorByID(ctx context.Context, id string) (*domain.Doctor, error)
	AppointmentByID(ctx context.Context, id string) (*domain.Appointment, error)
	Setting(ctx context.Context, key string) (string, bool, error)
	PutSetting(ctx context.Context, key, value string) error
}

// Records describes a patient's record for the policy (portal.Service).
type Records interface {
	PatientResource(ctx context.Context, typ, patientID string) (policy.Resource, error)
	CallerDoctor(ctx context.Context) (*domain.Doctor, error)
}

// Asker asks the caller's default language model once (assistant.Service).
type Asker interface {
	AskOnce(ctx context.Context, purpose, system, prompt string, maxTokens int) (*assistant.OneOff, error)
}

// Sealer keeps engine keys encrypted at rest (secret.Keyring).
type Sealer interface {
	Seal(plaintext []byte, context string) (string, error)
	Open(sealed, context string) ([]byte, error)
}

// EngineFactory makes the engine the settings name; the server provides
// it (the AWS engines need the AWS configuration).
type EngineFactory func(ctx context.Context, s Settings, apiKey string) (transcribe.Engine, error)

// Options are the service's dependencies.
type Options struct {
	Store   Store
	Records Records
	Guard   *access.Guard
	Audit   audit.Recorder
	Blobs   blob.Store
	Keys    Sealer
	// Asker drafts notes with a model; nil drafts offline.
	Asker Asker
	// Engines makes transcription engines; nil knows openai-compatible
	// only.
	Engines EngineFactory
	// Decoder reads uploads.
	Decoder transcribe.Decoder
	// Defaults are the settings before an admin saves any (from the
	// environment).
	Defaults Settings
	// DefaultAPIKey goes with Defaults.
	DefaultAPIKey string
	// Events carries live segment events to other replicas; may be nil.
	Events domain.Publisher
	// PollEvery is how often pending recordings are looked for (a kick
	// from a stored chunk comes sooner).
	PollEvery time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

// Service implements consultations.
type Service struct {
	o Options

	mu     sync.Mutex
	subs   map[string]map[chan Event]struct{} // consultation id → listeners
	cached cachedEngine

	kick chan struct{}
}

type cachedEngine struct {
	version string
	engine  transcribe.Engine
}

// Event is what listeners of a consultation hear: a stored transcript
// segment, or transcription progress.
type Event struct {
	Type               string                    `json:"type"` // segment, transcribing
	Segment            *domain.TranscriptSegment `json:"segment,omitempty"`
	RecordingID        string                    `json:"recording_id,omitempty"`
	TranscribedSamples int64                     `json:"transcribed_samples,omitempty"`
	Error              string                    `json:"error,omitempty"`
}

// New makes the service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollEvery <= 0 {
		o.PollEvery = 30 * time.Second
	}
	if o.Decoder.MaxSamples == 0 {
		o.Decoder.MaxSamples = MaxUploadSamples
	}
	if o.Decoder.MaxBytes == 0 {
		o.Decoder.MaxBytes = MaxUploadBytes
	}
	return &Service{o: o, subs: map[string]map[chan Event]struct{}{}, kick: make(chan struct{}, 1)}
}

// Limits of what is accepted.
const (
	// SampleRate is the rate of every stored recording.
	SampleRate = transcribe.SampleRate
	// MaxFrameSamples bounds one streamed frame (1 s).
	MaxFrameSamples = SampleRate
	// MaxUploadSamples bounds an upload's audio: two hours.
	MaxUploadSamples = 2 * 60 * 60 * SampleRate
	// MaxUploadBytes bounds an uploaded file.
	MaxUploadBytes = 512 << 20
	// uploadChunkSamples is the size of an upload's stored chunks (30 s).
	uploadChunkSamples = 30 * SampleRate
	// MaxStreamSamples bounds one streamed recording: four hours.
	MaxStreamSamples = 4 * 60 * 60 * SampleRate
)

func newID() string { return uuid.NewString() }

// Subscribe returns the events of a consultation until cancel is called.
// A listener too slow to keep up misses events (it can read the
// transcript again).
func (s *Service) Subscribe(consultationID string) (<-chan Event, func()) {
	ch := make(chan Event, 64)
	s.mu.Lock()
	if s.subs[consultationID] == nil {
		s.subs[consultationID] = map[chan Event]struct{}{}
	}
	s.subs[consultationID][ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs[consultationID], ch)
		if len(s.subs[consultationID]) == 0 {
			delete(s.subs, consultationID)
		}
		s.mu.Unlock()
	}
}

func (s *Service) notify(consultationID string, ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs[consultationID] {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Kick asks the transcription worker to look for work now.
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
