package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Stats is what one scenario measured over its window.
type Stats struct {
	Clients int
	Window  time.Duration
	// OK and Errors count the operations started inside the window.
	OK     int64
	Errors int64
	// Total counts every successful operation, warm-up included.
	Total int64
	// Latencies of the successful operations in the window.
	P50, P99, Max time.Duration
	// FirstError describes one failure, for the report; empty when none.
	FirstError string
}

// Rate is successful operations per second over the window.
func (s Stats) Rate() float64 {
	if s.Window <= 0 {
		return 0
	}
	return float64(s.OK) / s.Window.Seconds()
}

// clientTally is one load client's own record, merged after the run so the
// hot loop shares nothing with the other clients.
type clientTally struct {
	latencies [][]time.Duration // by kind of outcome
	total     []int64           // by kind
	errors    int64
	firstErr  error
}

// load runs clients goroutines, each calling the operation newOp made for
// it back to back, for warmup and then for window. Only operations started
// inside the window are counted.
func load(ctx context.Context, clients int, warmup, window time.Duration, newOp func(ctx context.Context) func() error) (Stats, error) {
	kinds, err := loadKinds(ctx, clients, 1, warmup, window, func(ctx context.Context, _ int) func() (int, error) {
		op := newOp(ctx)
		return func() (int, error) { return 0, op() }
	})
	if err != nil {
		return Stats{}, err
	}
	return kinds[0], nil
}

// loadKinds is load for operations that succeed in several ways, such as a
// booking made (201) or refused as a conflict (409): each successful call
// returns its kind, 0 to kinds-1, and each kind gets its own Stats. newOp
// learns the client's number, 0 to clients-1. Failures are counted in the
// Stats of kind 0 only.
func loadKinds(ctx context.Context, clients, kinds int, warmup, window time.Duration, newOp func(ctx context.Context, client int) func() (int, error)) ([]Stats, error) {
	start := time.Now().Add(warmup)
	end := start.Add(window)
	tallies := make([]clientTally, clients)
	// Enough room for a few seconds of fast operations without regrowing,
	// without reserving megabytes per client when there are a thousand.
	room := min(4096, max(64, (1<<18)/clients))
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Go(func() {
			t := &tallies[i]
			t.latencies = make([][]time.Duration, kinds)
			for k := range t.latencies {
				t.latencies[k] = make([]time.Duration, 0, room)
			}
			t.total = make([]int64, kinds)
			op := newOp(ctx, i)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				kind, err := op()
				d := time.Since(t0)
				if err == nil && (kind < 0 || kind >= kinds) {
					err = fmt.Errorf("operation reported outcome %d of %d", kind, kinds)
				}
				if err == nil {
					t.total[kind]++
				}
				if t0.Before(start) {
					continue
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					t.errors++
					if t.firstErr == nil {
						t.firstErr = err
					}
					continue
				}
				t.latencies[kind] = append(t.latencies[kind], d)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Stats, kinds)
	for k := range out {
		out[k] = merge(clients, window, tallies, k)
	}
	return out, nil
}

// merge gathers the clients' tallies of one kind of outcome; failures go
// with kind 0.
func merge(clients int, window time.Duration, tallies []clientTally, kind int) Stats {
	s := Stats{Clients: clients, Window: window}
	n := 0
	for _, t := range tallies {
		n += len(t.latencies[kind])
	}
	all := make([]time.Duration, 0, n)
	for _, t := range tallies {
		all = append(all, t.latencies[kind]...)
		s.Total += t.total[kind]
		if kind != 0 {
			continue
		}
		s.Errors += t.errors
		if s.FirstError == "" && t.firstErr != nil {
			s.FirstError = t.firstErr.Error()
		}
	}
	slices.Sort(all)
	s.OK = int64(len(all))
	s.P50 = percentile(all, 0.50)
	s.P99 = percentile(all, 0.99)
	if len(all) > 0 {
		s.Max = all[len(all)-1]
	}
	return s
}

// percentile is the nearest-rank percentile of sorted latencies; 0 when
// there are none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
