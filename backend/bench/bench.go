// Package bench measures HealthHub under concurrent load on each storage
// engine: authenticated API requests through the real HTTP server, audit
// appends with the hash chain kept, bookings by many clients contending for
// the same slots (then checked for double bookings), and slot searches over a
// doctor with a year of history. It reports figures; it asserts nothing about
// timings.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Options says how long and how hard to measure.
type Options struct {
	// Duration is each scenario's measured window (default 5 s), after
	// Warmup (default 1 s).
	Duration time.Duration
	Warmup   time.Duration
	// Clients is the number of concurrent callers (default 64).
	Clients int
	// BookingClients is the number of concurrent callers of the booking
	// contention scenario (default 1000).
	BookingClients int
	// TempDir holds the data folders ("" for the system's temporary folder).
	TempDir string
	// FanoutClients is the number of WebSocket clients (default 1000).
	FanoutClients int
	// Log receives the server's error log; nil discards it.
	Log io.Writer

	// KnowledgeDocs is how many generated documents of about 5 KB are
	// ingested (default 10,000); KnowledgeSaves how many saves in a watched
	// folder are timed (default 50); KnowledgeChunks the index sizes search
	// is timed at (default 100,000 and 1,000,000), with KnowledgeQueries
	// queries each (default 200).
	KnowledgeDocs    int
	KnowledgeSaves   int
	KnowledgeChunks  []int
	KnowledgeQueries int
	// GatewayClients is the number of concurrent streamed chats of the
	// gateway scenario (default 500), each run GatewayRounds times (4).
	GatewayClients int
	GatewayRounds  int
	// GatewaySplit runs HealthHub in a child process on a CPU of its own,
	// away from the clients and the fake model service, when the machine
	// has two CPUs. The program must call ServeGatewayChild first thing:
	// the child is the same executable.
	GatewaySplit bool
	// SyncNodes is the number of nodes of the sync scenario (default 10),
	// each booking SyncRate times a second (default 20); SyncRaceShare of
	// the bookings (default 0.05, negative for none) race another node's
	// for the same slot.
	SyncNodes     int
	SyncRate      float64
	SyncRaceShare float64
	// ConsultLevels are the numbers of concurrent recordings of the
	// consult scenario's ramp (default 1, 16, 64, 128, 256), each
	// streaming for ConsultWindow (default 12 s); ConsultWords is the words
	// of its latency recording (default 30); ConsultPace the seconds of
	// audio sent a second (default 1, real time; more is time-compressed).
	ConsultLevels []int
	ConsultWindow time.Duration
	ConsultWords  int
	ConsultPace   float64
	// Scenarios limits the run to these (me, audit, booking, slots,
	// knowledge, fanout, gateway, offline-answers, sync, replicas,
	// replication, consult); empty runs them all.
	Scenarios []string

	// historyDays is how far back the slot search doctor's appointments go
	// (default 365); tests shorten it.
	historyDays int
}

func (o Options) withDefaults() Options {
	if o.Duration == 0 {
		o.Duration = 5 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = time.Second
	}
	if o.FanoutClients == 0 {
		o.FanoutClients = 1000
	}
	if o.Clients == 0 {
		o.Clients = 64
	}
	if o.BookingClients == 0 {
		o.BookingClients = 1000
	}
	if o.KnowledgeDocs == 0 {
		o.KnowledgeDocs = 10000
	}
	if o.KnowledgeSaves == 0 {
		o.KnowledgeSaves = 50
	}
	if len(o.KnowledgeChunks) == 0 {
		o.KnowledgeChunks = []int{100000, 1000000}
	}
	if o.KnowledgeQueries == 0 {
		o.KnowledgeQueries = 200
	}
	if o.historyDays == 0 {
		o.historyDays = 365
	}
	if o.GatewayClients == 0 {
		o.GatewayClients = 500
	}
	if o.GatewayRounds == 0 {
		o.GatewayRounds = 4
	}
	if o.SyncNodes == 0 {
		o.SyncNodes = 10
	}
	if o.SyncRate == 0 {
		o.SyncRate = 20
	}
	if o.SyncRaceShare == 0 {
		o.SyncRaceShare = 0.05
	}
	return o.consultDefaults()
}

// Scenario names, for Options.Scenarios.
var scenarioNames = []string{"me", "audit", "booking", "slots", "knowledge", "fanout", "gateway", "offline-answers", "sync", "replicas", "replication", "consult"}

func (o Options) want(name string) bool {
	return len(o.Scenarios) == 0 || slices.Contains(o.Scenarios, name)
}

