package bench

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// TestConsultScenario: on each engine every word of the streamed speech
// comes back once, every frame of every recording of the ramp is
// acknowledged, each transcript is completed after its stop, and the
// report names the pace and the limit found.
func TestConsultScenario(t *testing.T) {
	for _, e := range Engines(PostgresURL(os.Getenv)) {
		t.Run(e.Name, func(t *testing.T) {
			o := tiny(t) // 6 words; 1 then 3 recordings of 6 s; 4 times real time
			res, err := BenchConsult(t.Context(), e, o)
			if err != nil {
				t.Fatal(err)
			}
			w := res.Words
			if w.Errors != 0 || w.Heard != w.Words || w.Words != 6 || w.Repeated != 0 {
				t.Errorf("words: %+v", w)
			}
			if !(0 < w.P50 && w.P50 <= w.P99 && w.P99 <= w.Max) {
				t.Errorf("word latencies out of order: %+v", w)
			}
			if len(res.Levels) == 0 {
				t.Fatal("no level measured")
			}
			for _, l := range res.Levels {
				if l.Errors != 0 {
					t.Errorf("%d recordings: %d errors, first: %s", l.Recordings, l.Errors, l.FirstError)
				}
				if l.Acked != int64(l.Recordings*l.Frames) || l.Frames != 6 {
					t.Errorf("%d recordings of %d frames: %d acknowledged", l.Recordings, l.Frames, l.Acked)
				}
				if !l.CaughtUp {
					t.Errorf("%d recordings: the transcripts were not completed within %s of stopping", l.Recordings, consultCatchUpLimit)
				}
				if !(0 < l.AckP50 && l.AckP50 <= l.AckP99 && l.AckP99 <= l.AckMax) {
					t.Errorf("ack latencies out of order: %+v", l)
				}
			}
			var out bytes.Buffer
			writeConsult(&out, res)
			for _, want := range []string{"TIME-COMPRESSED 4x", "consult limit", "consult ramp"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestConsultOptions(t *testing.T) {
	for _, o := range []Options{
		{ConsultLevels: []int{0}}, {ConsultLevels: []int{maxConsultLevel + 1}}, {ConsultWindow: time.Millisecond},
		{ConsultWords: -1}, {ConsultPace: 0.5}, {ConsultPace: 1000},
	} {
		if err := o.withDefaults().validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if err := (Options{Scenarios: []string{"consult"}}).withDefaults().validate(); err != nil {
		t.Error(err)
	}
}
