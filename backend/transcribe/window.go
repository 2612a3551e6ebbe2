package transcribe

import "time"

// Window is the next piece of a growing recording to transcribe, in
// samples: the engine hears [Start, End) and answers for [Done, Own), the
// audio before Done being overlap already answered for, and the audio from
// Own on being left for the next window, which hears it again.
type Window struct {
	Start, End int64
	Done, Own  int64
}

// Pacing says how a recording is cut into windows.
type Pacing struct {
	// MinLen is the least new audio worth sending while recording goes on
	// (the transcript's delay behind the speaker); MaxLen bounds one
	// window; Overlap is the audio neighbouring windows share.
	MinLen, MaxLen, Overlap time.Duration
}

// LivePacing suits a recording in progress: a transcript a few seconds
// behind the speaker.
var LivePacing = Pacing{MinLen: 4 * time.Second, MaxLen: 30 * time.Second, Overlap: 1500 * time.Millisecond}

func samplesOf(d time.Duration, rate int) int64 { return int64(d) * int64(rate) / int64(time.Second) }

// Next returns the window after done of a recording of total samples,
// ended or still growing, or false when there is nothing to send yet. The
// window ends at the quietest moment of the last third of the new audio
// (read with read, which returns samples [from, to)) unless it reaches the
// end of an ended recording.
func (p Pacing) Next(total, done int64, ended bool, rate int, read func(from, to int64) ([]int16, error)) (Window, []int16, bool, error) {
	if done >= total {
		return Window{}, nil, false, nil
	}
	minN, maxN, overN := samplesOf(p.MinLen, rate), samplesOf(p.MaxLen, rate), samplesOf(p.Overlap, rate)
	if !ended && total-done < minN {
		return Window{}, nil, false, nil
	}
	w := Window{Start: max(0, done-overN), Done: done}
	w.End = min(total, w.Start+maxN)
	pcm, err := read(w.Start, w.End)
	if err != nil {
		return Window{}, nil, false, err
	}
	if int64(len(pcm)) != w.End-w.Start {
		w.End = w.Start + int64(len(pcm))
	}
	if ended && w.End == total {
		w.Own = total
		return w, pcm, true, nil
	}
	win := int(samplesOf(pauseWindow, rate))
	from := int(done-w.Start) + int(w.End-done)*2/3
	to := int(w.End-w.Start) - win
	if to <= from {
		to = from + 1
	}
	cut := int64(quietest(pcm, from, to, win))
	w.Own = min(w.Start+cut, w.End)
	if w.Own <= done {
		w.Own = w.End
	}
	return w, pcm, true, nil
}

// Keep reports whether a segment the engine heard in w (times from the
// recording's start) is w's to keep: its middle falls in what w answers
// for.
func (w Window) Keep(s Segment, rate int) bool {
	mid := (s.Start + s.End) / 2
	doneT, ownT := Duration(int(w.Done), rate), Duration(int(w.Own), rate)
	return mid >= doneT && mid < ownT || (w.Own == w.End && mid >= doneT)
}