func (o Options) validate() error {
	for _, n := range o.Scenarios {
		if !slices.Contains(scenarioNames, n) {
			return fmt.Errorf("unknown scenario %q: choose from %s", n, strings.Join(scenarioNames, ", "))
		}
	}
	switch {
	case o.Duration <= 0:
		return fmt.Errorf("duration %v must be positive", o.Duration)
	case o.Warmup < 0:
		return fmt.Errorf("warm-up %v must not be negative", o.Warmup)
	case o.Clients < 1 || o.Clients > 4096:
		return fmt.Errorf("clients %d must be between 1 and 4096", o.Clients)
	case o.BookingClients < 1 || o.BookingClients > maxBookingClients:
		return fmt.Errorf("booking clients %d must be between 1 and %d", o.BookingClients, maxBookingClients)
	case o.historyDays < 14:
		return fmt.Errorf("slot search history of %d days is shorter than 14", o.historyDays)
	case o.SyncNodes < 1 || o.SyncNodes > maxSyncNodes:
		return fmt.Errorf("sync nodes %d must be between 1 and %d", o.SyncNodes, maxSyncNodes)
	case !(o.SyncRate > 0 && o.SyncRate <= 1000):
		return fmt.Errorf("sync rate %v must be above 0 and at most 1000 bookings a second per node", o.SyncRate)
	case o.SyncRaceShare > 1:
		return fmt.Errorf("sync race share %v must be at most 1", o.SyncRaceShare)
	}
	return o.validateConsult()
}

func (o Options) logger() *slog.Logger {
	if o.Log == nil {
		return discardLogger()
	}
	return slog.New(slog.NewTextHandler(o.Log, &slog.HandlerOptions{Level: slog.LevelError}))
}

