// Package audit records who did what to which record, in a hash chain the
// database keeps append-only, and checks that chain.
package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/domain"
)

// Log appends events with group commit: concurrent callers' events share one
// transaction, and each caller returns only once its event is durable. A
// request whose audit event cannot be written fails (fail closed).
type Log struct {
	store    domain.AuditStore
	now      func() time.Time
	logger   *slog.Logger
	maxBatch int

	requests chan *request
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

type request struct {
	event *domain.AuditEvent
	errc  chan error
}

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit log closed")

// NewLog starts the writer. Close stops it after writing what is queued.
func NewLog(store domain.AuditStore, now func() time.Time, logger *slog.Logger) *Log {
	l := &Log{
		store: store, now: now, logger: logger, maxBatch: 512,
		requests: make(chan *request, 4096),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go l.run()
	return l
}

// Event is what a caller says about one access; Record fills in the rest
// from the context (caller, request) and the clock.
type Event struct {
	Action       string
	ResourceType string
	ResourceID   string
	PatientID    string
	Outcome      string // default success
	Detail       string // never patient data: codes, counts, field names
	// Actor overrides the principal in the context (logins, for instance,
	// happen before there is one).
	Actor *domain.Principal
}

// Record appends one event and waits until it is stored.
func (l *Log) Record(ctx context.Context, ev Event) error {
	e := l.build(ctx, ev)
	r := &request{event: e, errc: make(chan error, 1)}
	select {
	case <-l.stop:
		return ErrClosed
	default:
	}
	select {
	case l.requests <- r:
	case <-l.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Wait for the write even if the caller gives up: the event is in flight.
	return <-r.errc
}

// RecordEach appends events (in one transaction when they fit a batch) and
// waits until all are stored; the first error is returned.
func (l *Log) RecordEach(ctx context.Context, evs []Event) error {
	reqs := make([]*request, 0, len(evs))
	var err error
	for _, ev := range evs {
		r := &request{event: l.build(ctx, ev), errc: make(chan error, 1)}
		select {
		case <-l.stop:
			err = ErrClosed
		default:
			select {
			case l.requests <- r:
				reqs = append(reqs, r)
			case <-l.stop:
				err = ErrClosed
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if err != nil {
			break
		}
	}
	// Wait for every write in flight, even if the caller gives up.
	for _, r := range reqs {
		if werr := <-r.errc; werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// RecordEach appends events through rec, together where rec can.
func RecordEach(ctx context.Context, rec Recorder, evs []Event) error {
	if l, ok := rec.(interface {
		RecordEach(context.Context, []Event) error
	}); ok {
		return l.RecordEach(ctx, evs)
	}
	for _, ev := range evs {
		if err := rec.Record(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) build(ctx context.Context, ev Event) *domain.AuditEvent {
	p := ev.Actor
	if p == nil {
		p = domain.PrincipalFrom(ctx)
	}
	meta := domain.RequestMetaFrom(ctx)
	e := &domain.AuditEvent{
		ID: uuid.Must(uuid.NewV7()).String(), Time: l.now(),
		Action: ev.Action, ResourceType: ev.ResourceType, ResourceID: ev.ResourceID, PatientID: ev.PatientID,
		Outcome: ev.Outcome, Detail: ev.Detail,
		SourceIP: meta.SourceIP, UserAgent: truncate(meta.UserAgent, 256), RequestID: meta.RequestID,
	}
	if e.Outcome == "" {
		e.Outcome = domain.OutcomeSuccess
	}
	if p != nil {
		e.ActorID, e.ActorRole = p.UserID, string(p.Role)
	} else {
		e.ActorID, e.ActorRole = "anonymous", ""
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (l *Log) run() {
	defer close(l.done)
	batch := make([]*request, 0, l.maxBatch)
	for {
		select {
		case r := <-l.requests:
			batch = append(batch[:0], r)
		case <-l.stop:
			l.drain()
			return
		}
	fill:
		for len(batch) < l.maxBatch {
			select {
			case r := <-l.requests:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		l.write(batch)
	}
}

// drain writes whatever was queued before Close.
func (l *Log) drain() {
	var batch []*request
	for {
		select {
		case r := <-l.requests:
			batch = append(batch, r)
			if len(batch) == l.maxBatch {
				l.write(batch)
				batch = batch[:0]
			}
		default:
			if len(batch) > 0 {
				l.write(batch)
			}
			return
		}
	}
}

func (l *Log) write(batch []*request) {
	events := make([]*domain.AuditEvent, len(batch))
	for i, r := range batch {
		events[i] = r.event
	}
	// Generous: under heavy write load the batch queues behind other writers;
	// only an outage should fail the requests waiting on it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := l.store.AppendAudit(ctx, events)
	cancel()
	if err != nil {
		l.logger.Error("audit append failed", "events", len(events), "err", err)
		err = domain.Unavailable(err, "The audit log could not be written, so the request was not completed. Please try again shortly.")
	}
	for _, r := range batch {
		r.errc <- err
	}
}

// Close stops accepting events, writes the queued ones and waits.
func (l *Log) Close() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

// Recorder appends audit events; *Log is one. Services depend on this, not
// on the log itself.
type Recorder interface {
	Record(ctx context.Context, ev Event) error
}

// Reader reads the chain: what checking, searching and exporting it need.
type Reader interface {
	ListAudit(ctx context.Context, f domain.AuditFilter) ([]*domain.AuditEvent, error)
	ScanAudit(ctx context.Context, afterSeq int64, limit int) ([]*domain.AuditEvent, error)
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
}
