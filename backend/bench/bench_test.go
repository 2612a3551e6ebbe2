package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/assistant/offlineeval"
	"github.com/healthhub/healthhub/backend/domain"
)

// tiny runs each scenario just long enough to prove it works.
func tiny(t *testing.T) Options {
	return Options{Duration: time.Second, Warmup: 100 * time.Millisecond, Clients: 8, BookingClients: 16, TempDir: t.TempDir(), historyDays: 30,
		KnowledgeDocs: 40, KnowledgeSaves: 3, KnowledgeChunks: []int{500, 1200}, KnowledgeQueries: 20, GatewayClients: 8, GatewayRounds: 1,
		ConsultLevels: []int{1, 3}, ConsultWindow: 6 * time.Second, ConsultWords: 6, ConsultPace: 4}
}

func checkStats(t *testing.T, s Stats, clients int) {
	t.Helper()
	if s.Clients != clients {
		t.Errorf("clients = %d, want %d", s.Clients, clients)
	}
	if s.OK == 0 {
		t.Fatalf("no operation succeeded in the window (errors %d, first: %s)", s.Errors, s.FirstError)
	}
	if s.Errors != 0 {
		t.Errorf("%d operations failed; first: %s", s.Errors, s.FirstError)
	}
	if s.Total < s.OK {
		t.Errorf("total %d is below the %d counted in the window", s.Total, s.OK)
	}
	if s.Rate() <= 0 {
		t.Errorf("rate = %v", s.Rate())
	}
	if !(0 < s.P50 && s.P50 <= s.P99 && s.P99 <= s.Max) {
		t.Errorf("latencies out of order: p50 %v, p99 %v, max %v", s.P50, s.P99, s.Max)
	}
}

func TestScenarios(t *testing.T) {
	for _, e := range Engines(PostgresURL(os.Getenv)) {
		t.Run(e.Name, func(t *testing.T) {
			ctx := t.Context()
			o := tiny(t)

			me, err := BenchMe(ctx, e, o)
			if err != nil {
				t.Fatal(err)
			}
			if me.Engine != e.Name {
				t.Errorf("engine = %q", me.Engine)
			}
			checkStats(t, me.Stats, o.Clients)

			ap, err := BenchAudit(ctx, e, o)
			if err != nil {
				t.Fatal(err)
			}
			checkStats(t, ap.Stats, o.Clients)
			if !ap.Chain.OK {
				t.Errorf("chain broken at %d: %s", ap.Chain.BrokenAt, ap.Chain.Problem)
			}
			if ap.Chain.Events != ap.Total || ap.Chain.HeadSeq != ap.Total {
				t.Errorf("chain holds %d events, head %d; %d appends were acknowledged", ap.Chain.Events, ap.Chain.HeadSeq, ap.Total)
			}
		})
	}
}

