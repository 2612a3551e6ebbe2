package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
)

// version is an entity's upstream version: its UpdatedAt there.
func version(t time.Time) string { return t.UTC().Format(domain.AuditTimeFormat) }

func nonNilIDs(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

// ---- Upstream: nodes and enrolment ----

func (db *DB) CreateSyncEnrollment(ctx context.Context, e *domain.SyncEnrollment) error {
	if e.ID == "" {
		e.ID = newID()
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO sync_enrollments (id, code_hash, name, doctor_ids, created_by, created_at, expires_at, used_at, node_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, e.ID, e.CodeHash, e.Name, nonNilIDs(e.DoctorIDs), e.CreatedBy, e.CreatedAt.UTC(),
		e.ExpiresAt.UTC(), nullTime(e.UsedAt), e.NodeID)
	return mapErr(err, "create enrolment")
}

var errEnrollmentCode = domain.Errorf(domain.ENOTFOUND, "This enrolment code is unknown, used or expired; ask an administrator for a new one.")

func (db *DB) EnrollSyncNode(ctx context.Context, codeHash string, n *domain.SyncNode) error {
	if n.ID == "" {
		n.ID = newID()
	}
	if n.EnrolledAt.IsZero() {
		n.EnrolledAt = time.Now().UTC() // used_at must be set for the code to count as used
	}
	name := n.Name
	return db.tx(ctx, "enroll node", func(tx pgx.Tx) error {
		var ename string
		var ids []string
		err := tx.QueryRow(ctx, `UPDATE sync_enrollments SET used_at = $1, node_id = $2
			WHERE code_hash = $3 AND used_at IS NULL AND expires_at > $1 RETURNING name, doctor_ids`,
			n.EnrolledAt.UTC(), n.ID, codeHash).Scan(&ename, &ids)
		if errors.Is(err, pgx.ErrNoRows) {
			return errEnrollmentCode
		}
		if err != nil {
			return err
		}
		n.DoctorIDs = nonNilIDs(ids)
		n.Name = name
		if n.Name == "" {
			n.Name = ename
		}
		n.AuditSize = 0
		_, err = tx.Exec(ctx, `INSERT INTO sync_nodes (id, name, public_key, credential_hash, doctor_ids, enrolled_by, enrolled_at,
			revoked_by, revoked_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			n.ID, n.Name, n.PublicKey, n.CredentialHash, n.DoctorIDs, n.EnrolledBy, n.EnrolledAt.UTC(),
			n.RevokedBy, nullTime(n.RevokedAt), nullTime(n.LastSeenAt))
		return err
	})
}

const syncNodeColumns = `id, name, public_key, credential_hash, doctor_ids, enrolled_by, enrolled_at, revoked_by, revoked_at, last_seen_at, audit_size`

func scanSyncNode(row pgx.Row) (*domain.SyncNode, error) {
	var n domain.SyncNode
	var revoked, seen *time.Time
	if err := row.Scan(&n.ID, &n.Name, &n.PublicKey, &n.CredentialHash, &n.DoctorIDs, &n.EnrolledBy, &n.EnrolledAt, &n.RevokedBy, &revoked,
		&seen, &n.AuditSize); err != nil {
		return nil, err
	}
	n.DoctorIDs = nonNilIDs(n.DoctorIDs)
	n.EnrolledAt, n.RevokedAt, n.LastSeenAt = n.EnrolledAt.UTC(), fromNull(revoked), fromNull(seen)
	return &n, nil
}

func (db *DB) syncNode(ctx context.Context, where string, arg any) (*domain.SyncNode, error) {
	n, err := scanSyncNode(db.pool.QueryRow(ctx, `SELECT `+syncNodeColumns+` FROM sync_nodes WHERE `+where+` = $1`, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such node.")
	}
	return n, mapErr(err, "sync node")
}

func (db *DB) SyncNodeByID(ctx context.Context, id string) (*domain.SyncNode, error) {
	return db.syncNode(ctx, "id", id)
}

func (db *DB) SyncNodeByCredential(ctx context.Context, credentialHash string) (*domain.SyncNode, error) {
	return db.syncNode(ctx, "credential_hash", credentialHash)
}

func (db *DB) ListSyncNodes(ctx context.Context) ([]*domain.SyncNode, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+syncNodeColumns+` FROM sync_nodes ORDER BY enrolled_at, id`)
	if err != nil {
		return nil, mapErr(err, "list nodes")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.SyncNode, error) { return scanSyncNode(r) })
	if out == nil {
		out = []*domain.SyncNode{}
	}
	return out, mapErr(err, "list nodes")
}

// nodeExists turns "no row changed" into not found for an unknown node.
func nodeExists(ctx context.Context, tx pgx.Tx, id string) error {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sync_nodes WHERE id = $1)`, id).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return domain.Errorf(domain.ENOTFOUND, "No such node.")
	}
	return nil
}

func (db *DB) RevokeSyncNode(ctx context.Context, id, by string, at time.Time) error {
	return db.tx(ctx, "revoke node", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sync_nodes SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL`, at.UTC(), by, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nodeExists(ctx, tx, id) // revoked before: the first revocation stands
		}
		return nil
	})
}

func (db *DB) TouchSyncNode(ctx context.Context, id string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE sync_nodes SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2`, at.UTC(), id)
	if err != nil {
		return mapErr(err, "touch node")
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.ENOTFOUND, "No such node.")
	}
	return nil
}

// ---- Upstream: ops ----

func (db *DB) SyncOpResult(ctx context.Context, opID string) (*domain.SyncOpResult, error) {
	r, err := scanOpResult(db.pool.QueryRow(ctx, `SELECT node_id, result FROM sync_ops WHERE op_id = $1`, opID))
	return r, mapErr(err, "op result")
}

func scanOpResult(row pgx.Row) (*domain.SyncOpResult, error) {
	var node string
	var result []byte
	err := row.Scan(&node, &result)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "This op has no result.")
	}
	if err != nil {
		return nil, err
	}
	var r domain.SyncOpResult
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, fmt.Errorf("stored op result: %w", err)
	}
	r.NodeID = node
	return &r, nil
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func (db *DB) ApplySyncOp(ctx context.Context, res *domain.SyncOpResult, w domain.SyncWrite) error {
	if w.Appointment != nil && w.Appointment.ID == "" {
		w.Appointment.ID = newID()
	}
	if w.Conflict != nil && w.Conflict.ID == "" {
		w.Conflict.ID = res.OpID
	}
	result := jsonString(res)
	var stored *domain.SyncOpResult
	stale := false
	err := inTx(ctx, db.pool, func(tx pgx.Tx) error {
		stored, stale = nil, false
		// A concurrent delivery of the same op waits here for the first
		// to commit, then finds its result.
		tag, err := tx.Exec(ctx, `INSERT INTO sync_ops (op_id, node_id, entity_id, outcome, result, at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)
			ON CONFLICT (op_id) DO NOTHING`, res.OpID, res.NodeID, res.EntityID, res.Outcome, result, res.At.UTC())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if stored, err = scanOpResult(tx.QueryRow(ctx, `SELECT node_id, result FROM sync_ops WHERE op_id = $1`, res.OpID)); err != nil {
				return err
			}
			return domain.ErrOpReplay
		}
		if a := w.Appointment; a != nil {
			if err := lockDoctor(ctx, tx, a.DoctorID); err != nil {
				return err
			}
			if w.Create {
				if err := insertAppointment(ctx, tx, a); err != nil {
					return err
				}
			} else {
				ok, err := updateAppointmentRow(ctx, tx, a, w.Expect)
				if err != nil {
					return err
				}
				if !ok {
					stale = true
					return errors.New("stale")
				}
			}
			if err := insertSyncChange(ctx, tx, domain.ChangeEntityAppointment, a.ID, a.UpdatedAt); err != nil {
				return err
			}
			if w.Forward != nil {
				// This server is itself a node: the change goes on upstream.
				if err := queueOp(ctx, tx, a, w.Forward, w.Forward.Kind); err != nil {
					return err
				}
			}
		}
		if err := insertNotifications(ctx, tx, w.Notes); err != nil {
			return err
		}
		if w.Conflict != nil {
			return putConflict(ctx, tx, w.Conflict)
		}
		return nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, domain.ErrOpReplay):
		*res = *stored
		return domain.ErrOpReplay
	case stale:
		return domain.Errorf(domain.ECONFLICT, "The appointment was changed by someone else meanwhile; reload it and try again.")
	}
	return db.appointmentErr(ctx, err, w.Appointment, "apply op")
}

