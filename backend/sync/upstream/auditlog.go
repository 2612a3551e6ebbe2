package upstream

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
	"github.com/healthhub/healthhub/backend/sync/auditship"
)

// MaxAuditBatch is the most events one audit batch may carry.
const MaxAuditBatch = 1000

// AuditState is what the upstream holds of a node's audit log.
type AuditState struct {
	Size     int64  `json:"size"`
	HeadHash string `json:"head_hash"`
}

// AuditAck answers an accepted batch.
type AuditAck struct {
	Size       int64 `json:"size"`
	New        int   `json:"new"`
	Redelivery int   `json:"redelivery"`
}

// AuditState says how much of its log the node has shipped.
func (s *Service) AuditState(ctx context.Context, n *domain.SyncNode) (*AuditState, error) {
	if err := s.guard.Authorize(ctx, policy.Read, policy.Resource{Type: policy.SyncFeed, ID: n.ID}); err != nil {
		return nil, err
	}
	st, err := s.store.SyncAuditState(ctx, n.ID)
	if err != nil {
		return nil, err
	}
	return &AuditState{Size: st.Size, HeadHash: st.HeadHash}, nil
}

// treeHashes reads a node's stored tree hashes.
type treeHashes struct {
	ctx   context.Context
	store Store
	node  string
}

func (t treeHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	got, err := t.store.SyncTreeHashes(t.ctx, t.node, indexes)
	if err != nil {
		return nil, err
	}
	out := make([]tlog.Hash, len(got))
	for i, h := range got {
		out[i] = h
	}
	return out, nil
}

// AcceptAudit stores a batch of the node's audit log when it continues what
// the upstream holds and its checkpoint and proof verify. A batch that
// shows the node's log was changed after it was shipped is refused and
// raised as a security alert.
func (s *Service) AcceptAudit(ctx context.Context, n *domain.SyncNode, b *auditship.Batch) (*AuditAck, error) {
	if err := s.guard.Authorize(ctx, policy.Create, policy.Resource{Type: policy.SyncFeed, ID: n.ID}); err != nil {
		return nil, err
	}
	if b == nil || len(b.Checkpoint) == 0 {
		return nil, domain.Invalid("checkpoint", "A batch needs a signed checkpoint.")
	}
	if len(b.Events) > MaxAuditBatch {
		return nil, domain.Invalid("events", "Send at most %d events at a time.", MaxAuditBatch)
	}
	v, err := note.NewVerifier(n.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("node %s has an unusable key: %w", n.ID, err)
	}
	st, err := s.store.SyncAuditState(ctx, n.ID)
	if err != nil {
		return nil, err
	}
	var last auditship.Checkpoint
	if len(st.Checkpoint) > 0 {
		if last, err = auditship.Open(st.Checkpoint, v); err != nil {
			return nil, fmt.Errorf("the stored checkpoint of node %s does not open: %w", n.ID, err)
		}
	}
	tree := auditship.LoadTree(st.Size, st.HeadHash, treeHashes{ctx: ctx, store: s.store, node: n.ID})
	got, err := auditship.Accept(tree, last, b, v, func(seq int64) (*domain.AuditEvent, error) {
		return s.store.SyncAuditEvent(ctx, n.ID, seq)
	})
	if err != nil {
		if errors.Is(err, auditship.ErrBadProof) && b.Since != last.Size {
			// The batch starts from an older state than the upstream holds
			// (the node missed the answer to its last batch): its events
			// and its checkpoint's root checked, only its proof starts
			// elsewhere. The node's mistake, not a sign of tampering.
			s.logger.Warn("sync audit batch refused", "node", n.ID, "err", err)
			return nil, domain.Invalid("since", "The audit batch continues from %d events; the upstream holds %d. Ask for the audit state and send from there.",
				b.Since, last.Size)
		}
		return nil, s.refuse(ctx, n, err)
	}
	if got.New > 0 {
		fresh := b.Events[len(b.Events)-got.New:]
		if w := s.watch.Load(); w != nil {
			// Before the events are stored: a failure here has the node
			// send the batch again, and the watcher sees it again.
			if err := w.AuditShipped(ctx, n, fresh); err != nil {
				return nil, err
			}
		}
		if err := s.store.AppendSyncAudit(ctx, n.ID, st.Size, fresh, tree.Added(),
			domain.SyncAudit{Size: tree.Size(), HeadHash: tree.HeadHash(), Checkpoint: b.Checkpoint}); err != nil {
			return nil, err
		}
		if err := s.audit.Record(ctx, audit.Event{Action: domain.ActionCreate, ResourceType: policy.SyncFeed, ResourceID: n.ID,
			Detail: fmt.Sprintf("audit_events=%d size=%d", got.New, tree.Size())}); err != nil {
			return nil, err
		}
	}
	return &AuditAck{Size: tree.Size(), New: got.New, Redelivery: got.Redelivery}, nil
}

// refuse answers a batch that does not verify. A changed event, or a
// checkpoint of another tree under the node's key, is a security alert; a
// gap or a malformed batch is the node's mistake to correct.
func (s *Service) refuse(ctx context.Context, n *domain.SyncNode, err error) error {
	switch {
	case errors.Is(err, auditship.ErrDivergent), errors.Is(err, auditship.ErrBrokenChain), errors.Is(err, auditship.ErrWrongRoot),
		errors.Is(err, auditship.ErrBadProof), errors.Is(err, auditship.ErrBadSignature):
		kind := "audit_divergent"
		if errors.Is(err, auditship.ErrBadSignature) {
			kind = "audit_bad_signature"
		}
		s.alert(ctx, n, kind, "The audit log that node "+n.Name+" ("+n.ID+") sent does not match what it sent before, or is not signed with its key: "+
			err.Error()+". Its log may have been altered. Nothing of the batch was stored.")
		return &domain.Error{Code: domain.ECONFLICT, Message: "The audit batch was refused: " + err.Error() + ". An administrator of the upstream was alerted."}
	case errors.Is(err, auditship.ErrGap), errors.Is(err, auditship.ErrMalformed):
		s.logger.Warn("sync audit batch refused", "node", n.ID, "err", err)
		return domain.Invalid("events", "The audit batch was refused: %s. Ask for the audit state and send from there.", err.Error())
	}
	return err
}
