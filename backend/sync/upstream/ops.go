package upstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
)

// MaxOps is the most ops one push may carry.
const MaxOps = 500

// Push is a batch of a node's ops, oldest first.
type Push struct {
	Ops []*domain.SyncOp `json:"ops"`
}

// Pushed answers each op, in order.
type Pushed struct {
	Results []*domain.SyncOpResult `json:"results"`
}

// Apply applies a node's ops in order, each exactly once: an op answered
// before gets its first answer again. A conflict or a rejection is an
// answer like any other and never stops the ops after it.
func (s *Service) Apply(ctx context.Context, n *domain.SyncNode, in Push) (*Pushed, error) {
	if err := s.guard.Authorize(ctx, policy.Create, policy.Resource{Type: policy.SyncFeed, ID: n.ID}); err != nil {
		return nil, err
	}
	if len(in.Ops) == 0 {
		return nil, domain.Invalid("ops", "Send at least one op.")
	}
	if len(in.Ops) > MaxOps {
		return nil, domain.Invalid("ops", "Send at most %d ops at a time.", MaxOps)
	}
	// A malformed push is refused whole, before any of its ops is applied.
	for i, op := range in.Ops {
		if op == nil || !validOpID(op.ID) {
			return nil, domain.Invalid(fmt.Sprintf("ops[%d].op_id", i), "Every op needs an op_id (a UUID).")
		}
	}
	out := &Pushed{Results: make([]*domain.SyncOpResult, 0, len(in.Ops))}
	for _, op := range in.Ops {
		res, err := s.applyOne(ctx, n, op)
		if err != nil {
			return nil, err
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

func validOpID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, c := range id {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// version is an appointment's version: its UpdatedAt at the upstream.
func version(a *domain.Appointment) string { return a.UpdatedAt.UTC().Format(domain.AuditTimeFormat) }

func (s *Service) applyOne(ctx context.Context, n *domain.SyncNode, op *domain.SyncOp) (*domain.SyncOpResult, error) {
	if prev, err := s.store.SyncOpResult(ctx, op.ID); err == nil {
		if prev.NodeID != "" && prev.NodeID != n.ID {
			// Refusing the whole push would wedge the node's queue on
			// this op: it is answered, and nothing is stored.
			s.logger.Warn("sync op id reused by another node", "node", n.ID)
			return &domain.SyncOpResult{OpID: op.ID, NodeID: n.ID, EntityID: op.EntityID, Outcome: domain.OutcomeRejected,
				Reason: "This op id was used by another node; the change was not made.", At: s.now()}, nil
		}
		return prev, nil
	} else if !domain.IsCode(err, domain.ENOTFOUND) {
		return nil, err
	}
	res := &domain.SyncOpResult{OpID: op.ID, NodeID: n.ID, EntityID: op.EntityID, At: s.now()}
	var w domain.SyncWrite
	var err error
	if reason := s.check(ctx, n, op); reason != "" {
		res.Outcome, res.Reason = domain.OutcomeRejected, reason
	} else if op.Kind == domain.OpBook {
		w, err = s.book(ctx, n, op, res)
	} else {
		w, err = s.update(ctx, n, op, res)
	}
	if err != nil {
		return nil, err
	}
	fwd := s.forwarding()
	forward := func() {
		if fwd != nil && w.Appointment != nil {
			w.Forward = &domain.SyncOp{Kind: op.Kind, ActorID: op.ActorID, ActorRole: op.ActorRole, CreatedAt: s.now()}
			if w.Create {
				w.Forward.Kind = domain.OpBook
			}
		}
	}
	forward()
	err = s.store.ApplySyncOp(ctx, res, w)
	if err != nil && domain.IsCode(err, domain.ECONFLICT) && !errors.Is(err, domain.ErrOpReplay) && w.Appointment != nil && res.Outcome == domain.OutcomeApplied {
		// The time was taken between the check and the write.
		w = s.lost(ctx, n, op, res, err)
		forward()
		err = s.store.ApplySyncOp(ctx, res, w)
	}
	if err == nil && w.Forward != nil {
		fwd.Queued()
	}
	if errors.Is(err, domain.ErrOpReplay) {
		return res, nil // delivered twice at once: the first answer stands
	}
	if err != nil {
		return nil, err
	}
	s.record(ctx, n, op, res)
	return res, nil
}

// record writes the audit event of an op's outcome, naming the patient.
func (s *Service) record(ctx context.Context, n *domain.SyncNode, op *domain.SyncOp, res *domain.SyncOpResult) {
	action := domain.ActionUpdate
	if op.Kind == domain.OpBook {
		action = domain.ActionCreate
	}
	outcome := domain.OutcomeSuccess
	if res.Outcome != domain.OutcomeApplied {
		outcome = domain.OutcomeFailure
	}
	patient := ""
	if op.Appointment != nil {
		patient = op.Appointment.PatientID
	}
	if err := s.audit.Record(ctx, audit.Event{Action: action, ResourceType: policy.Appointment, ResourceID: op.EntityID, PatientID: patient,
		Outcome: outcome, Detail: "sync_op=" + op.ID + " outcome=" + res.Outcome + " by=" + truncate(op.ActorID, 64)}); err != nil {
		s.logger.Error("record sync op", "err", err)
	}
}

// check returns why an op cannot be applied at all, or "".
func (s *Service) check(ctx context.Context, n *domain.SyncNode, op *domain.SyncOp) string {
	a := op.Appointment
	switch {
	case hasNUL(op):
		return "Text in the op holds a NUL character."
	case op.Entity != domain.ChangeEntityAppointment:
		return "Only appointments are synced upward."
	case op.Kind != domain.OpBook && op.Kind != domain.OpUpdate:
		return "Unknown op kind; use book or update."
	case a == nil || a.ID != op.EntityID || a.ID == "":
		return "The op carries no appointment, or another one than its entity."
	case a.Start.IsZero() || !a.End.After(a.Start) || a.End.Sub(a.Start) > domain.MaxAppointmentLength || !storable(a.Start) || !storable(a.End):
		return "The appointment's times are not valid."
	case !validStatus(a.Status):
		return "Unknown appointment status."
	case len(a.Reason) > 500 || len(a.CancelReason) > 500:
		return "The reason is too long."
	}
	if !inScope(n, a.DoctorID) {
		return "This node may not change appointments of that doctor."
	}
	return ""
}

// storable reports whether a time is in the years that stores and JSON
// write: an offset can move a time a node sent out of them in UTC.
func storable(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}

func inScope(n *domain.SyncNode, doctorID string) bool {
	if len(n.DoctorIDs) == 0 {
		return true
	}
	for _, d := range n.DoctorIDs {
		if d == doctorID {
			return true
		}
	}
	return false
}

func validStatus(s string) bool {
	switch s {
	case domain.StatusProposed, domain.StatusPending, domain.StatusBooked, domain.StatusArrived, domain.StatusFulfilled, domain.StatusCancelled,
		domain.StatusNoShow, domain.StatusEnteredInError, domain.StatusCheckedIn, domain.StatusWaitlist:
		return true
	}
	return false
}

// book makes the node's booking: confirmed (booked) when it was pending.
func (s *Service) book(ctx context.Context, n *domain.SyncNode, op *domain.SyncOp, res *domain.SyncOpResult) (domain.SyncWrite, error) {
	if _, err := s.store.AppointmentByID(ctx, op.EntityID); err == nil {
		res.Outcome, res.Reason = domain.OutcomeRejected, "An appointment with this id exists already."
		return domain.SyncWrite{}, nil
	} else if !domain.IsCode(err, domain.ENOTFOUND) {
		return domain.SyncWrite{}, err
	}
	if reason, err := s.parties(ctx, op.Appointment); err != nil || reason != "" {
		res.Outcome, res.Reason = domain.OutcomeRejected, reason
		return domain.SyncWrite{}, err
	}
	a := *op.Appointment
	if a.Status == domain.StatusPending {
		a.Status = domain.StatusBooked
	}
	a.IdempotencyKey = "" // a node's keys are its own
	a.OriginNode = n.ID   // its lease, if it holds one, admits it
	a.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	res.Outcome, res.Version, res.Appointment = domain.OutcomeApplied, version(&a), &a
	return domain.SyncWrite{Appointment: &a, Create: true}, nil
}

// parties says why the appointment's doctor or patient cannot be booked.
func (s *Service) parties(ctx context.Context, a *domain.Appointment) (string, error) {
	if _, err := s.store.DoctorByID(ctx, a.DoctorID); domain.IsCode(err, domain.ENOTFOUND) {
		return "The doctor does not exist at the upstream.", nil
	} else if err != nil {
		return "", err
	}
	if _, err := s.store.PatientByID(ctx, a.PatientID); domain.IsCode(err, domain.ENOTFOUND) {
		return "The patient does not exist at the upstream.", nil
	} else if err != nil {
		return "", err
	}
	return "", nil
}

// update applies a change made from the version the op names, if that is
// still the upstream's.
func (s *Service) update(ctx context.Context, n *domain.SyncNode, op *domain.SyncOp, res *domain.SyncOpResult) (domain.SyncWrite, error) {
	cur, err := s.store.AppointmentByID(ctx, op.EntityID)
	if domain.IsCode(err, domain.ENOTFOUND) {
		res.Outcome, res.Reason = domain.OutcomeRejected, "There is no such appointment at the upstream."
		return domain.SyncWrite{}, nil
	}
	if err != nil {
		return domain.SyncWrite{}, err
	}
	if !inScope(n, cur.DoctorID) {
		res.Outcome, res.Reason = domain.OutcomeRejected, "This node may not change appointments of that doctor."
		return domain.SyncWrite{}, nil
	}
	a := *op.Appointment
	if a.DoctorID != cur.DoctorID || a.PatientID != cur.PatientID {
		res.Outcome, res.Reason = domain.OutcomeRejected, "An appointment's doctor and patient cannot change; book a new one."
		return domain.SyncWrite{}, nil
	}
	base := op.BaseVersion
	if after, ok := strings.CutPrefix(base, "op:"); ok {
		prev, err := s.store.SyncOpResult(ctx, after)
		switch {
		case domain.IsCode(err, domain.ENOTFOUND):
			res.Outcome, res.Reason = domain.OutcomeRejected, "The op this change was made after has not arrived; send ops in order."
			return domain.SyncWrite{}, nil
		case err != nil:
			return domain.SyncWrite{}, err
		case prev.Outcome != domain.OutcomeApplied:
			return s.conflict(op, res, cur, "An earlier change to this appointment was not made ("+prev.Outcome+"), so this one was not either.", ""), nil
		}
		base = prev.Version
	}
	if base != version(cur) {
		// Changed here meanwhile. The same end state is no conflict.
		if a.Status == cur.Status && a.Start.Equal(cur.Start) && a.End.Equal(cur.End) {
			res.Outcome, res.Version, res.Appointment = domain.OutcomeApplied, version(cur), cur
			return domain.SyncWrite{}, nil
		}
		return s.conflict(op, res, cur, "The appointment was changed elsewhere meanwhile; it is shown as it is now.", ""), nil
	}
	if a.Status == domain.StatusPending {
		a.Status = domain.StatusBooked
	}
	a.CreatedAt, a.CreatedBy, a.IdempotencyKey = cur.CreatedAt, cur.CreatedBy, cur.IdempotencyKey
	a.OriginNode = n.ID
	a.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	if !a.UpdatedAt.After(cur.UpdatedAt) {
		a.UpdatedAt = cur.UpdatedAt.Add(time.Microsecond)
	}
	res.Outcome, res.Version, res.Appointment = domain.OutcomeApplied, version(&a), &a
	return domain.SyncWrite{Appointment: &a, Expect: cur.UpdatedAt}, nil
}

// conflict answers an op that lost: the appointment stays as cur, and the
// front desks get a conflict to rebook.
func (s *Service) conflict(op *domain.SyncOp, res *domain.SyncOpResult, cur *domain.Appointment, reason, winner string) domain.SyncWrite {
	a := op.Appointment
	c := &domain.SyncConflict{ID: op.ID, NodeID: res.NodeID, AppointmentID: op.EntityID, DoctorID: a.DoctorID, PatientID: a.PatientID,
		Start: a.Start, End: a.End, Kind: op.Kind, Outcome: domain.OutcomeConflict, Reason: reason, WinnerID: winner, CreatedAt: res.At}
	res.Outcome, res.Reason, res.Conflict, res.Appointment, res.Version = domain.OutcomeConflict, reason, c, cur, ""
	if cur != nil {
		res.Version = version(cur)
	}
	return domain.SyncWrite{Conflict: c}
}

// lost turns an op whose write overlapped another appointment into a
// conflict. A lost booking is kept as cancelled, so that every node and
// the patient's record show what happened to it.
func (s *Service) lost(ctx context.Context, n *domain.SyncNode, op *domain.SyncOp, res *domain.SyncOpResult, clash error) domain.SyncWrite {
	winner := ""
	a := op.Appointment
	if near, err := s.store.ListAppointments(ctx, domain.AppointmentFilter{DoctorID: a.DoctorID, From: a.Start, To: a.End, Limit: 10}); err == nil {
		for _, x := range near {
			if x.ID != a.ID && domain.Blocks(x.Status) {
				winner = x.ID
				break
			}
		}
	}
	// The times are the conflict's own; the reason says what happened.
	reason := "Another booking took this time first."
	if errors.Is(clash, domain.ErrLeased) {
		reason = "This time is lent to another site (a slot lease)."
	}
	if op.Kind == domain.OpBook {
		a := *a
		a.Status, a.CancelReason, a.IdempotencyKey = domain.StatusCancelled, truncate("Not booked: "+reason, 500), ""
		a.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
		w := s.conflict(op, res, &a, reason, winner)
		res.Version = version(&a)
		w.Appointment, w.Create = &a, true
		return w
	}
	cur, err := s.store.AppointmentByID(ctx, op.EntityID)
	if err != nil {
		cur = nil
	}
	return s.conflict(op, res, cur, reason, winner)
}

// hasNUL reports whether any text of the op holds a NUL, which PostgreSQL
// cannot store: refused as a rejection, not an internal error that the
// node would retry forever.
func hasNUL(op *domain.SyncOp) bool {
	texts := []string{op.EntityID, op.Entity, op.Kind, op.BaseVersion, op.ActorID, op.ActorRole}
	if a := op.Appointment; a != nil {
		texts = append(texts, a.ID, a.DoctorID, a.PatientID, a.Status, a.Reason, a.CancelReason, a.CreatedBy, a.OriginNode)
	}
	for _, t := range texts {
		if strings.ContainsRune(t, 0) {
			return true
		}
	}
	return false
}