// appointmentErr maps the error of a transaction that wrote a: an overlap
// names the appointment in the way; time inside another holder's lease is
// ErrLeased.
func (db *DB) appointmentErr(ctx context.Context, err error, a *domain.Appointment, what string) error {
	if a != nil {
		if isLeased(err) {
			return domain.ErrLeased
		}
		switch pgCode(err) {
		case "23514":
			return domain.Invalid("end", "An appointment may last at most 8 hours.")
		case "23P01":
			return db.clash(ctx, a)
		case "23503":
			return domain.Errorf(domain.ENOTFOUND, "The doctor or patient does not exist.")
		}
	}
	return mapErr(err, what)
}

// ---- Upstream: the audit logs of nodes ----

func (db *DB) SyncAuditState(ctx context.Context, nodeID string) (domain.SyncAudit, error) {
	var s domain.SyncAudit
	err := db.pool.QueryRow(ctx, `SELECT audit_size, audit_head_hash, audit_checkpoint FROM sync_nodes WHERE id = $1`, nodeID).
		Scan(&s.Size, &s.HeadHash, &s.Checkpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, domain.Errorf(domain.ENOTFOUND, "No such node.")
	}
	if len(s.Checkpoint) == 0 {
		s.Checkpoint = nil
	}
	return s, mapErr(err, "node audit state")
}

