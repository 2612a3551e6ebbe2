// Package transcribe turns consultation audio into timed transcript
// segments through one small interface, with engines for any server that
// speaks OpenAI's /v1/audio/transcriptions (whisper.cpp's server, speaches,
// LocalAI, OpenAI itself). Audio is 16-bit mono PCM, 16 kHz as captured by
// the web UI.
package transcribe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// SampleRate is the rate the web UI captures at and engines are sent.
const SampleRate = 16000

// EncodeWAV writes pcm (16-bit mono at rate) as a WAV file.
func EncodeWAV(w io.Writer, pcm []int16, rate int) error {
	var h [44]byte
	data := uint32(2 * len(pcm))
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+data)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 1) // mono
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], data)
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	return binary.Write(w, binary.LittleEndian, pcm)
}

// WAVBytes is EncodeWAV into memory.
func WAVBytes(pcm []int16, rate int) []byte {
	var b bytes.Buffer
	b.Grow(44 + 2*len(pcm))
	EncodeWAV(&b, pcm, rate) // a bytes.Buffer does not fail
	return b.Bytes()
}

// ErrNotPCM is returned for a WAV file that is not 16-bit mono PCM.
var ErrNotPCM = errors.New("the recording must be a WAV file of 16-bit mono PCM (other formats are converted with ffmpeg first)")

// DecodeWAV reads a 16-bit mono PCM WAV file of at most maxBytes bytes of
// samples and returns its samples and rate. Chunks other than fmt and data
// are skipped; anything else is refused with an error saying what is wrong.
func DecodeWAV(r io.Reader, maxBytes int64) ([]int16, int, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return nil, 0, fmt.Errorf("not a WAV file: %w", err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return nil, 0, errors.New("not a WAV file: no RIFF/WAVE header")
	}
	rate, haveFmt := 0, false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, 0, fmt.Errorf("the WAV file ends before its audio: %w", err)
		}
		size := int64(binary.LittleEndian.Uint32(ch[4:]))
		switch string(ch[0:4]) {
		case "fmt ":
			if size < 16 || size > 1<<10 {
				return nil, 0, fmt.Errorf("the WAV file's format chunk has %d bytes", size)
			}
			f := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, f); err != nil {
				return nil, 0, fmt.Errorf("the WAV file's format chunk is cut short: %w", err)
			}
			format, channels, bits := binary.LittleEndian.Uint16(f[0:]), binary.LittleEndian.Uint16(f[2:]), binary.LittleEndian.Uint16(f[14:])
			rate = int(binary.LittleEndian.Uint32(f[4:]))
			if format != 1 || channels != 1 || bits != 16 {
				return nil, 0, fmt.Errorf("%w; this one has format %d, %d channel(s), %d bits", ErrNotPCM, format, channels, bits)
			}
			if rate < 8000 || rate > 192000 {
				return nil, 0, fmt.Errorf("the WAV file's sample rate %d Hz is not one of a recording", rate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, 0, errors.New("the WAV file has its audio before its format")
			}
			if size > maxBytes {
				return nil, 0, fmt.Errorf("the recording has %d bytes of audio, more than the %d allowed", size, maxBytes)
			}
			pcm := make([]int16, size/2)
			if err := binary.Read(r, binary.LittleEndian, pcm); err != nil {
				return nil, 0, fmt.Errorf("the WAV file's audio is cut short: %w", err)
			}
			return pcm, rate, nil
		default:
			if size > 1<<20 {
				return nil, 0, fmt.Errorf("the WAV file has a %d-byte %q chunk", size, ch[0:4])
			}
			if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
				return nil, 0, fmt.Errorf("the WAV file is cut short: %w", err)
			}
		}
	}
}

// Duration is how long n samples at rate last.
func Duration(n, rate int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / int64(rate))
}
