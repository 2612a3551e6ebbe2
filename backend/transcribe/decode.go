package transcribe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// ErrNoFFmpeg is returned for a recording only ffmpeg can read when it is
// not installed.
var ErrNoFFmpeg = errors.New("this recording is not a 16 kHz mono WAV file, and converting it needs ffmpeg, which is not installed on the server " +
	"(Debian and Ubuntu: apt install ffmpeg); upload a WAV file instead")

// Decoder reads uploaded recordings (WAV, FLAC, Ogg/Opus, MP3, M4A, …)
// into 16 kHz mono PCM: a 16 kHz mono WAV file directly, anything else
// through ffmpeg.
type Decoder struct {
	// FFmpeg is the ffmpeg binary; empty looks it up on PATH.
	FFmpeg string
	// MaxBytes bounds the uploaded file and MaxSamples the decoded audio.
	MaxBytes   int64
	MaxSamples int
}

// Decode reads the whole recording from r.
func (d Decoder) Decode(ctx context.Context, r io.Reader) ([]int16, error) {
	data, err := io.ReadAll(io.LimitReader(r, d.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > d.MaxBytes {
		return nil, fmt.Errorf("the recording is larger than the %d MB allowed", d.MaxBytes>>20)
	}
	if pcm, rate, err := DecodeWAV(bytes.NewReader(data), 2*int64(d.MaxSamples)); err == nil && rate == SampleRate {
		return pcm, nil
	}
	bin := d.FFmpeg
	if bin == "" {
		bin = "ffmpeg"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, ErrNoFFmpeg
	}
	cmd := exec.CommandContext(ctx, path, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", "pipe:0",
		"-vn", "-ac", "1", "-ar", fmt.Sprint(SampleRate), "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1")
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limitWriter{w: &out, n: 2 * int64(d.MaxSamples)}, &limitWriter{w: &stderr, n: 4096}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, fmt.Errorf("the recording could not be read as audio (%s)", msg)
	}
	if int64(out.Len()) >= 2*int64(d.MaxSamples) {
		return nil, fmt.Errorf("the recording is longer than the %s allowed", Duration(d.MaxSamples, SampleRate))
	}
	pcm := make([]int16, out.Len()/2)
	if err := binary.Read(&out, binary.LittleEndian, pcm); err != nil {
		return nil, err
	}
	if len(pcm) == 0 {
		return nil, errors.New("the recording holds no audio")
	}
	return pcm, nil
}

// limitWriter keeps the first n bytes written and drops the rest.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(int64(len(p)), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
