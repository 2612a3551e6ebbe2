package transcribe

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		msg := "ffmpeg is not installed (apt-get install -y ffmpeg): the recording conversion tests DID NOT RUN"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
}

var decoder = Decoder{MaxBytes: 64 << 20, MaxSamples: 60 * 60 * SampleRate}

func TestDecodeTakesA16kWAVWithoutFFmpeg(t *testing.T) {
	pcm, _ := recording(3)
	d := decoder
	d.FFmpeg = filepath.Join(t.TempDir(), "no-ffmpeg-here")
	got, err := d.Decode(context.Background(), bytes.NewReader(WAVBytes(pcm, SampleRate)))
	if err != nil || len(got) != len(pcm) {
		t.Fatalf("16 kHz WAV: %d samples, %v", len(got), err)
	}
	// Anything else needs ffmpeg, and says so.
	if _, err := d.Decode(context.Background(), bytes.NewReader(WAVBytes(pcm, 44100))); !errors.Is(err, ErrNoFFmpeg) {
		t.Fatalf("44.1 kHz WAV without ffmpeg: %v", err)
	}
	small := d
	small.MaxBytes = 1000
	if _, err := small.Decode(context.Background(), bytes.NewReader(WAVBytes(pcm, SampleRate))); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a recording over the size limit: %v", err)
	}
}

// Recordings in other formats and rates come out as 16 kHz mono through
// ffmpeg: FLAC losslessly, a 44.1 kHz WAV resampled.
func TestDecodeConvertsWithFFmpeg(t *testing.T) {
	needFFmpeg(t)
	pcm, _ := recording(5)
	dir := t.TempDir()
	wav := filepath.Join(dir, "in.wav")
	if err := os.WriteFile(wav, WAVBytes(pcm, SampleRate), 0o600); err != nil {
		t.Fatal(err)
	}
	flac := filepath.Join(dir, "in.flac")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-i", wav, flac).CombinedOutput(); err != nil {
		t.Fatalf("make a FLAC file: %v\n%s", err, out)
	}
	f, err := os.Open(flac)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := decoder.Decode(context.Background(), f)
	if err != nil || len(got) != len(pcm) {
		t.Fatalf("FLAC: %d samples (want %d), %v", len(got), len(pcm), err)
	}
	for i := range pcm {
		if got[i] != pcm[i] {
			t.Fatalf("FLAC sample %d = %d, want %d", i, got[i], pcm[i])
		}
	}

	got, err = decoder.Decode(context.Background(), bytes.NewReader(WAVBytes(pcm[:44100], 44100)))
	if err != nil || len(got) < SampleRate-200 || len(got) > SampleRate+200 {
		t.Fatalf("one second at 44.1 kHz: %d samples at 16 kHz, %v", len(got), err)
	}

	if _, err := decoder.Decode(context.Background(), strings.NewReader("this is a letter, not a recording")); err == nil || !strings.Contains(err.Error(), "could not be read as audio") {
		t.Fatalf("not audio: %v", err)
	}
}
