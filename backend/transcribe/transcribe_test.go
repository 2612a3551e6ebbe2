package transcribe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// word is one burst of sound in a synthetic recording: its number is
// carried by its loudness, so a fake recogniser can tell words apart.
type word struct {
	n          int
	start, end time.Duration
}

const wordLen = 300 * time.Millisecond

func amplitude(n int) int16 { return int16(500 + 600*n) }

// recording makes words separated by silences of varying length.
func recording(words int) ([]int16, []word) {
	var pcm []int16
	var ws []word
	at := func() time.Duration { return Duration(len(pcm), SampleRate) }
	for n := 1; n <= words; n++ {
		gap := time.Duration(150+(n*37)%300) * time.Millisecond
		pcm = append(pcm, make([]int16, int(gap.Seconds()*SampleRate))...)
		w := word{n: n, start: at()}
		for i := 0; i < int(wordLen.Seconds()*SampleRate); i++ {
			a := amplitude(n)
			if (i/20)%2 == 1 {
				a = -a
			}
			pcm = append(pcm, a)
		}
		w.end = at()
		ws = append(ws, w)
	}
	return append(pcm, make([]int16, SampleRate/2)...), ws
}

// hear is the fake recogniser: each run of sound is a word, named by its
// loudness, timed from the start of the audio it was given.
func hear(pcm []int16, rate int) []map[string]any {
	var segs []map[string]any
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
		end := i
		n := int(math.Round(float64(peak-500) / 600))
		segs = append(segs, map[string]any{"id": len(segs), "start": float64(start) / float64(rate), "end": float64(end) / float64(rate),
			"text": fmt.Sprintf(" word%d", n)})
	}
	return segs
}

func abs(s int16) int16 {
	if s < 0 {
		return -s
	}
	return s
}