// TestMain lets the gateway scenario start this test binary as its
// HealthHub.
func TestMain(m *testing.M) {
	if child, err := ServeGatewayChild(context.Background()); child {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestGatewayScenario: every chat streams its answer, straight and through
// HealthHub, and the added times are the differences; in one process, and
// with HealthHub in a process of its own on another CPU.
func TestGatewayScenario(t *testing.T) {
	skipWhenShort(t)
	t.Run("shared", func(t *testing.T) {
		gw, err := BenchGateway(t.Context(), 6, 2, tiny(t))
		checkGateway(t, gw, err)
		if !strings.Contains(gw.Layout, "one process") {
			t.Errorf("layout %q", gw.Layout)
		}
	})
	t.Run("split", func(t *testing.T) {
		if _, _, ok := twoCPUs(); !ok {
			t.Skip("HealthHub runs apart only with two CPUs")
		}
		o := tiny(t)
		o.GatewaySplit = true
		before := runtime.GOMAXPROCS(0)
		gw, err := BenchGateway(t.Context(), 6, 2, o)
		checkGateway(t, gw, err)
		if !strings.Contains(gw.Layout, "a process of its own") {
			t.Errorf("layout %q", gw.Layout)
		}
		if after := runtime.GOMAXPROCS(0); after != before {
			t.Errorf("GOMAXPROCS %d after the run, %d before", after, before)
		}
		if a, b, ok := twoCPUs(); !ok || a == b {
			t.Errorf("this process keeps one CPU after the run")
		}
	})
}

func checkGateway(t *testing.T, gw GatewayResult, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if len(gw.Rows) != 5 {
		t.Fatalf("rows %+v", gw.Rows)
	}
	for _, r := range gw.Rows {
		if r.Chats != 12 || r.Errors != 0 || r.TTFT50 < gw.FirstDelay || r.TTFT50 > r.TTFT99 || r.Total50 < r.TTFT50 {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}
	if r := gw.Rows[1]; r.AddedTTFT50 != r.TTFT50-gw.Rows[0].TTFT50 {
		t.Errorf("added %v is not the difference", r.AddedTTFT50)
	}
}

// TestKnowledgeScenario: ingestion indexes every document, saves are found,
// and search runs at each scale with results.
func TestKnowledgeScenario(t *testing.T) {
	skipWhenShort(t)
	for _, e := range Engines(PostgresURL(os.Getenv)) {
		t.Run(e.Name, func(t *testing.T) {
			o := tiny(t)
			kb, err := BenchKnowledge(t.Context(), e, o)
			if err != nil {
				t.Fatal(err)
			}
			if kb.Indexed != o.KnowledgeDocs || kb.Failures != 0 || kb.Bytes < int64(o.KnowledgeDocs)*5000 || kb.Ingest <= 0 || kb.IngestChunks < o.KnowledgeDocs {
				t.Fatalf("ingestion: %+v", kb)
			}
			if kb.Saves != o.KnowledgeSaves || kb.SaveTimeouts != 0 || kb.SaveP50 <= 0 || kb.SaveP50 > kb.SaveP95 {
				t.Fatalf("saves: %+v", kb)
			}
			if len(kb.SearchScales) != 2 {
				t.Fatalf("scales: %+v", kb.SearchScales)
			}
			for _, sc := range kb.SearchScales {
				if sc.Hits <= 0 || sc.P50 <= 0 || sc.P50 > sc.P99 || sc.P99 > sc.Max {
					t.Fatalf("scale %+v", sc)
				}
			}
		})
	}
}

func TestRunReport(t *testing.T) {
	skipWhenShort(t)
	var out bytes.Buffer
	engines, err := SelectEngines(Engines(""), []string{"sqlite"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Run(t.Context(), &out, engines, tiny(t)); err != nil {
		t.Fatal(err)
	}
	report := out.String()
	for _, want := range []string{"GET /api/v1/me", "req/s", "audit Record", "appends/s", "chain intact",
		"POST booking 201", "bookings/s", "POST booking 409", "conflicts/s", "double bookings: 0",
		"GET slots next 7d", "GET slots past 7d", "slot search data",
		"knowledge ingest", "40 documents", "saved→searchable", "3 saves", "0 not found", "500 passages", "1200 passages",
		"8 concurrent streamed chats", "straight to the model:", "HealthHub, redaction, retrieval:", "0 errors of 8", "gateway added"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "Bearer") || strings.Contains(report, "first error") {
		t.Errorf("report shows a credential or an error:\n%s", report)
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	var out bytes.Buffer
	for _, o := range []Options{{Duration: -time.Second}, {Clients: -1}, {Warmup: -time.Second}, {BookingClients: -1}, {BookingClients: maxBookingClients + 1}} {
		if err := Run(context.Background(), &out, Engines(""), o); err == nil {
			t.Errorf("Run(%+v) succeeded", o)
		}
	}
	if err := Run(context.Background(), &out, nil, Options{}); err == nil {
		t.Error("Run with no engine succeeded")
	}
}

func TestSelectEngines(t *testing.T) {
	sqliteOnly := Engines("")
	both := Engines("postgres://localhost/db")
	if got, _ := SelectEngines(both, nil); len(got) != 2 {
		t.Errorf("no names selected %d engines, want all 2", len(got))
	}
	got, err := SelectEngines(both, []string{"postgres", "sqlite", "postgres"})
	if err != nil || len(got) != 2 || got[0].Name != "postgres" || got[1].Name != "sqlite" {
		t.Errorf("SelectEngines(postgres,sqlite,postgres) = %v, %v", got, err)
	}
	if _, err := SelectEngines(sqliteOnly, []string{"postgres"}); err == nil || !strings.Contains(err.Error(), EnvBenchDatabaseURL) {
		t.Errorf("postgres without a URL: err = %v", err)
	}
	if _, err := SelectEngines(both, []string{"mysql"}); err == nil {
		t.Error("unknown engine accepted")
	}
}

func TestPostgresURL(t *testing.T) {
	env := map[string]string{EnvTestDatabaseURL: "postgres://test", EnvBenchDatabaseURL: "postgres://bench"}
	if got := PostgresURL(func(k string) string { return env[k] }); got != "postgres://bench" {
		t.Errorf("got %q, want the bench URL first", got)
	}
	delete(env, EnvBenchDatabaseURL)
	if got := PostgresURL(func(k string) string { return env[k] }); got != "postgres://test" {
		t.Errorf("got %q, want the test URL", got)
	}
	if got := PostgresURL(func(string) string { return "" }); got != "" {
		t.Errorf("got %q with nothing set", got)
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.50, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(lat, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p*100, got, c.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("empty p50 = %v", got)
	}
	if got := percentile(lat[:1], 0.99); got != time.Millisecond {
		t.Errorf("single p99 = %v", got)
	}
}

func TestLoadCountsErrorsAndStopsOnCancel(t *testing.T) {
	calls := 0
	s, err := load(t.Context(), 1, 0, 50*time.Millisecond, func(context.Context) func() error {
		return func() error {
			calls++
			if calls%2 == 0 {
				return context.DeadlineExceeded
			}
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.OK == 0 || s.Errors == 0 || s.OK+s.Errors != int64(calls) || s.FirstError == "" {
		t.Errorf("ok %d, errors %d, calls %d, first %q", s.OK, s.Errors, calls, s.FirstError)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := load(ctx, 4, 0, time.Hour, func(context.Context) func() error { return func() error { return nil } }); err == nil {
		t.Error("load ignored a cancelled context")
	}
}

func TestBookingContention(t *testing.T) {
	for _, e := range Engines(PostgresURL(os.Getenv)) {
		t.Run(e.Name, func(t *testing.T) {
			o := tiny(t)
			o.Duration = time.Second
			res, err := BenchBooking(t.Context(), e, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Engine != e.Name {
				t.Errorf("engine = %q", res.Engine)
			}
			// Clients aim at the slots their neighbours aimed at a round
			// before: some win, more are refused, none fails. Counted over
			// the whole run, so a slow machine cannot leave the window empty.
			if res.Booked.Total == 0 || res.Conflicts.Total == 0 || res.Booked.Errors != 0 {
				t.Errorf("bookings %d, conflicts %d, errors %d over the run", res.Booked.Total, res.Conflicts.Total, res.Booked.Errors)
			}
			if res.DoubleBookings != 0 {
				t.Errorf("%d double bookings", res.DoubleBookings)
			}
			if res.Failed != 0 || res.Acknowledged < res.Booked.OK || res.Acknowledged != res.Booked.Total {
				t.Errorf("acknowledged %d (total %d, %d in the window), failed %d", res.Acknowledged, res.Booked.Total, res.Booked.OK, res.Failed)
			}
			if int64(res.Stored) != res.Acknowledged {
				t.Errorf("%d appointments stored for %d acknowledged bookings", res.Stored, res.Acknowledged)
			}
			if res.Exhausted {
				t.Error("the horizon ran out of slots")
			}
		})
	}
}

func TestSlotSearch(t *testing.T) {
	skipWhenShort(t)
	for _, e := range Engines(PostgresURL(os.Getenv)) {
		t.Run(e.Name, func(t *testing.T) {
			o := tiny(t)
			res, err := BenchSlots(t.Context(), e, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Engine != e.Name {
				t.Errorf("engine = %q", res.Engine)
			}
			checkStats(t, res.Next, o.Clients)
			checkStats(t, res.Past, o.Clients)
			checkStats(t, res.NextAlone, 1)
			// BenchSlots has checked each search against the history
			// before the load: 200, and exactly the free slots.
			if res.PastAppointments == 0 || res.FutureAppointments == 0 {
				t.Errorf("history: %d past, %d ahead", res.PastAppointments, res.FutureAppointments)
			}
			if res.NextBooked == 0 || res.NextFree == 0 {
				t.Errorf("next week: %d booked, %d free slots", res.NextBooked, res.NextFree)
			}
			if res.PastBooked == 0 || res.PastFree != 0 {
				t.Errorf("past week: %d booked, %d free slots", res.PastBooked, res.PastFree)
			}
		})
	}
}

func TestBookingTarget(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 4, 5, 0, time.UTC)
	tg := newBookingTarget(now)
	if want := time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC); !tg.day0.Equal(want) {
		t.Fatalf("day0 = %v, want %v", tg.day0, want)
	}
	seen := map[time.Time]bool{}
	for n := range int64(3 * bookingSlotsPerDay) {
		at := tg.at(n)
		if at.Hour() == 23 && at.Minute() == 30 || at.Minute()%30 != 0 || seen[at] {
			t.Fatalf("slot %d at %v", n, at)
		}
		seen[at] = true
	}
	if last := tg.at(tg.slots - 1); last.After(now.AddDate(0, 0, 700)) {
		t.Errorf("the last slot %v is beyond the 700-day horizon", last)
	}
	// Client i in round k aims where client i+1 aimed in round k-1.
	for i := range 5 {
		a, _ := tg.index(0, i, 3)
		b, _ := tg.index(0, i+1, 2)
		if a != b {
			t.Errorf("clients %d and %d aim at %d and %d", i, i+1, a, b)
		}
	}
	// The clients share contendedSlots slots until as many bookings are made.
	if n, _ := tg.index(contendedSlots-1, 0, contendedSlots+7); n != 7 {
		t.Errorf("first window: slot %d", n)
	}
	if n, _ := tg.index(contendedSlots, 0, 7); n != contendedSlots+7 {
		t.Errorf("second window: slot %d", n)
	}
	n, exhausted := tg.index(tg.slots+5*contendedSlots, 3, 0)
	if !exhausted || n >= tg.slots || n < tg.slots-2*contendedSlots {
		t.Errorf("past the horizon: slot %d of %d, exhausted %v", n, tg.slots, exhausted)
	}
}

func TestCountOverlaps(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	ap := func(fromMin, toMin int, status string) *domain.Appointment {
		return &domain.Appointment{Start: t0.Add(time.Duration(fromMin) * time.Minute), End: t0.Add(time.Duration(toMin) * time.Minute), Status: status}
	}
	booked, cancelled := domain.StatusBooked, domain.StatusCancelled
	for _, c := range []struct {
		list              []*domain.Appointment
		blocking, overlap int
	}{
		{nil, 0, 0},
		{[]*domain.Appointment{ap(0, 30, booked), ap(30, 60, booked), ap(60, 90, booked)}, 3, 0},
		{[]*domain.Appointment{ap(30, 60, booked), ap(0, 30, cancelled), ap(0, 30, booked), ap(10, 20, cancelled)}, 2, 0},
		{[]*domain.Appointment{ap(30, 60, booked), ap(0, 30, booked), ap(30, 60, booked)}, 3, 1},
		// Contained in an earlier, longer one, past its neighbour.
		{[]*domain.Appointment{ap(0, 120, booked), ap(30, 60, booked), ap(90, 100, domain.StatusArrived)}, 3, 2},
	} {
		blocking, overlaps := countOverlaps(c.list)
		if blocking != c.blocking || overlaps != c.overlap {
			t.Errorf("countOverlaps = %d blocking, %d overlaps; want %d, %d", blocking, overlaps, c.blocking, c.overlap)
		}
	}
}

func TestFanout(t *testing.T) {
	res, err := BenchFanout(context.Background(), 50, 2, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Missed != 0 || res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
		t.Fatalf("fan-out result %+v", res)
	}
}

func TestOfflineAnswersScenario(t *testing.T) {
	skipWhenShort(t)
	figures, err := BenchOfflineAnswers(t.Context(), tiny(t))
	if err != nil {
		t.Fatal(err)
	}
	// One line a set, then all of them.
	if len(figures) != len(offlineeval.Sets)+1 {
		t.Fatalf("figures %+v", figures)
	}
	sum := 0
	for _, f := range figures[:len(figures)-1] {
		if f.Answerable == 0 {
			t.Fatalf("%s: no answerable question: %+v", f.Set, figures)
		}
		sum += f.Questions
	}
	if all := figures[len(figures)-1]; all.Questions != sum {
		t.Fatalf("all: %d questions, the sets %d", all.Questions, sum)
	}
	for _, f := range figures {
		if f.Hit1 > f.Hit3 || f.MRR < f.Hit1 || f.MRR > f.Hit3 {
			t.Errorf("%s: hit@1 %.3f, hit@3 %.3f, MRR %.3f are inconsistent", f.Set, f.Hit1, f.Hit3, f.MRR)
		}
	}
}

// skipWhenShort skips a scenario that takes tens of seconds (minutes under
// the race detector on two cores) in make check's -short run; make test
// runs every scenario.
func skipWhenShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("a long scenario; make test runs it")
	}
}