// Run measures every scenario on each engine and writes a report to w, a
// row as each scenario finishes. It fails when a scenario's check fails (a
// broken audit chain, a double booking), after reporting it.
func Run(ctx context.Context, w io.Writer, engines []Engine, o Options) error {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return err
	}
	if len(engines) == 0 {
		return errors.New("no engine to measure")
	}
	fmt.Fprintf(w, "HealthHub benchmark: %s %s/%s, %d CPUs, %d clients (%d for bookings), %v per scenario after %v warm-up\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), o.Clients, o.BookingClients, o.Duration, o.Warmup)
	fmt.Fprintf(w, "%-9s %-18s %8s %18s %10s %10s %10s %8s\n", "engine", "scenario", "clients", "throughput", "p50", "p99", "max", "errors")
	for _, e := range engines {
		if err := runEngine(ctx, w, e, o); err != nil {
			return err
		}
	}
	if o.want("fanout") {
		// After the engines, so its thousand connections do not disturb them.
		fo, err := BenchFanout(ctx, o.FanoutClients, 5, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-9s %-18s %8d %18s %10s %10s %10s %8d\n", "any", "WebSocket fan-out", fo.Clients, "5 events", ms(fo.P50), ms(fo.P99), ms(fo.Max), fo.Missed)
		writeNote(w, "any", "fan-out setup", "%d clients connected in %s; latency from Publish to each client's read; p99 target 50ms", fo.Clients, ms(fo.Connect))
	}
	if o.want("offline-answers") {
		// Quality, not speed: how often the offline answer's first quote
		// is a passage that answers (SQLite, the starter documents).
		figures, err := BenchOfflineAnswers(ctx, o)
		if err != nil {
			return err
		}
		for _, f := range figures {
			writeNote(w, "sqlite", "offline answers", "%s", f)
		}
	}
	if o.want("gateway") {
		gw, err := BenchGateway(ctx, o.GatewayClients, o.GatewayRounds, o)
		if err != nil {
			return err
		}
		writeNote(w, "sqlite", "chat gateway", "%d concurrent streamed chats, %d in a row each; the model answers %d pieces, the first after %s, then one every %s",
			gw.Clients, gw.Rounds, gw.Pieces, ms(gw.FirstDelay), ms(gw.Delay))
		writeNote(w, "sqlite", "chat gateway", "%s", gw.Layout)
		for _, r := range gw.Rows {
			writeNote(w, "sqlite", "chat gateway", "%-40s first token p50 %s p99 %s, whole answer p50 %s p99 %s, %d errors of %d",
				r.Name+":", ms(r.TTFT50), ms(r.TTFT99), ms(r.Total50), ms(r.Total99), r.Errors, r.Chats)
			if r.FirstError != "" {
				writeNote(w, "", "", "first error: %s", r.FirstError)
			}
		}
		for _, r := range gw.Rows[1:] {
			writeNote(w, "sqlite", "gateway added", "%-40s first token p50 %+.2fms p99 %+.2fms, whole answer p50 %+.2fms p99 %+.2fms; target without retrieval: p50 1ms, p99 5ms",
				r.Name+":", msf(r.AddedTTFT50), msf(r.AddedTTFT99), msf(r.AddedTotal50), msf(r.AddedTotal99))
		}
	}
	return nil
}

// msf is a duration in milliseconds, as a number.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runEngine runs the chosen scenarios on one engine, a row as each ends.
func runEngine(ctx context.Context, w io.Writer, e Engine, o Options) error {
	if o.want("me") {
		me, err := BenchMe(ctx, e, o)
		if err != nil {
			return err
		}
		writeRow(w, e.Name, "GET /api/v1/me", "req/s", me.Stats)
	}
	if o.want("audit") {
		ap, err := BenchAudit(ctx, e, o)
		if ap.Clients > 0 {
			writeRow(w, e.Name, "audit Record", "appends/s", ap.Stats)
		}
		if err != nil {
			return err
		}
		writeNote(w, e.Name, "audit Verify", "chain intact: %d events verified, head %d", ap.Chain.Events, ap.Chain.HeadSeq)
	}
	if o.want("booking") {
		bk, err := BenchBooking(ctx, e, o)
		if bk.Booked.Clients > 0 {
			writeRow(w, e.Name, "POST booking 201", "bookings/s", bk.Booked)
			writeRow(w, e.Name, "POST booking 409", "conflicts/s", bk.Conflicts)
			writeNote(w, e.Name, "booking check", "double bookings: %d (%d appointments stored, %d bookings acknowledged; %.1f conflicts per booking)",
				bk.DoubleBookings, bk.Stored, bk.Acknowledged, ratio(bk.Conflicts.OK, bk.Booked.OK))
			if bk.Exhausted {
				writeNote(w, e.Name, "", "every slot of the horizon was booked before the end: later requests could only conflict")
			}
		}
		if err != nil {
			return err
		}
	}
	if o.want("slots") {
		sl, err := BenchSlots(ctx, e, o)
		if err != nil {
			return err
		}
		writeRow(w, e.Name, "GET slots next 7d", "req/s", sl.Next)
		writeRow(w, e.Name, "GET slots past 7d", "req/s", sl.Past)
		writeRow(w, e.Name, "GET slots next 7d", "req/s", sl.NextAlone)
		writeNote(w, e.Name, "slot search data", "%d appointments in the past %d days, %d ahead; next 7d: %d booked, %d free slots; past 7d: %d booked, %d free; p99 target %s",
			sl.PastAppointments, o.historyDays, sl.FutureAppointments, sl.NextBooked, sl.NextFree, sl.PastBooked, sl.PastFree, ms(slotSearchTarget))
	}
	if o.want("knowledge") {
		kb, err := BenchKnowledge(ctx, e, o)
		if err != nil {
			return err
		}
		writeNote(w, e.Name, "knowledge ingest", "%d documents (%.1f MB) in %s: %.0f documents/s, %.1f MB/s, %d passages, %d failed; target 1,000 documents/s",
			kb.Docs, float64(kb.Bytes)/1e6, kb.Ingest.Round(time.Millisecond), float64(kb.Docs)/kb.Ingest.Seconds(), float64(kb.Bytes)/1e6/kb.Ingest.Seconds(), kb.IngestChunks, kb.Failures)
		writeNote(w, e.Name, "saved→searchable", "%d saves: p50 %s, p95 %s, max %s, %d not found within 10 s; target p95 1 s",
			kb.Saves, ms(kb.SaveP50), ms(kb.SaveP95), ms(kb.SaveMax), kb.SaveTimeouts)
		for _, sc := range kb.SearchScales {
			writeNote(w, e.Name, "knowledge search", "%d passages (written in %s): %d queries of 2-4 words, p50 %s, p99 %s, max %s, %.1f results each; target p99 20ms at 1,000,000",
				sc.Chunks, sc.Load.Round(time.Second), kb.SearchQueries, ms(sc.P50), ms(sc.P99), ms(sc.Max), sc.Hits)
		}
	}
	if o.want("sync") {
		sy, err := BenchSync(ctx, e, o)
		writeSync(w, sy)
		if err != nil {
			return err
		}
	}
	if o.want("replicas") {
		rp, err := BenchReplicas(ctx, e, o)
		writeReplicas(w, e.Name, rp)
		if err != nil {
			return err
		}
	}
	if err := runConsult(ctx, w, e, o); err != nil {
		return err
	}
	return runReplication(ctx, w, e, o)
}

func writeRow(w io.Writer, engine, scenario, unit string, s Stats) {
	fmt.Fprintf(w, "%-9s %-18s %8d %18s %10s %10s %10s %8d\n", engine, scenario, s.Clients,
		fmt.Sprintf("%.0f %s", s.Rate(), unit), ms(s.P50), ms(s.P99), ms(s.Max), s.Errors)
	if s.FirstError != "" {
		writeNote(w, "", "", "first error: %s", s.FirstError)
	}
}

// writeNote writes a line of text in place of a row's figures.
func writeNote(w io.Writer, engine, scenario, format string, args ...any) {
	fmt.Fprintf(w, "%-9s %-18s %s\n", engine, scenario, fmt.Sprintf(format, args...))
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// ms formats a latency in milliseconds, the same unit on every row.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