// fakeServer speaks /v1/audio/transcriptions as OpenAI documents it.
func fakeServer(t *testing.T, requests *int) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/audio/transcriptions" || r.Method != http.MethodPost {
			http.Error(w, `{"error":{"message":"no such route"}}`, http.StatusNotFound)
			return
		}
		if r.Header.Get("Authorization") != "Bearer secret-key" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}`)
			return
		}
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			t.Errorf("multipart form: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.FormValue("model") != "whisper-small" || r.FormValue("response_format") != "verbose_json" ||
			r.FormValue("timestamp_granularities[]") != "segment" || r.FormValue("language") != "en" {
			t.Errorf("form fields: %v", r.MultipartForm.Value)
		}
		f, _, err := r.FormFile("file")
		if err != nil {
			t.Errorf("no file: %v", err)
			return
		}
		defer f.Close()
		pcm, rate, err := DecodeWAV(f, 64<<20)
		if err != nil || rate != SampleRate {
			t.Errorf("the audio sent: rate %d, %v", rate, err)
			return
		}
		*requests++
		json.NewEncoder(w).Encode(map[string]any{"task": "transcribe", "language": "english",
			"duration": Duration(len(pcm), rate).Seconds(), "text": "…", "segments": hear(pcm, rate)})
	}))
}

// A long recording goes in chunks cut at pauses with overlap; every word
// comes back once, in order, at its time in the whole recording.
func TestOpenAICompatibleChunksAndJoins(t *testing.T) {
	pcm, words := recording(50) // the loudest word stays within 16 bits
	var requests int
	srv := fakeServer(t, &requests)
	defer srv.Close()
	e := NewOpenAI(OpenAIOptions{BaseURL: srv.URL + "/v1", APIKey: "secret-key", Model: "whisper-small", Language: "en",
		MaxChunk: 5 * time.Second, Overlap: time.Second})
	segs, err := e.Transcribe(context.Background(), pcm, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	if want := int(Duration(len(pcm), SampleRate) / (4 * time.Second)); requests < want {
		t.Fatalf("%d requests for %s of audio in chunks of at most 5 s", requests, Duration(len(pcm), SampleRate))
	}
	if len(segs) != len(words) {
		t.Fatalf("%d segments for %d words: %+v", len(segs), len(words), segs)
	}
	const slack = 60 * time.Millisecond
	for i, w := range words {
		s := segs[i]
		if s.Text != fmt.Sprintf("word%d", w.n) || (s.Start-w.start).Abs() > slack || (s.End-w.end).Abs() > slack {
			t.Fatalf("segment %d = %+v, want word%d at %s–%s", i, s, w.n, w.start, w.end)
		}
	}
}

func TestOpenAICompatibleSaysWhatIsWrong(t *testing.T) {
	var requests int
	srv := fakeServer(t, &requests)
	defer srv.Close()
	pcm, _ := recording(2)
	for _, tc := range []struct {
		opts OpenAIOptions
		want string
	}{
		{OpenAIOptions{BaseURL: srv.URL + "/v1", APIKey: "wrong", Model: "whisper-small", Language: "en"}, "refused the API key"},
		{OpenAIOptions{BaseURL: srv.URL + "/elsewhere", APIKey: "secret-key", Model: "whisper-small", Language: "en"}, "no /audio/transcriptions"},
	} {
		_, err := NewOpenAI(tc.opts).Transcribe(context.Background(), pcm, SampleRate)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error saying %q", tc.opts, err, tc.want)
		}
	}
}

// Split's chunks answer for the whole recording without gaps or overlap,
// are never longer than asked, and are cut in silence where there is some.
func TestSplitCutsAtPauses(t *testing.T) {
	pcm, words := recording(40)
	total := Duration(len(pcm), SampleRate)
	chunks := Split(pcm, SampleRate, 4*time.Second, 500*time.Millisecond)
	if len(chunks) < int(total/(4*time.Second)) {
		t.Fatalf("%d chunks for %s", len(chunks), total)
	}
	var own time.Duration
	for i, c := range chunks {
		if c.OwnStart != own || c.OwnEnd <= c.OwnStart || Duration(len(c.PCM), SampleRate) > 4*time.Second+time.Millisecond {
			t.Fatalf("chunk %d: offset %s, %s long, answers for %s–%s (previous ended %s)", i, c.Offset, Duration(len(c.PCM), SampleRate), c.OwnStart, c.OwnEnd, own)
		}
		if c.Offset > c.OwnStart || c.Offset+Duration(len(c.PCM), SampleRate) < c.OwnEnd {
			t.Fatalf("chunk %d does not hold the audio it answers for", i)
		}
		own = c.OwnEnd
		if i < len(chunks)-1 {
			for _, w := range words {
				if c.OwnEnd > w.start && c.OwnEnd < w.end {
					t.Fatalf("chunk %d is cut inside word %d (%s–%s) at %s", i, w.n, w.start, w.end, c.OwnEnd)
				}
			}
		}
	}
	if own != total {
		t.Fatalf("the chunks answer up to %s of %s", own, total)
	}
	if got := Split(pcm[:SampleRate], SampleRate, 4*time.Second, 500*time.Millisecond); len(got) != 1 || got[0].OwnEnd != time.Second {
		t.Fatalf("a short recording: %+v", got)
	}
}

func TestWAVRoundTripAndRefusals(t *testing.T) {
	pcm, _ := recording(3)
	got, rate, err := DecodeWAV(bytes.NewReader(WAVBytes(pcm, SampleRate)), 64<<20)
	if err != nil || rate != SampleRate || len(got) != len(pcm) || got[100] != pcm[100] {
		t.Fatalf("round trip: %d samples at %d, %v", len(got), rate, err)
	}
	stereo := WAVBytes(pcm, SampleRate)
	stereo[22] = 2
	for name, b := range map[string][]byte{
		"stereo":    stereo,
		"truncated": WAVBytes(pcm, SampleRate)[:1000],
		"not wav":   []byte("ID3\x04 an mp3 file"),
		"too long":  WAVBytes(pcm, SampleRate),
	} {
		limit := int64(64 << 20)
		if name == "too long" {
			limit = 100
		}
		if _, _, err := DecodeWAV(bytes.NewReader(b), limit); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecodeWAV(f *testing.F) {
	pcm, _ := recording(1)
	f.Add(WAVBytes(pcm[:4000], SampleRate))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, rate, err := DecodeWAV(bytes.NewReader(b), 1<<20)
		if err != nil {
			return
		}
		if rate < 8000 || 2*len(got) > 1<<20 {
			t.Fatalf("accepted rate %d with %d samples", rate, len(got))
		}
		if again, r2, err := DecodeWAV(bytes.NewReader(WAVBytes(got, rate)), 1<<20); err != nil || r2 != rate || len(again) != len(got) {
			t.Fatalf("re-encoded: %v", err)
		}
	})
}
