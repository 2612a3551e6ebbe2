package httpapi

import (
	"context"

	"github.com/healthhub/healthhub/backend/sync/node"
	"github.com/healthhub/healthhub/backend/sync/upstream"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus series, on a registry of their own.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "healthhub_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "healthhub_http_request_duration_seconds", Help: "HTTP request latency by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
	}
	m.registry.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// knownMethods keep their name as a label; anything else is OTHER, so made-up
// methods cannot grow the series without bound.
var knownMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	if !knownMethods[method] {
		method = "OTHER"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

// leaderMetrics reports whether this process leads: on replicas of one
// database exactly one should at any time.
func (m *metrics) leaderMetrics(l Leader) {
	if l == nil {
		return
	}
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthhub_leader", Help: "1 while this process runs the background work (notifications, sync, knowledge sources), else 0."},
			func() float64 {
				if l.Leading() {
					return 1
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "healthhub_leader_terms_total", Help: "Times this process became the one running the background work."},
			func() float64 { return float64(l.Terms()) }),
	)
}

// snapshotMetrics reports when the newest snapshot was taken.
func (m *metrics) snapshotMetrics(last func() (time.Time, bool)) {
	if last == nil {
		return
	}
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthhub_backup_last_success_timestamp_seconds",
		Help: "When the newest snapshot of this installation was taken (0: none); alert when it is older than the backup interval."},
		func() float64 {
			if at, ok := last(); ok {
				return float64(at.Unix())
			}
			return 0
		}))
}

// syncMetrics reports this installation's sync: the node's queue, lag and
// outcomes, and the alerts raised as an upstream.
func (m *metrics) syncMetrics(n *node.Service, up *upstream.Service) {
	if n != nil {
		status := func() *node.Status {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st, err := n.Status(ctx)
			if err != nil {
				return &node.Status{}
			}
			return st
		}
		counts := func(f func(node.Counts) int64) func() float64 {
			return func() float64 { return float64(f(n.Counts())) }
		}
		m.registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthhub_sync_queue_length", Help: "Appointment changes waiting to be sent to the upstream."},
				func() float64 { return float64(status().Queued) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthhub_sync_lag_seconds", Help: "Age of the oldest change waiting for the upstream (0 when none)."},
				func() float64 {
					st := status()
					if st.Queued == 0 || st.OldestQueued.IsZero() {
						return 0
					}
					return time.Since(st.OldestQueued).Seconds()
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthhub_sync_last_success_timestamp_seconds", Help: "When a sync round last succeeded (0 never)."},
				func() float64 {
					if t := status().LastSuccess; !t.IsZero() {
						return float64(t.UnixNano()) / 1e9
					}
					return 0
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthhub_sync_open_conflicts", Help: "Conflicts waiting for the front desk to rebook."},
				func() float64 { return float64(status().OpenConflicts) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "healthhub_sync_ops_applied_total", Help: "Queued changes the upstream applied."},
				counts(func(c node.Counts) int64 { return c.Applied })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "healthhub_sync_ops_conflicts_total", Help: "Queued changes that lost a race upstream."},
				counts(func(c node.Counts) int64 { return c.Conflicts })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "healthhub_sync_ops_rejected_total", Help: "Queued changes the upstream refused."},
				counts(func(c node.Counts) int64 { return c.Rejected })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "healthhub_sync_rounds_failed_total", Help: "Sync rounds that failed and were retried."},
				counts(func(c node.Counts) int64 { return c.Failures })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "healthhub_sync_resyncs_total", Help: "Pulls begun again from the start because the cursor was older than the upstream keeps."},
				counts(func(c node.Counts) int64 { return c.Resyncs })),
		)
	}
	if up != nil {
		m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "healthhub_sync_alerts_total",
			Help: "Security alerts raised by nodes' audit batches that did not verify."}, func() float64 { return float64(up.Alerts()) }))
	}
}