func (db *DB) SyncAuditEvent(ctx context.Context, nodeID string, seq int64) (*domain.AuditEvent, error) {
	e, err := scanAudit(db.pool.QueryRow(ctx, `SELECT `+auditColumns+` FROM sync_node_audit WHERE node_id = $1 AND seq = $2`, nodeID, seq))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "The upstream holds no such event of this node.")
	}
	return e, mapErr(err, "node audit event")
}

func (db *DB) SyncAuditEvents(ctx context.Context, nodeID string, after int64, limit int) ([]*domain.AuditEvent, error) {
	if limit <= 0 {
		limit = 500
	}
	rows, err := db.pool.Query(ctx, `SELECT `+auditColumns+` FROM sync_node_audit WHERE node_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
		nodeID, after, limit)
	if err != nil {
		return nil, mapErr(err, "node audit events")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.AuditEvent, error) { return scanAudit(r) })
	return out, mapErr(err, "node audit events")
}

func (db *DB) SyncTreeHashes(ctx context.Context, nodeID string, indexes []int64) ([][32]byte, error) {
	if len(indexes) == 0 {
		return [][32]byte{}, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT idx, hash FROM sync_node_tree WHERE node_id = $1 AND idx = ANY($2)`, nodeID, indexes)
	if err != nil {
		return nil, mapErr(err, "tree hashes")
	}
	found := make(map[int64][32]byte, len(indexes))
	var idx int64
	var h []byte
	_, err = pgx.ForEachRow(rows, []any{&idx, &h}, func() error {
		if len(h) != 32 {
			return fmt.Errorf("stored tree hash %d has %d bytes", idx, len(h))
		}
		found[idx] = [32]byte(h)
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "tree hashes")
	}
	out := make([][32]byte, len(indexes))
	for i, x := range indexes {
		v, ok := found[x]
		if !ok {
			return nil, domain.Errorf(domain.ENOTFOUND, "The upstream holds no tree hash %d of this node.", x)
		}
		out[i] = v
	}
	return out, nil
}

