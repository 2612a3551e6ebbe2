package node

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/sync/auditship"
	"github.com/healthhub/healthhub/backend/sync/upstream"
)

// push sends the outbox, oldest first, until it is empty. Every answer
// (applied, conflict, rejected) is recorded and ends the op; only a
// transport failure stops the push, to be retried.
func (s *Service) push(ctx context.Context, c *client) error {
	for {
		ops, err := s.store.QueuedOps(ctx, s.opts.OpBatch)
		if err != nil {
			return err
		}
		if len(ops) == 0 {
			return nil
		}
		var out upstream.Pushed
		if err := c.call(ctx, "POST", "/api/v1/sync/ops", upstream.Push{Ops: ops}, &out); err != nil {
			return err
		}
		if len(out.Results) != len(ops) {
			return fmt.Errorf("the upstream answered %d of %d ops", len(out.Results), len(ops))
		}
		for i, res := range out.Results {
			if res == nil || res.OpID != ops[i].ID {
				return fmt.Errorf("the upstream's answer %d is not for op %s", i, ops[i].ID)
			}
			if res.Appointment != nil {
				res.Appointment = s.local(res.Appointment)
			}
			// Recorded here as answered when the answer arrived: after the
			// upstream committed it, on this node's clock.
			res.At = s.now()
			if err := s.store.AnswerSyncOp(ctx, res); err != nil {
				return err
			}
			if res.Appointment != nil {
				if err := s.answered(ctx, res.Appointment); err != nil {
					return err
				}
			}
			s.metrics.answered(res.Outcome)
			s.announce(ctx, res)
		}
	}
}

// announce tells the front desks what became of a queued change.
func (s *Service) announce(ctx context.Context, res *domain.SyncOpResult) {
	if s.events == nil {
		return
	}
	if res.Appointment != nil {
		s.publishAppointment(ctx, res.Appointment)
	}
	if res.Outcome != domain.OutcomeApplied {
		publish(ctx, s.events, s.now(), EventConflict, res.OpID, res, nil)
	}
}

// EventConflict is the live event of an op that lost or was refused.
const EventConflict = "sync.conflict"

