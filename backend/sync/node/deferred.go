package node

import (
	"context"
	"encoding/json"

	"github.com/healthhub/healthhub/backend/domain"
)

// Deferred states. The upstream's state of an appointment cannot always be
// written here at once: it may overlap a local booking still waiting for
// its answer (which the upstream will refuse), or arrive before the doctor
// or patient it names (a pull from the start after compaction). Such a
// state is kept, newest per appointment, and written at the end of each
// round until it fits; a newer state written meanwhile replaces it. The
// queue and the pull never stop on one appointment.

const keyDeferred = "deferred"

func (s *Service) loadDeferred(ctx context.Context) (map[string]*domain.Appointment, error) {
	raw, err := s.store.SyncValue(ctx, keyDeferred)
	if err != nil || raw == "" {
		return map[string]*domain.Appointment{}, err
	}
	m := map[string]*domain.Appointment{}
	return m, json.Unmarshal([]byte(raw), &m)
}

func (s *Service) saveDeferred(ctx context.Context, m map[string]*domain.Appointment) error {
	if len(m) == 0 {
		return s.store.SetSyncValue(ctx, keyDeferred, "")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.store.SetSyncValue(ctx, keyDeferred, string(b))
}

// deferState keeps a (newer) upstream state of a to write later.
func (s *Service) deferState(ctx context.Context, a *domain.Appointment) error {
	m, err := s.loadDeferred(ctx)
	if err != nil {
		return err
	}
	if old, ok := m[a.ID]; ok && old.UpdatedAt.After(a.UpdatedAt) {
		return nil
	}
	m[a.ID] = a
	s.metrics.deferred.Add(1)
	return s.saveDeferred(ctx, m)
}

// written drops a deferred state that a newer one written here replaced.
func (s *Service) written(ctx context.Context, a *domain.Appointment) error {
	m, err := s.loadDeferred(ctx)
	if err != nil {
		return err
	}
	if old, ok := m[a.ID]; ok && !old.UpdatedAt.After(a.UpdatedAt) {
		delete(m, a.ID)
		return s.saveDeferred(ctx, m)
	}
	return nil
}

// putState writes the upstream's state of an appointment, or defers it when
// it does not fit yet.
func (s *Service) putState(ctx context.Context, a *domain.Appointment) (bool, error) {
	// Most pulled states are ones this node holds already (its own changes,
	// answered): a read, not a write.
	if cur, err := s.store.AppointmentByID(ctx, a.ID); err == nil && sameState(cur, a) {
		return false, s.written(ctx, a)
	}
	done, err := s.store.PutSyncedAppointment(ctx, a)
	switch {
	case err == nil && done:
		return true, s.written(ctx, a)
	case err == nil:
		return false, nil // a change of this node is waiting for its answer, which carries the state
	case domain.IsCode(err, domain.ECONFLICT), domain.IsCode(err, domain.ENOTFOUND):
		s.logger.Info("upstream state of an appointment deferred", "appointment", a.ID, "reason", domain.ErrorCode(err))
		return false, s.deferState(ctx, a)
	}
	return false, err
}

// answered checks that an answer's state was written here; when it was not
// (it overlapped a local booking), it is deferred.
func (s *Service) answered(ctx context.Context, a *domain.Appointment) error {
	cur, err := s.store.AppointmentByID(ctx, a.ID)
	if err == nil && sameState(cur, a) {
		return s.written(ctx, a)
	}
	if err != nil && !domain.IsCode(err, domain.ENOTFOUND) {
		return err
	}
	return s.deferState(ctx, a)
}

// retryDeferred writes the deferred states that fit now.
func (s *Service) retryDeferred(ctx context.Context) error {
	m, err := s.loadDeferred(ctx)
	if err != nil || len(m) == 0 {
		return err
	}
	for id, a := range m {
		done, err := s.store.PutSyncedAppointment(ctx, a)
		if err == nil && done {
			delete(m, id)
			s.publishAppointment(ctx, a)
		}
	}
	return s.saveDeferred(ctx, m)
}

// Deferred is how many upstream states wait to be written here.
func (s *Service) Deferred(ctx context.Context) int {
	m, _ := s.loadDeferred(ctx)
	return len(m)
}

// sameState reports whether a local appointment already is the upstream's
// state.
func sameState(cur, a *domain.Appointment) bool {
	return cur.UpdatedAt.Equal(a.UpdatedAt) && cur.Status == a.Status && cur.Start.Equal(a.Start) && cur.End.Equal(a.End) &&
		cur.Reason == a.Reason && cur.CancelReason == a.CancelReason && cur.OriginNode == a.OriginNode && cur.DoctorID == a.DoctorID &&
		cur.PatientID == a.PatientID
}
