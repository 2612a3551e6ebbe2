package transcribe

import (
	"context"
	"time"
)

// Segment is a stretch of speech: when in the recording, who spoke where
// the engine tells speakers apart, and what was said.
type Segment struct {
	Start   time.Duration `json:"start_ns"`
	End     time.Duration `json:"end_ns"`
	Speaker string        `json:"speaker,omitempty"`
	Text    string        `json:"text"`
}

// Engine transcribes a recording (16-bit mono PCM at rate) into segments
// in time order.
type Engine interface {
	Name() string
	Transcribe(ctx context.Context, pcm []int16, rate int) ([]Segment, error)
}
