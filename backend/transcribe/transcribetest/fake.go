// Package transcribetest has a recogniser for tests that speaks OpenAI's
// /v1/audio/transcriptions: it hears bursts of sound as words named by
// their loudness, so a test knows exactly which words a recording holds,
// and when.
package transcribetest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/healthhub/healthhub/backend/transcribe"
)

// Word is one burst of sound in a synthetic recording.
type Word struct {
	N          int
	Start, End time.Duration
}

// Text is what the recogniser hears for word n.
func Text(n int) string { return fmt.Sprintf("word%d", n) }

const wordLen = 300 * time.Millisecond

func amplitude(n int) int16 { return int16(500 + 600*n) }

// MaxWords is the most words a recording may hold (the loudest stays
// within 16 bits).
const MaxWords = 50

// Recording makes words 1..n (n ≤ MaxWords, repeating from 1 above it)
// separated by silences of varying length, at 16 kHz.
func Recording(n int) ([]int16, []Word) {
	var pcm []int16
	var ws []Word
	rate := transcribe.SampleRate
	at := func() time.Duration { return transcribe.Duration(len(pcm), rate) }
	for i := 1; i <= n; i++ {
		k := (i-1)%MaxWords + 1
		gap := time.Duration(150+(i*37)%300) * time.Millisecond
		pcm = append(pcm, make([]int16, int(gap.Seconds()*float64(rate)))...)
		w := Word{N: k, Start: at()}
		for j := 0; j < int(wordLen.Seconds()*float64(rate)); j++ {
			a := amplitude(k)
			if (j/20)%2 == 1 {
				a = -a
			}
			pcm = append(pcm, a)
		}
		w.End = at()
		ws = append(ws, w)
	}
	return append(pcm, make([]int16, rate/2)...), ws
}

// Segment is a segment of the verbose JSON answer.
type Segment struct {
	ID    int     `json:"id"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Text  string  `json:"text"`
}

// Hear is the recogniser: each run of sound is a word, named by its
// loudness, timed from the start of the audio it was given.
func Hear(pcm []int16, rate int) []Segment {
	segs := []Segment{}
	const quiet = 200
	for i := 0; i < len(pcm); {
		if abs(pcm[i]) <= quiet {
			i++
			continue
		}
		start, peak := i, int16(0)
		for silent := 0; i < len(pcm) && silent < rate/20; i++ {
			if abs(pcm[i]) <= quiet {
				silent++
				continue
			}
			silent, peak = 0, max(peak, abs(pcm[i]))
		}
		n := int(math.Round(float64(peak-500) / 600))
		segs = append(segs, Segment{ID: len(segs), Start: float64(start) / float64(rate), End: float64(i) / float64(rate), Text: " " + Text(n)})
	}
	return segs
}

func abs(s int16) int16 {
	if s < 0 {
		return -s
	}
	return s
}

// Server is a running recogniser.
type Server struct {
	*httptest.Server
	// Requests counts the transcriptions answered; Down makes it answer
	// 503 while set.
	Requests atomic.Int64
	Down     atomic.Bool
}

// NewServer starts a recogniser at URL + "/v1"; Close stops it.
func NewServer() *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/audio/transcriptions" || r.Method != http.MethodPost {
			http.Error(w, `{"error":{"message":"no such route"}}`, http.StatusNotFound)
			return
		}
		if s.Down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"message":"the model is loading","type":"server_error"}}`))
			return
		}
		f, _, err := r.FormFile("file")
		if err != nil {
			http.Error(w, `{"error":{"message":"no file"}}`, http.StatusBadRequest)
			return
		}
		defer f.Close()
		pcm, rate, err := transcribe.DecodeWAV(f, 256<<20)
		if err != nil {
			http.Error(w, `{"error":{"message":"not a WAV file"}}`, http.StatusBadRequest)
			return
		}
		s.Requests.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"task": "transcribe", "language": "english",
			"duration": transcribe.Duration(len(pcm), rate).Seconds(), "text": "…", "segments": Hear(pcm, rate)})
	}))
	return s
}
