package transcribe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// OpenAIOptions configure an engine for a server that speaks OpenAI's
// /v1/audio/transcriptions.
type OpenAIOptions struct {
	// BaseURL ends in /v1, as for the assistant's OpenAI-compatible
	// providers; empty is OpenAI's.
	BaseURL string
	APIKey  string
	// Model is the server's model name (whisper-1, a whisper.cpp model…).
	Model string
	// Language is an ISO-639-1 hint ("en"); empty lets the server detect.
	Language string
	// MaxChunk bounds the audio of one request (default 60 s: servers cap
	// uploads, and a shorter request fails less); Overlap is the audio
	// neighbouring chunks share (default 2 s).
	MaxChunk time.Duration
	Overlap  time.Duration
	// HTTPClient is used for the requests; nil is a client with a 5
	// minute timeout.
	HTTPClient *http.Client
}

// OpenAI transcribes through /v1/audio/transcriptions, in chunks cut at
// pauses with overlap; a segment heard by two chunks is kept once, from
// the chunk that answers for the moment it is in.
type OpenAI struct {
	client *openai.Client
	opts   OpenAIOptions
}

// NewOpenAI returns the engine.
func NewOpenAI(o OpenAIOptions) *OpenAI {
	if o.MaxChunk <= 0 {
		o.MaxChunk = 60 * time.Second
	}
	if o.Overlap <= 0 {
		o.Overlap = 2 * time.Second
	}
	if o.Model == "" {
		o.Model = openai.Whisper1
	}
	cfg := openai.DefaultConfig(o.APIKey)
	if o.BaseURL != "" {
		cfg.BaseURL = strings.TrimRight(o.BaseURL, "/")
	}
	if o.HTTPClient != nil {
		cfg.HTTPClient = o.HTTPClient
	} else {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Minute}
	}
	return &OpenAI{client: openai.NewClientWithConfig(cfg), opts: o}
}

// Name is "openai-compatible".
func (e *OpenAI) Name() string { return "openai-compatible" }

// Transcribe sends each chunk in turn and joins their segments.
func (e *OpenAI) Transcribe(ctx context.Context, pcm []int16, rate int) ([]Segment, error) {
	var out []Segment
	chunks := Split(pcm, rate, e.opts.MaxChunk, e.opts.Overlap)
	for i, c := range chunks {
		segs, err := e.chunk(ctx, c, rate)
		if err != nil {
			return out, fmt.Errorf("transcribe the audio from %s: %w", c.Offset.Round(time.Second), err)
		}
		for _, s := range segs {
			mid := (s.Start + s.End) / 2
			if mid < c.OwnStart || (mid >= c.OwnEnd && i < len(chunks)-1) {
				continue // heard again by the neighbour that answers for it
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func (e *OpenAI) chunk(ctx context.Context, c Chunk, rate int) ([]Segment, error) {
	resp, err := e.client.CreateTranscription(ctx, openai.AudioRequest{
		Model: e.opts.Model, FilePath: "audio.wav", Reader: bytes.NewReader(WAVBytes(c.PCM, rate)),
		Language: e.opts.Language, Format: openai.AudioResponseFormatVerboseJSON,
		TimestampGranularities: []openai.TranscriptionTimestampGranularity{openai.TranscriptionTimestampGranularitySegment},
	})
	if err != nil {
		return nil, describe(err)
	}
	segs := make([]Segment, 0, len(resp.Segments))
	for _, s := range resp.Segments {
		text := strings.TrimSpace(s.Text)
		if text == "" || s.End < s.Start || s.Start < 0 {
			continue
		}
		segs = append(segs, Segment{Start: c.Offset + seconds(s.Start), End: c.Offset + seconds(s.End), Text: text})
	}
	if len(segs) == 0 && strings.TrimSpace(resp.Text) != "" {
		// A server that answers with text only: one segment for the chunk.
		segs = append(segs, Segment{Start: c.OwnStart, End: c.OwnEnd, Text: strings.TrimSpace(resp.Text)})
	}
	return segs, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// describe turns the server's refusal into what an admin can act on.
func describe(err error) error {
	var api *openai.APIError
	var req *openai.RequestError
	switch {
	case errors.As(err, &api):
		switch api.HTTPStatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("the transcription server refused the API key (%d): %s", api.HTTPStatusCode, api.Message)
		case http.StatusNotFound:
			return fmt.Errorf("the transcription server has no /audio/transcriptions or no such model (%d): %s", api.HTTPStatusCode, api.Message)
		case http.StatusRequestEntityTooLarge:
			return fmt.Errorf("the transcription server refused a chunk as too large: lower the chunk length: %s", api.Message)
		}
		return fmt.Errorf("the transcription server answered %d: %s", api.HTTPStatusCode, api.Message)
	case errors.As(err, &req):
		return fmt.Errorf("the transcription server answered %d", req.HTTPStatusCode)
	}
	return err
}
