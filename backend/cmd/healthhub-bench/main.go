// Command healthhub-bench measures HealthHub's throughput and latency on each
// storage engine and prints the figures: SQLite always, PostgreSQL when
// HEALTHHUB_BENCH_DATABASE_URL or HEALTHHUB_TEST_DATABASE_URL is set. It
// fails when a check made after a scenario fails, such as a double booking.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/healthhub/healthhub/backend/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The gateway scenario runs HealthHub apart in a copy of this program.
	child, err := bench.ServeGatewayChild(ctx)
	if !child {
		err = run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthhub-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthhub-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 5*time.Second, "measured time per scenario, after a 1s warm-up")
	clients := fs.Int("clients", 64, "concurrent clients")
	bookingClients := fs.Int("booking-clients", 1000, "concurrent clients of the booking contention scenario")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios to run: me, audit, booking, slots, knowledge, fanout, gateway, offline-answers, sync, replicas, replication, consult (default all)")
	kdocs := fs.Int("knowledge-docs", 10000, "documents of about 5 KB ingested by the knowledge scenario")
	kchunks := fs.String("knowledge-chunks", "100000,1000000", "comma-separated index sizes (passages) at which knowledge search is timed")
	gatewayClients := fs.Int("gateway-clients", 500, "concurrent streamed chats of the gateway scenario")
	gatewaySplit := fs.Bool("gateway-split", false, "run the gateway scenario's HealthHub in a process of its own on one CPU, with the clients and the fake model service on another, rather than all in this process")
	syncNodes := fs.Int("sync-nodes", 10, "nodes of the sync scenario, each enrolled with one upstream")
	syncRate := fs.Float64("sync-rate", 20, "bookings a second each node of the sync scenario makes")
	consultLevels := fs.String("consult-levels", "1,16,64,128,256", "comma-separated numbers of concurrent recordings the consult scenario ramps through, stopping after the first the server does not keep up with")
	consultWindow := fs.Duration("consult-window", 12*time.Second, "audio each recording of the consult scenario's ramp streams")
	consultWords := fs.Int("consult-words", 30, "words of the consult scenario's latency recording")
	consultPace := fs.Float64("consult-pace", 1, "seconds of audio the consult scenario sends a second: 1 is real time, more is time-compressed (reported as such)")
	engines := fs.String("engines", "", "comma-separated engines to measure, sqlite and postgres (default all available)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *duration <= 0 {
		return fmt.Errorf("-duration %v must be positive", *duration)
	}
	if *clients < 1 {
		return fmt.Errorf("-clients %d must be at least 1", *clients)
	}
	if *gatewayClients < 1 || *gatewayClients > 5000 {
		return fmt.Errorf("-gateway-clients %d must be between 1 and 5000", *gatewayClients)
	}
	if *bookingClients < 1 {
		return fmt.Errorf("-booking-clients %d must be at least 1", *bookingClients)
	}
	var names []string
	for n := range strings.SplitSeq(*engines, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	selected, err := bench.SelectEngines(bench.Engines(bench.PostgresURL(getenv)), names)
	if err != nil {
		return err
	}
	o := bench.Options{Duration: *duration, Clients: *clients, BookingClients: *bookingClients, Log: stderr, KnowledgeDocs: *kdocs, GatewayClients: *gatewayClients, GatewaySplit: *gatewaySplit,
		SyncNodes: *syncNodes, SyncRate: *syncRate, ConsultWindow: *consultWindow, ConsultWords: *consultWords, ConsultPace: *consultPace}
	for n := range strings.SplitSeq(*scenarios, ",") {
		if n = strings.TrimSpace(n); n != "" {
			o.Scenarios = append(o.Scenarios, n)
		}
	}
	if o.KnowledgeChunks, err = positiveInts("knowledge-chunks", *kchunks); err != nil {
		return err
	}
	if o.ConsultLevels, err = positiveInts("consult-levels", *consultLevels); err != nil {
		return err
	}
	if *kdocs < 1 {
		return fmt.Errorf("-knowledge-docs %d must be at least 1", *kdocs)
	}
	return bench.Run(ctx, stdout, selected, o)
}

// positiveInts reads the comma-separated positive numbers of flag name.
func positiveInts(name, list string) ([]int, error) {
	var out []int
	for n := range strings.SplitSeq(list, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("-%s: %q is not a positive number", name, n)
		}
		out = append(out, v)
	}
	return out, nil
}
