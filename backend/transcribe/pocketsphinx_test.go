package transcribe

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clinicalGrammar is the small vocabulary the recogniser listens for.
const clinicalGrammar = `#JSGF V1.0;
grammar clinical;
public <utterance> = <word>+;
<word> = the | patient | reports | chest | pain | and | shortness | of | breath | prescribe | aspirin | check | blood | pressure |
         fever | cough | headache | nausea | since | yesterday | with | no | allergies;
`

// sphinxServer wraps Debian's pocketsphinx in a server that speaks
// /v1/audio/transcriptions, one segment per recognised word.
func sphinxServer(t *testing.T) *httptest.Server {
	dir := t.TempDir()
	grammar := filepath.Join(dir, "clinical.gram")
	if err := os.WriteFile(grammar, []byte(clinicalGrammar), 0o600); err != nil {
		t.Fatal(err)
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, _, err := r.FormFile("file")
		if err != nil {
			http.Error(w, `{"error":{"message":"no file"}}`, http.StatusBadRequest)
			return
		}
		defer f.Close()
		tmp, err := os.CreateTemp(dir, "chunk-*.wav")
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(tmp, f)
		tmp.Close()
		out, err := exec.CommandContext(r.Context(), "pocketsphinx_continuous", "-infile", tmp.Name(), "-jsgf", grammar,
			"-time", "yes", "-logfn", os.DevNull).Output()
		if err != nil {
			http.Error(w, `{"error":{"message":"recogniser failed"}}`, http.StatusInternalServerError)
			return
		}
		var segs []map[string]any
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 4 || strings.HasPrefix(f[0], "<") || strings.HasPrefix(f[0], "(") {
				continue // the utterance line, silences and empty words
			}
			start, err1 := strconv.ParseFloat(f[1], 64)
			end, err2 := strconv.ParseFloat(f[2], 64)
			if err1 != nil || err2 != nil {
				continue
			}
			word, _, _ := strings.Cut(f[0], "(") // "reports(2)": a second pronunciation
			segs = append(segs, map[string]any{"id": len(segs), "start": start, "end": end, "text": word})
		}
		json.NewEncoder(w).Encode(map[string]any{"task": "transcribe", "text": "", "segments": segs})
	}))
}

// The OpenAI-compatible engine against a real recogniser: speech made by
// espeak-ng, resampled by sox, sent in chunks; the clinical keywords come
// back (recall, not word error rate: the recogniser is small).
func TestOpenAICompatibleWithARealRecogniser(t *testing.T) {
	for _, tool := range []string{"pocketsphinx_continuous", "espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " is not installed (apt-get install -y pocketsphinx pocketsphinx-en-us espeak-ng sox): the recogniser test DID NOT RUN"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip("SKIPPED: " + msg)
		}
	}
	dir := t.TempDir()
	said, wav := filepath.Join(dir, "said.wav"), filepath.Join(dir, "16k.wav")
	text := "The patient reports chest pain and shortness of breath since yesterday. Prescribe aspirin and check blood pressure."
	if out, err := exec.Command("espeak-ng", "-v", "en-us", "-s", "140", "-w", said, text).CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v\n%s", err, out)
	}
	if out, err := exec.Command("sox", said, "-r", "16000", "-c", "1", "-b", "16", wav).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	f, err := os.Open(wav)
	if err != nil {
		t.Fatal(err)
	}
	pcm, rate, err := DecodeWAV(f, 64<<20)
	f.Close()
	if err != nil || rate != SampleRate {
		t.Fatalf("the spoken recording: %d Hz, %v", rate, err)
	}
	srv := sphinxServer(t)
	defer srv.Close()
	e := NewOpenAI(OpenAIOptions{BaseURL: srv.URL + "/v1", Model: "pocketsphinx-clinical", MaxChunk: 4 * time.Second, Overlap: time.Second})
	segs, err := e.Transcribe(context.Background(), pcm, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	heard := map[string]bool{}
	var words []string
	for i, s := range segs {
		if i > 0 && s.Start < segs[i-1].Start {
			t.Fatalf("segments out of order: %+v then %+v", segs[i-1], s)
		}
		heard[s.Text] = true
		words = append(words, s.Text)
	}
	recalled := 0
	for _, k := range []string{"chest", "pain", "breath", "aspirin", "pressure"} {
		if heard[k] {
			recalled++
		}
	}
	t.Logf("%s of audio in chunks of 4 s: %q; %d of 5 clinical keywords", Duration(len(pcm), SampleRate).Round(10*time.Millisecond), strings.Join(words, " "), recalled)
	if recalled < 3 {
		t.Fatalf("recalled %d of 5 clinical keywords from %q", recalled, strings.Join(words, " "))
	}
}
