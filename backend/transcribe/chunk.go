package transcribe

import "time"

// Chunk is a piece of a recording sent to an engine on its own: its
// samples, where they start in the recording, and the span of the
// recording it answers for (Own): segments whose middle falls outside it
// come from the overlap with a neighbour, which answers for them.
type Chunk struct {
	Offset   time.Duration
	PCM      []int16
	OwnStart time.Duration
	OwnEnd   time.Duration
}

// pauseWindow is the length over which loudness is measured when looking
// for a pause to cut at.
const pauseWindow = 100 * time.Millisecond

// Split cuts pcm into chunks of at most maxLen, each cut at the quietest
// moment of the last third of its span (a pause between words, where there
// is one), with overlap of audio shared by neighbours so that a word at a
// cut is heard whole by one of them.
func Split(pcm []int16, rate int, maxLen, overlap time.Duration) []Chunk {
	n := len(pcm)
	maxN := int(int64(maxLen) * int64(rate) / int64(time.Second))
	overN := int(int64(overlap) * int64(rate) / int64(time.Second))
	win := int(int64(pauseWindow) * int64(rate) / int64(time.Second))
	if maxN <= 2*overN+win || n <= maxN {
		return []Chunk{{PCM: pcm, OwnEnd: Duration(n, rate)}}
	}
	var out []Chunk
	start, own := 0, 0 // the chunk's first sample, and the first it answers for
	for {
		end := start + maxN
		if end >= n {
			out = append(out, Chunk{Offset: Duration(start, rate), PCM: pcm[start:n], OwnStart: Duration(own, rate), OwnEnd: Duration(n, rate)})
			return out
		}
		cut := quietest(pcm, max(start+2*maxN/3, own+overN+1), end-overN, win)
		out = append(out, Chunk{Offset: Duration(start, rate), PCM: pcm[start:min(cut+overN, n)], OwnStart: Duration(own, rate), OwnEnd: Duration(cut, rate)})
		start, own = cut-overN, cut
	}
}

// quietest is the middle of the quietest window of win samples starting
// in [from, to).
func quietest(pcm []int16, from, to, win int) int {
	if to <= from {
		return from
	}
	var energy int64
	for _, s := range pcm[from:min(from+win, len(pcm))] {
		energy += int64(s) * int64(s)
	}
	best, bestAt := energy, from
	for i := from + 1; i < to && i+win <= len(pcm); i++ {
		out, in := int64(pcm[i-1]), int64(pcm[i+win-1])
		energy += in*in - out*out
		if energy < best {
			best, bestAt = energy, i
		}
	}
	return bestAt + win/2
}