var syncAuditColumnNames = append([]string{"node_id"}, auditColumnNames...)

func (db *DB) AppendSyncAudit(ctx context.Context, nodeID string, prevSize int64, events []*domain.AuditEvent, hashes []domain.StoredHash, next domain.SyncAudit) error {
	checkpoint := next.Checkpoint
	if checkpoint == nil {
		checkpoint = []byte{}
	}
	return db.tx(ctx, "store node audit", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sync_nodes SET audit_size = $1, audit_head_hash = $2, audit_checkpoint = $3
			WHERE id = $4 AND audit_size = $5`, next.Size, next.HeadHash, checkpoint, nodeID, prevSize)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if err := nodeExists(ctx, tx, nodeID); err != nil {
				return err
			}
			return domain.Errorf(domain.ECONFLICT, "The node's audit log at the upstream changed meanwhile; send the batch again.")
		}
		if len(events) > 0 {
			rows := make([][]any, len(events))
			for i, e := range events {
				// Truncated as the chain hash formats it, not rounded as
				// timestamptz would.
				rows[i] = []any{nodeID, e.Seq, e.ID, e.Time.UTC().Truncate(time.Microsecond), e.ActorID, e.ActorRole, e.Action,
					e.ResourceType, e.ResourceID, e.PatientID, e.Outcome, e.SourceIP, e.UserAgent, e.RequestID, e.Detail, e.PrevHash, e.Hash,
					e.HashVersion(), e.PatientSalt, e.PatientCommit, e.Redacted}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"sync_node_audit"}, syncAuditColumnNames, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
		}
		if len(hashes) > 0 {
			rows := make([][]any, len(hashes))
			for i, h := range hashes {
				rows[i] = []any{nodeID, h.Index, h.Hash[:]}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"sync_node_tree"}, []string{"node_id", "idx", "hash"}, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ---- Conflicts ----

const conflictColumns = `id, node_id, appointment_id, doctor_id, patient_id, start_at, end_at, kind, outcome, reason, winner_id,
	created_at, resolved_by, resolved_at`

func scanConflict(row pgx.Row) (*domain.SyncConflict, error) {
	var c domain.SyncConflict
	var start, end, resolved *time.Time
	if err := row.Scan(&c.ID, &c.NodeID, &c.AppointmentID, &c.DoctorID, &c.PatientID, &start, &end, &c.Kind, &c.Outcome, &c.Reason,
		&c.WinnerID, &c.CreatedAt, &c.ResolvedBy, &resolved); err != nil {
		return nil, err
	}
	c.Start, c.End, c.ResolvedAt, c.CreatedAt = fromNull(start), fromNull(end), fromNull(resolved), c.CreatedAt.UTC()
	return &c, nil
}

// putConflict stores c or replaces the stored one, keeping a resolution
// already made, and writes its change.
func putConflict(ctx context.Context, tx pgx.Tx, c *domain.SyncConflict) error {
	if c.ID == "" {
		c.ID = newID()
	}
	_, err := tx.Exec(ctx, `INSERT INTO sync_conflicts (`+conflictColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (id) DO UPDATE SET node_id = excluded.node_id, appointment_id = excluded.appointment_id, doctor_id = excluded.doctor_id,
			patient_id = excluded.patient_id, start_at = excluded.start_at, end_at = excluded.end_at, kind = excluded.kind,
			outcome = excluded.outcome, reason = excluded.reason, winner_id = excluded.winner_id, created_at = excluded.created_at,
			resolved_by = CASE WHEN sync_conflicts.resolved_at IS NULL THEN excluded.resolved_by ELSE sync_conflicts.resolved_by END,
			resolved_at = COALESCE(sync_conflicts.resolved_at, excluded.resolved_at)`,
		c.ID, c.NodeID, c.AppointmentID, c.DoctorID, c.PatientID, nullTime(c.Start), nullTime(c.End), c.Kind, c.Outcome, c.Reason,
		c.WinnerID, c.CreatedAt.UTC(), c.ResolvedBy, nullTime(c.ResolvedAt))
	if err != nil {
		return err
	}
	return insertSyncChange(ctx, tx, domain.ChangeEntityConflict, c.ID, c.CreatedAt)
}

func (db *DB) PutSyncConflict(ctx context.Context, c *domain.SyncConflict) error {
	return db.tx(ctx, "store conflict", func(tx pgx.Tx) error { return putConflict(ctx, tx, c) })
}

func (db *DB) SyncConflictByID(ctx context.Context, id string) (*domain.SyncConflict, error) {
	c, err := scanConflict(db.pool.QueryRow(ctx, `SELECT `+conflictColumns+` FROM sync_conflicts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such conflict.")
	}
	return c, mapErr(err, "conflict")
}

func (db *DB) ListSyncConflicts(ctx context.Context, openOnly bool, limit int) ([]*domain.SyncConflict, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, `SELECT `+conflictColumns+` FROM sync_conflicts WHERE NOT $1 OR resolved_at IS NULL
		ORDER BY created_at DESC, id DESC LIMIT $2`, openOnly, limit)
	if err != nil {
		return nil, mapErr(err, "list conflicts")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.SyncConflict, error) { return scanConflict(r) })
	if out == nil {
		out = []*domain.SyncConflict{}
	}
	return out, mapErr(err, "list conflicts")
}

func (db *DB) ResolveSyncConflict(ctx context.Context, id, by string, at time.Time) error {
	return db.tx(ctx, "resolve conflict", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sync_conflicts SET resolved_by = $1, resolved_at = $2 WHERE id = $3 AND resolved_at IS NULL`, by, at.UTC(), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sync_conflicts WHERE id = $1)`, id).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return domain.Errorf(domain.ENOTFOUND, "No such conflict.")
			}
			return nil // resolved before: the first resolution stands
		}
		return insertSyncChange(ctx, tx, domain.ChangeEntityConflict, id, at)
	})
}

// ---- Node: the outbox ----

func (db *DB) BookAppointmentQueued(ctx context.Context, a *domain.Appointment, notes []*domain.Notification, op *domain.SyncOp) error {
	if op == nil {
		return domain.Errorf(domain.EINVALID, "No op to queue.")
	}
	return db.bookAppointment(ctx, a, notes, op)
}

func (db *DB) UpdateAppointmentQueued(ctx context.Context, a *domain.Appointment, expectUpdated time.Time, notes []*domain.Notification, op *domain.SyncOp) error {
	if op == nil {
		return domain.Errorf(domain.EINVALID, "No op to queue.")
	}
	return db.updateAppointment(ctx, a, expectUpdated, notes, op)
}

// queueOp appends op, the change just made to a, to the outbox, with the
// version it was made from; nil queues nothing.
func queueOp(ctx context.Context, tx pgx.Tx, a *domain.Appointment, op *domain.SyncOp, kind string) error {
	if op == nil {
		return nil
	}
	if op.ID == "" {
		op.ID = newID()
	}
	if op.Entity == "" {
		op.Entity = domain.ChangeEntityAppointment
	}
	if op.Kind == "" {
		op.Kind = kind
	}
	if op.CreatedAt.IsZero() {
		op.CreatedAt = a.UpdatedAt
	}
	op.EntityID = a.ID
	written := *a
	op.Appointment = &written
	var ver, last string
	var lastOpen bool
	err := tx.QueryRow(ctx, `SELECT v.version, v.last_op_id,
			EXISTS (SELECT 1 FROM sync_outbox o WHERE o.op_id = v.last_op_id AND o.answered_at IS NULL)
		FROM sync_versions v WHERE v.entity = $1 AND v.entity_id = $2`, op.Entity, op.EntityID).Scan(&ver, &last, &lastOpen)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		op.BaseVersion = ""
	case err != nil:
		return err
	case last != "" && lastOpen:
		op.BaseVersion = "op:" + last
	default:
		op.BaseVersion = ver
	}
	op.Seq = 0
	if err := tx.QueryRow(ctx, `INSERT INTO sync_outbox (op_id, entity, entity_id, kind, base_version, payload, actor_id, actor_role, created_at)
		VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9) RETURNING seq`, op.ID, op.Entity, op.EntityID, op.Kind, op.BaseVersion, jsonString(op),
		op.ActorID, op.ActorRole, op.CreatedAt.UTC()).Scan(&op.Seq); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO sync_versions (entity, entity_id, version, last_op_id) VALUES ($1, $2, '', $3)
		ON CONFLICT (entity, entity_id) DO UPDATE SET last_op_id = excluded.last_op_id`, op.Entity, op.EntityID, op.ID)
	return err
}

