package audit

import (
	"context"
	"fmt"

	"github.com/healthhub/healthhub/backend/domain"
)

// Report is the outcome of walking the whole chain.
type Report struct {
	OK       bool   `json:"ok"`
	Events   int64  `json:"events"`
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// AnchorSeq is the last event removed from the start of the log by
	// retention (0 when none was): the walk starts from its hash.
	AnchorSeq int64 `json:"anchor_seq,omitempty"`
	// BrokenAt is the sequence number of the first event that fails, and
	// Problem says what is wrong there; both empty when OK.
	BrokenAt int64  `json:"broken_at,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

// Verify walks the chain from the first event (after the anchor, for an
// AnchoredReader) and reports the first broken
// link: an edited event (its hash no longer matches its content), a deleted
// one (a gap in the sequence), an inserted or reordered one (its link to the
// previous hash is wrong), or a cut-off tail (the head names a later event).
func Verify(ctx context.Context, store Reader) (Report, error) {
	headSeq, headHash, err := store.AuditHead(ctx)
	if err != nil {
		return Report{}, err
	}
	r := Report{HeadSeq: headSeq, HeadHash: headHash}
	var seq int64
	prev := ""
	if a, ok := store.(AnchoredReader); ok {
		if seq, prev, err = a.AuditAnchor(ctx); err != nil {
			return Report{}, err
		}
		r.AnchorSeq = seq
	}
	for reads := 1; ; reads++ {
		for {
			page, err := store.ScanAudit(ctx, seq, 2000)
			if err != nil {
				return Report{}, err
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if r.Events == 0 && e.Seq > seq+1 {
					// Retention may have removed a prefix since the
					// anchor was read: read it again.
					if err := reanchor(ctx, store, &r, &seq, &prev); err != nil {
						return Report{}, err
					}
				}
				if problem := checkLink(seq, prev, e); problem != "" {
					r.BrokenAt, r.Problem = e.Seq, problem
					return r, nil
				}
				seq, prev = e.Seq, e.Hash
				r.Events++
			}
		}
		if seq <= headSeq || reads == maxHeadReads {
			break
		}
		// The log holds events past the head read at the start: appended
		// while it was walked (the head moves in the same transaction as
		// each event), or added outside HealthHub. The head read now tells.
		if headSeq, headHash, err = store.AuditHead(ctx); err != nil {
			return Report{}, err
		}
		r.HeadSeq, r.HeadHash = headSeq, headHash
		if seq > headSeq {
			break
		}
	}
	switch {
	case seq < headSeq:
		r.BrokenAt = seq + 1
		r.Problem = fmt.Sprintf("events %d to %d are missing: the log ends at %d but was written up to %d", seq+1, headSeq, seq, headSeq)
	case seq > headSeq:
		r.BrokenAt = headSeq + 1
		r.Problem = fmt.Sprintf("events after %d were added outside HealthHub: the log was written up to %d but holds %d", headSeq, headSeq, seq)
	case prev != headHash:
		r.BrokenAt = seq
		r.Problem = fmt.Sprintf("the last event (%d) does not match the recorded head of the chain", seq)
	default:
		r.OK = true
	}
	return r, nil
}

// AnchoredReader is a log whose start retention may have removed: the
// anchor is the sequence number and hash of the last event removed, which
// the first event kept links to.
type AnchoredReader interface {
	AuditAnchor(ctx context.Context) (seq int64, hash string, err error)
}

// reanchor reads the anchor of an AnchoredReader again and starts the walk
// from it when it has moved forward.
func reanchor(ctx context.Context, store Reader, r *Report, seq *int64, prev *string) error {
	a, ok := store.(AnchoredReader)
	if !ok {
		return nil
	}
	s, h, err := a.AuditAnchor(ctx)
	if err != nil || s <= *seq {
		return err
	}
	*seq, *prev, r.AnchorSeq = s, h, s
	return nil
}

// maxHeadReads bounds how often Verify reads the head again while events
// keep being appended during the walk.
const maxHeadReads = 10

func checkLink(prevSeq int64, prevHash string, e *domain.AuditEvent) string {
	switch {
	case e.Seq > prevSeq+1:
		return fmt.Sprintf("events %d to %d are missing (deleted)", prevSeq+1, e.Seq-1)
	case e.Seq != prevSeq+1:
		return fmt.Sprintf("event %d is out of sequence after %d", e.Seq, prevSeq)
	case e.PrevHash != prevHash:
		return fmt.Sprintf("event %d does not link to event %d (inserted, reordered or the earlier event was replaced)", e.Seq, prevSeq)
	case !e.Intact():
		return fmt.Sprintf("event %d was altered after it was written (its content no longer matches its hash)", e.Seq)
	}
	return ""
}

// ResourceAuditEvent is the resource type of events about the log itself.
const ResourceAuditEvent = "audit_event"

// RecordVerify records a check of the chain and what it found, whether the
// check ran over the API or on the command line: the latest such event
// tells administrators when the chain was last known intact. The detail
// holds counts only.
func (l *Log) RecordVerify(ctx context.Context, rep Report) error {
	return l.Record(ctx, VerifyEvent(rep))
}

// VerifyEvent is the event that records a check of the chain.
func VerifyEvent(rep Report) Event {
	ev := Event{Action: domain.ActionVerify, ResourceType: ResourceAuditEvent, Outcome: domain.OutcomeSuccess,
		Detail: fmt.Sprintf("events=%d head=%d", rep.Events, rep.HeadSeq)}
	if !rep.OK {
		ev.Outcome, ev.Detail = domain.OutcomeFailure, fmt.Sprintf("broken_at=%d", rep.BrokenAt)
	}
	return ev
}
