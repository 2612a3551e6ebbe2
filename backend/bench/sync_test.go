package bench

import (
	"bytes"
	"github.com/healthhub/healthhub/backend/internal/proccpu"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSyncScenario runs the sync scenario small on each upstream engine:
// every booking is answered once, the races make conflicts, the upstream
// holds no overlap, and lags are measured.
func TestSyncScenario(t *testing.T) {
	for _, e := range Engines(PostgresURL(os.Getenv)) {
		t.Run(e.Name, func(t *testing.T) {
			o := Options{Duration: time.Second, Warmup: 200 * time.Millisecond, TempDir: t.TempDir(), SyncNodes: 3, SyncRate: 10, SyncRaceShare: 0.2}
			res, err := BenchSync(t.Context(), e, o)
			var out bytes.Buffer
			writeSync(&out, res)
			t.Log("\n" + out.String())
			if err != nil {
				t.Fatal(err)
			}
			if res.Engine != e.Name || res.Nodes != 3 || res.Target != 30 {
				t.Errorf("engine %q, %d nodes, target %v", res.Engine, res.Nodes, res.Target)
			}
			if res.Queued == 0 || res.Failed != 0 {
				t.Fatalf("%d bookings queued, %d failed (%s)", res.Queued, res.Failed, res.FirstError)
			}
			if got := res.AnsweredApplied + res.Conflicts + res.Rejected; got != res.Queued || res.Rejected != 0 {
				t.Errorf("%d ops queued; answered %d applied, %d conflicts, %d rejected", res.Queued, res.AnsweredApplied, res.Conflicts, res.Rejected)
			}
			// Three nodes race for a slot every fifth booking: two lose
			// each race, unless one had pulled the winner before it booked.
			if res.Conflicts+res.Refused == 0 {
				t.Error("no race was lost")
			}
			if res.Overlaps != 0 || int64(res.Booked) != res.AnsweredApplied || int64(res.Cancelled) != res.Conflicts {
				t.Errorf("upstream: %d overlaps, %d booked, %d cancelled", res.Overlaps, res.Booked, res.Cancelled)
			}
			if res.Lags == 0 || !(0 <= res.LagP50 && res.LagP50 <= res.LagP99 && res.LagP99 <= res.LagMax) {
				t.Errorf("%d lags: p50 %v, p99 %v, max %v", res.Lags, res.LagP50, res.LagP99, res.LagMax)
			}
			if res.Drain <= 0 || len(res.Problems) != 0 {
				t.Errorf("drain %v, problems %q", res.Drain, res.Problems)
			}
			report := out.String()
			for _, want := range []string{"offered/s", "applied/s", "lag p50", "CPU ms/op", "overlapping booked appointments upstream: 0"} {
				if !strings.Contains(report, want) {
					t.Errorf("report lacks %q", want)
				}
			}
		})
	}
}

// TestSyncSlots: plain bookings never share a slot; a race's pair of nodes
// aim at the same one, a slot no plain booking takes.
func TestSyncSlots(t *testing.T) {
	doctors := []string{"d0", "d1", "d2"}
	patients := []string{"p0", "p1", "p2", "p3", "p4"}
	now := time.Date(2026, 3, 1, 15, 4, 5, 0, time.UTC)
	for _, nodes := range []int{1, 2, 5, 10} {
		s := newSyncSlots(now, nodes, doctors, patients)
		type key struct {
			doctor string
			start  time.Time
		}
		plain := map[key]bool{}
		for node := range nodes {
			for k := range 500 {
				req, ok := s.plain(node, k)
				if !ok {
					t.Fatal("slots exhausted")
				}
				if req.Start.Before(s.day0) || !req.End.Equal(req.Start.Add(30*time.Minute)) || req.Start.Sub(req.Start.Truncate(24*time.Hour)) > 23*time.Hour {
					t.Fatalf("slot %v–%v", req.Start, req.End)
				}
				x := key{req.DoctorID, req.Start}
				if plain[x] {
					t.Fatalf("%d nodes: plain slot %v taken twice", nodes, x)
				}
				plain[x] = true
			}
		}
		for r := range 50 {
			byNode := map[int]key{}
			for node := range nodes {
				req, ok := s.race(node, r)
				if !ok {
					t.Fatal("race slots exhausted")
				}
				byNode[node] = key{req.DoctorID, req.Start}
				if plain[byNode[node]] {
					t.Fatalf("race slot %v is a plain one", byNode[node])
				}
			}
			for node := 1; node < nodes; node += 2 {
				if byNode[node] != byNode[node-1] {
					t.Errorf("%d nodes, race %d: nodes %d and %d aim at %v and %v", nodes, r, node-1, node, byNode[node-1], byNode[node])
				}
			}
		}
	}
	s := newSyncSlots(now, 10, doctors, patients)
	if _, ok := s.plain(9, syncRaceDay*syncSlotsPerDay*len(doctors)/10); ok {
		t.Error("plain slots run into the race days")
	}
}

func TestProcessCPU(t *testing.T) {
	a, ok := proccpu.Of(0)
	if runtime.GOOS != "linux" {
		if ok {
			t.Logf("CPU %v", a)
		}
		return
	}
	if !ok {
		t.Fatal("no CPU time read")
	}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	if b, _ := proccpu.Of(0); b <= a {
		t.Errorf("CPU time %v, then %v after a busy loop", a, b)
	}
}