func (db *DB) QueuedOps(ctx context.Context, limit int) ([]*domain.SyncOp, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, `SELECT seq, payload FROM sync_outbox WHERE answered_at IS NULL ORDER BY seq LIMIT $1`, limit)
	if err != nil {
		return nil, mapErr(err, "queued ops")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.SyncOp, error) {
		var seq int64
		var payload []byte
		if err := r.Scan(&seq, &payload); err != nil {
			return nil, err
		}
		var op domain.SyncOp
		if err := json.Unmarshal(payload, &op); err != nil {
			return nil, fmt.Errorf("stored op %d: %w", seq, err)
		}
		op.Seq = seq
		return &op, nil
	})
	if out == nil {
		out = []*domain.SyncOp{}
	}
	return out, mapErr(err, "queued ops")
}

func (db *DB) OutboxStats(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest *time.Time
	if err := db.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM sync_outbox WHERE answered_at IS NULL`).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, mapErr(err, "outbox stats")
	}
	return n, fromNull(oldest), nil
}

// upsertAppointment writes every column of a, inserting or replacing the
// row with its id. A replaced row keeps its own idempotency key: keys are
// the installation's own and do not travel.
func upsertAppointment(ctx context.Context, tx pgx.Tx, a *domain.Appointment) error {
	_, err := tx.Exec(ctx, `INSERT INTO appointments (`+appointmentColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO UPDATE SET doctor_id = excluded.doctor_id, patient_id = excluded.patient_id, start_at = excluded.start_at,
			end_at = excluded.end_at, status = excluded.status, reason = excluded.reason, cancel_reason = excluded.cancel_reason,
			created_by = excluded.created_by, created_at = excluded.created_at, updated_at = excluded.updated_at,
			origin_node = excluded.origin_node`,
		a.ID, a.DoctorID, a.PatientID, a.Start.UTC(), a.End.UTC(), a.Status, a.Reason, a.CancelReason, a.CreatedBy,
		a.IdempotencyKey, a.CreatedAt.UTC(), a.UpdatedAt.UTC(), a.OriginNode)
	return err
}