// pull applies the upstream's changes after the cursor, page by page. The
// cursor moves with each change applied, in its transaction's wake; a
// change that cannot be applied yet (it overlaps a local booking still
// waiting for its answer) stops the pull, to be retried next round.
func (s *Service) pull(ctx context.Context, c *client) error {
	// seen collects the appointments a pull from the start brings, when the
	// node's cursor was older than the upstream keeps (a resync).
	var seen map[string]bool
	for {
		cursor, err := s.store.SyncValue(ctx, keyCursor)
		if err != nil {
			return err
		}
		var page upstream.Page
		q := url.Values{"after": {cursor}, "limit": {strconv.Itoa(s.opts.PullBatch)}}
		err = c.call(ctx, "GET", "/api/v1/sync/changes?"+q.Encode(), nil, &page)
		var r *refusal
		if errors.As(err, &r) && r.Code == domain.EGONE && cursor != "" {
			s.logger.Warn("sync cursor older than the upstream keeps: pulling everything again")
			s.metrics.resyncs.Add(1)
			if err := s.store.SetSyncValue(ctx, keyCursor, ""); err != nil {
				return err
			}
			if err := s.store.SetSyncValue(ctx, keyResync, "1"); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if seen == nil {
			if v, _ := s.store.SyncValue(ctx, keyResync); v == "1" && cursor == "" {
				seen = map[string]bool{}
			}
		}
		for i := range page.Changes {
			ch := &page.Changes[i]
			if seen != nil && ch.Appointment != nil {
				seen[ch.Appointment.ID] = true
			}
			if err := s.apply(ctx, ch); err != nil {
				return fmt.Errorf("apply the upstream's %s %s: %w", ch.Entity, ch.EntityID, err)
			}
			if err := s.store.SetSyncValue(ctx, keyCursor, ch.Cursor); err != nil {
				return err
			}
			s.metrics.pulled.Add(1)
		}
		if page.Next != cursor {
			if err := s.store.SetSyncValue(ctx, keyCursor, page.Next); err != nil {
				return err
			}
		}
		if !page.More {
			if err := s.retryDeferred(ctx); err != nil {
				return err
			}
			if seen != nil {
				return s.reconcile(ctx, seen)
			}
			return nil
		}
	}
}

// reconcile ends a resync: an appointment held here that the upstream's
// snapshot no longer has was cancelled there and its tombstone dropped, so
// it is cancelled here too (unless a change of this node is still queued
// for it, which the upstream will answer).
func (s *Service) reconcile(ctx context.Context, seen map[string]bool) error {
	now := s.now()
	for offset := 0; ; offset += 500 {
		page, err := s.store.ListAppointments(ctx, domain.AppointmentFilter{Limit: 500, Offset: offset})
		if err != nil {
			return err
		}
		for _, a := range page {
			if seen[a.ID] || !domain.Blocks(a.Status) {
				continue
			}
			gone := *a
			gone.Status, gone.CancelReason, gone.UpdatedAt = domain.StatusCancelled, "No longer held at the upstream server (found on a full resync).", now
			if done, err := s.store.PutSyncedAppointment(ctx, &gone); err != nil {
				return err
			} else if done {
				s.publishAppointment(ctx, &gone)
			}
		}
		if len(page) < 500 {
			break
		}
	}
	return s.store.SetSyncValue(ctx, keyResync, "")
}

// apply writes one pulled change locally.
func (s *Service) apply(ctx context.Context, ch *upstream.Change) error {
	switch {
	case ch.Deleted:
		return s.applyDeleted(ctx, ch)
	case ch.Appointment != nil:
		done, err := s.putState(ctx, s.local(ch.Appointment))
		if err != nil {
			return err
		}
		if done {
			s.publishAppointment(ctx, ch.Appointment)
		}
		return nil
	case ch.Conflict != nil:
		if err := s.store.PutSyncConflict(ctx, ch.Conflict); err != nil {
			return err
		}
		if s.events != nil {
			publish(ctx, s.events, s.now(), EventConflict, ch.Conflict.ID, ch.Conflict, nil)
		}
		return nil
	case ch.Doctor != nil && ch.Doctor.Doctor != nil && ch.Doctor.Account != nil:
		return s.store.PutSyncedDoctor(ctx, ch.Doctor, nil)
	case ch.Availability != nil:
		return s.store.PutAvailability(ctx, ch.Availability)
	case ch.Lease != nil:
		l := s.localLease(ch.Lease)
		if err := s.store.PutSyncLease(ctx, l); err != nil {
			return err
		}
		s.publishLease(ctx, l)
		return nil
	case ch.Patient != nil:
		p, err := s.patients.SealPatient(ch.Patient)
		if err != nil {
			return err
		}
		return s.store.PutSyncedPatient(ctx, p)
	}
	return nil
}

// shipAudit sends the audit events the upstream does not hold yet, each
// batch with a signed checkpoint and the proof from the last one.
func (s *Service) shipAudit(ctx context.Context, c *client) error {
	signer, _, err := s.signer(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	acked := s.acked
	s.mu.Unlock()
	if acked == nil {
		if acked, err = s.ackedTree(ctx, c); err != nil {
			return err
		}
	}
	for {
		events, err := s.store.ScanAudit(ctx, acked.Size(), s.opts.AuditBatch)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			break
		}
		b, ext, err := auditship.NewBatch(acked, events, signer)
		if err != nil {
			return fmt.Errorf("the local audit log does not chain: %w", err)
		}
		var ack upstream.AuditAck
		if err := c.call(ctx, "POST", "/api/v1/sync/audit", b, &ack); err != nil {
			var r *refusal
			if errors.As(err, &r) {
				// The upstream holds something else than thought: ask
				// again next round.
				s.mu.Lock()
				s.acked = nil
				s.mu.Unlock()
			}
			return err
		}
		if ack.Size != ext.Size() {
			s.mu.Lock()
			s.acked = nil
			s.mu.Unlock()
			return fmt.Errorf("the upstream holds %d audit events after the batch, not %d", ack.Size, ext.Size())
		}
		acked = ext
		s.mu.Lock()
		s.acked = acked
		s.mu.Unlock()
		s.metrics.auditShipped.Add(int64(len(events)))
		_ = s.store.SetSyncValue(ctx, keyAuditSent, strconv.FormatInt(acked.Size(), 10))
	}
	return nil
}

// ackedTree asks the upstream how much of the log it holds and builds the
// tree of that much of the local log, which must end with the same event.
func (s *Service) ackedTree(ctx context.Context, c *client) (*auditship.Tree, error) {
	var st upstream.AuditState
	if err := c.call(ctx, "GET", "/api/v1/sync/audit", nil, &st); err != nil {
		return nil, err
	}
	t := &auditship.Tree{}
	for t.Size() < st.Size {
		evs, err := s.store.ScanAudit(ctx, t.Size(), 1000)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			return nil, fmt.Errorf("the upstream holds %d audit events of this node, which has only %d", st.Size, t.Size())
		}
		for _, e := range evs {
			if e.Seq > st.Size {
				break
			}
			if err := t.Append(e); err != nil {
				return nil, fmt.Errorf("the local audit log does not chain: %w", err)
			}
		}
	}
	if t.HeadHash() != st.HeadHash {
		return nil, fmt.Errorf("the local audit log differs from what the upstream received: event %d was changed here", st.Size)
	}
	s.mu.Lock()
	s.acked = t
	s.mu.Unlock()
	return t, nil
}
