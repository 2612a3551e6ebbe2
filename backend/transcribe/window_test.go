package transcribe

import (
	"fmt"
	"testing"
	"time"
)

// TestPacingKeepsEveryWordOnce feeds a growing recording to the fake
// recogniser window by window, as a live consultation is transcribed, for
// several arrival rhythms: every word comes back once, in order, at its
// time.
func TestPacingKeepsEveryWordOnce(t *testing.T) {
	pcm, words := recording(40)
	for _, step := range []int{SampleRate / 4, SampleRate, 3 * SampleRate, len(pcm)} {
		t.Run(fmt.Sprint(step), func(t *testing.T) {
			var got []Segment
			var done int64
			for total, ended := 0, false; ; {
				// The last audio arrives before the recording is ended.
				ended = total == len(pcm)
				total = min(total+step, len(pcm))
				for {
					w, audio, ok, err := LivePacing.Next(int64(total), done, ended, SampleRate, func(from, to int64) ([]int16, error) {
						return pcm[from:to], nil
					})
					if err != nil {
						t.Fatal(err)
					}
					if !ok {
						break
					}
					if w.Start > w.Done || w.Done >= w.Own || w.Own > w.End || int64(len(audio)) != w.End-w.Start {
						t.Fatalf("window %+v with %d samples after %d", w, len(audio), done)
					}
					for _, s := range hear(audio, SampleRate) {
						seg := Segment{Start: Duration(int(w.Start), SampleRate) + time.Duration(s["start"].(float64)*float64(time.Second)),
							End: Duration(int(w.Start), SampleRate) + time.Duration(s["end"].(float64)*float64(time.Second)), Text: s["text"].(string)}
						if w.Keep(seg, SampleRate) {
							got = append(got, seg)
						}
					}
					done = w.Own
				}
				if ended {
					break
				}
			}
			if done != int64(len(pcm)) {
				t.Fatalf("transcribed up to %d of %d", done, len(pcm))
			}
			if len(got) != len(words) {
				t.Fatalf("%d segments for %d words: %v", len(got), len(words), got)
			}
			for i, w := range words {
				if got[i].Text != fmt.Sprintf(" word%d", w.n) || (got[i].Start-w.start).Abs() > 20*time.Millisecond {
					t.Fatalf("segment %d: %+v, want word%d at %v", i, got[i], w.n, w.start)
				}
			}
		})
	}
}