func setVersion(ctx context.Context, tx pgx.Tx, entity, id, v string) error {
	_, err := tx.Exec(ctx, `INSERT INTO sync_versions (entity, entity_id, version) VALUES ($1, $2, $3)
		ON CONFLICT (entity, entity_id) DO UPDATE SET version = excluded.version`, entity, id, v)
	return err
}

func (db *DB) AnswerSyncOp(ctx context.Context, res *domain.SyncOpResult) error {
	at := res.At
	if at.IsZero() {
		at = time.Now().UTC() // answered_at set is what marks the op answered
	}
	if res.Conflict != nil && res.Conflict.ID == "" {
		res.Conflict.ID = res.OpID
	}
	return db.tx(ctx, "answer op", func(tx pgx.Tx) error {
		var seq int64
		var entity, entityID, kind string
		err := tx.QueryRow(ctx, `SELECT seq, entity, entity_id, kind FROM sync_outbox WHERE op_id = $1 AND answered_at IS NULL FOR UPDATE`,
			res.OpID).Scan(&seq, &entity, &entityID, &kind)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // answered before, or never queued here
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE sync_outbox SET answered_at = $1, outcome = $2, reason = $3 WHERE seq = $4`,
			at.UTC(), res.Outcome, res.Reason, seq); err != nil {
			return err
		}
		switch a := res.Appointment; {
		case a != nil:
			var later bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sync_outbox
				WHERE entity = $1 AND entity_id = $2 AND seq > $3 AND answered_at IS NULL)`, entity, entityID, seq).Scan(&later); err != nil {
				return err
			}
			if !later {
				if err := lockDoctor(ctx, tx, a.DoctorID); err != nil {
					return err
				}
				// In a savepoint: an overlap must not abort the answer.
				sp, err := tx.Begin(ctx)
				if err != nil {
					return err
				}
				err = upsertAppointment(ctx, sp, a)
				switch {
				case pgCode(err) == "23P01", isLeased(err):
					// Another appointment here holds the time, or another
					// holder's lease here does; the row stays as it is until
					// the pull brings the upstream's state.
					if err := sp.Rollback(ctx); err != nil {
						return err
					}
				case err != nil:
					sp.Rollback(ctx)
					return err
				default:
					if err := sp.Commit(ctx); err != nil {
						return err
					}
					if err := insertSyncChange(ctx, tx, domain.ChangeEntityAppointment, a.ID, a.UpdatedAt); err != nil {
						return err
					}
				}
			}
			v := res.Version
			if v == "" {
				v = version(a.UpdatedAt)
			}
			if err := setVersion(ctx, tx, entity, entityID, v); err != nil {
				return err
			}
		case res.Outcome != domain.OutcomeApplied && kind == domain.OpBook:
			// A booking the upstream refused holds no time.
			tag, err := tx.Exec(ctx, `UPDATE appointments SET status = 'cancelled', cancel_reason = $1, updated_at = $2 WHERE id = $3`,
				res.Reason, at.UTC(), entityID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() > 0 {
				if err := insertSyncChange(ctx, tx, domain.ChangeEntityAppointment, entityID, at); err != nil {
					return err
				}
			}
		}
		if res.Conflict != nil {
			if err := putConflict(ctx, tx, res.Conflict); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE sync_versions SET last_op_id = '' WHERE entity = $1 AND entity_id = $2 AND last_op_id = $3`,
			entity, entityID, res.OpID)
		return err
	})
}

// ---- Node: pulled state ----

func (db *DB) PutSyncedAppointment(ctx context.Context, a *domain.Appointment) (bool, error) {
	var wrote bool
	err := inTx(ctx, db.pool, func(tx pgx.Tx) error {
		wrote = false
		if err := lockDoctor(ctx, tx, a.DoctorID); err != nil {
			return err
		}
		var queued bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sync_outbox WHERE entity = $1 AND entity_id = $2 AND answered_at IS NULL)`,
			domain.ChangeEntityAppointment, a.ID).Scan(&queued); err != nil {
			return err
		}
		if queued {
			return nil // the answer to its ops brings the upstream's state
		}
		if err := upsertAppointment(ctx, tx, a); err != nil {
			return err
		}
		if err := setVersion(ctx, tx, domain.ChangeEntityAppointment, a.ID, version(a.UpdatedAt)); err != nil {
			return err
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityAppointment, a.ID, a.UpdatedAt); err != nil {
			return err
		}
		wrote = true
		return nil
	})
	if err != nil {
		return false, db.appointmentErr(ctx, err, a, "synced appointment")
	}
	return wrote, nil
}

func (db *DB) PutSyncedDoctor(ctx context.Context, d *domain.SyncedDoctor, hours *domain.Availability) error {
	if d == nil || d.Doctor == nil || d.Account == nil || d.Account.ID == "" {
		return domain.Invalid("doctor", "A synced doctor needs its profile and its account.")
	}
	doc, acct := d.Doctor, d.Account
	if doc.ID == "" {
		return domain.Invalid("doctor", "A synced doctor needs its id.")
	}
	if doc.Qualifications == nil {
		doc.Qualifications = []string{}
	}
	doc.UserID, doc.Name = acct.ID, acct.Name
	return db.tx(ctx, "synced doctor", func(tx pgx.Tx) error {
		// The account cannot sign in here: a new row gets the password
		// hash "!", which no password matches; an existing row keeps its own.
		_, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, role, password_hash, disabled, created_at, updated_at)
			VALUES ($1, $2, $3, 'doctor', '!', $4, $5, $6)
			ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, role = 'doctor', disabled = excluded.disabled,
				updated_at = excluded.updated_at`, acct.ID, acct.Email, acct.Name, acct.Disabled, acct.CreatedAt.UTC(), acct.UpdatedAt.UTC())
		if isUnique(err) {
			return domain.Errorf(domain.ECONFLICT, "An account with that e-mail address already exists.")
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO doctors (id, user_id, specialization, qualifications, license_number, years_experience, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, specialization = excluded.specialization,
				qualifications = excluded.qualifications, license_number = excluded.license_number,
				years_experience = excluded.years_experience, created_at = excluded.created_at, updated_at = excluded.updated_at`,
			doc.ID, doc.UserID, doc.Specialization, doc.Qualifications, doc.LicenseNumber, doc.YearsExperience,
			doc.CreatedAt.UTC(), doc.UpdatedAt.UTC())
		if isUnique(err) {
			return domain.Errorf(domain.ECONFLICT, "This account already has a doctor profile.")
		}
		if err != nil {
			return err
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityDoctor, doc.ID, doc.UpdatedAt); err != nil || hours == nil {
			return err
		}
		hours.DoctorID = doc.ID
		return putAvailability(ctx, tx, hours)
	})
}

func (db *DB) PutSyncedPatient(ctx context.Context, p *domain.Patient) error {
	if p.ID == "" {
		return domain.Invalid("patient", "A synced patient needs its id.")
	}
	contacts := p.EmergencyContacts
	if contacts == nil {
		contacts = []domain.EmergencyContact{}
	}
	return db.tx(ctx, "synced patient", func(tx pgx.Tx) error {
		// Portal accounts stay with the upstream: a new row has none, an
		// existing one keeps its own.
		_, err := tx.Exec(ctx, `INSERT INTO patients (id, user_id, name, date_of_birth, sex, phone, email, address, emergency_contacts,
			insurance_provider, insurance_member_sealed, national_id_sealed, created_at, updated_at)
			VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, date_of_birth = excluded.date_of_birth, sex = excluded.sex,
				phone = excluded.phone, email = excluded.email, address = excluded.address, emergency_contacts = excluded.emergency_contacts,
				insurance_provider = excluded.insurance_provider, insurance_member_sealed = excluded.insurance_member_sealed,
				national_id_sealed = excluded.national_id_sealed, created_at = excluded.created_at, updated_at = excluded.updated_at`,
			p.ID, p.Name, p.DateOfBirth, p.Sex, p.Phone, p.Email, p.Address, contacts,
			p.InsuranceProvider, p.InsuranceMemberNumber, p.NationalID, p.CreatedAt.UTC(), p.UpdatedAt.UTC())
		if err != nil {
			return err
		}
		return insertSyncChange(ctx, tx, domain.ChangeEntityPatient, p.ID, p.UpdatedAt)
	})
}

// ---- Node: small state ----

func (db *DB) SyncValue(ctx context.Context, key string) (string, error) {
	var v string
	err := db.pool.QueryRow(ctx, `SELECT value FROM sync_values WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, mapErr(err, "sync value")
}

func (db *DB) SetSyncValue(ctx context.Context, key, value string) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO sync_values (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return mapErr(err, "set sync value")
}
