package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// version is an entity's upstream version: its UpdatedAt there.
func version(t time.Time) string { return t.UTC().Format(domain.AuditTimeFormat) }

func doctorIDsText(ids []string) string {
	if ids == nil {
		ids = []string{}
	}
	return jsonText(ids)
}

func parseDoctorIDs(s string) ([]string, error) {
	ids := []string{}
	if err := json.Unmarshal([]byte(s), &ids); err != nil {
		return nil, fmt.Errorf("stored doctor ids: %w", err)
	}
	return ids, nil
}

// ---- Upstream: nodes and enrolment ----

func (db *DB) CreateSyncEnrollment(ctx context.Context, e *domain.SyncEnrollment) error {
	if e.ID == "" {
		e.ID = newID()
	}
	_, err := db.writer.ExecContext(ctx, `INSERT INTO sync_enrollments (id, code_hash, name, doctor_ids, created_by, created_at, expires_at, used_at, node_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.CodeHash, e.Name, doctorIDsText(e.DoctorIDs), e.CreatedBy, fmtTime(e.CreatedAt),
		fmtTime(e.ExpiresAt), fmtTime(e.UsedAt), e.NodeID)
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
	return db.tx(ctx, func(tx *sql.Tx) error {
		var ename, ids string
		err := tx.QueryRowContext(ctx, `UPDATE sync_enrollments SET used_at = ?, node_id = ?
			WHERE code_hash = ? AND used_at = '' AND expires_at > ? RETURNING name, doctor_ids`,
			fmtTime(n.EnrolledAt), n.ID, codeHash, fmtTime(n.EnrolledAt)).Scan(&ename, &ids)
		if err == sql.ErrNoRows {
			return errEnrollmentCode
		}
		if err != nil {
			return mapErr(err, "use enrolment code")
		}
		if n.DoctorIDs, err = parseDoctorIDs(ids); err != nil {
			return err
		}
		n.Name = name
		if n.Name == "" {
			n.Name = ename
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sync_nodes (id, name, public_key, credential_hash, doctor_ids, enrolled_by, enrolled_at,
			revoked_by, revoked_at, last_seen_at, audit_size, audit_head_hash, audit_checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', x'')`,
			n.ID, n.Name, n.PublicKey, n.CredentialHash, doctorIDsText(n.DoctorIDs), n.EnrolledBy, fmtTime(n.EnrolledAt),
			n.RevokedBy, fmtTime(n.RevokedAt), fmtTime(n.LastSeenAt))
		n.AuditSize = 0
		return mapErr(err, "enroll node")
	})
}

const syncNodeColumns = `id, name, public_key, credential_hash, doctor_ids, enrolled_by, enrolled_at, revoked_by, revoked_at, last_seen_at, audit_size`

func scanSyncNode(row scanner) (*domain.SyncNode, error) {
	var n domain.SyncNode
	var ids, enrolled, revoked, seen string
	if err := row.Scan(&n.ID, &n.Name, &n.PublicKey, &n.CredentialHash, &ids, &n.EnrolledBy, &enrolled, &n.RevokedBy, &revoked,
		&seen, &n.AuditSize); err != nil {
		return nil, err
	}
	var err error
	if n.DoctorIDs, err = parseDoctorIDs(ids); err != nil {
		return nil, err
	}
	return &n, times(&n.EnrolledAt, enrolled, &n.RevokedAt, revoked, &n.LastSeenAt, seen)
}

func (db *DB) syncNode(ctx context.Context, where string, arg any) (*domain.SyncNode, error) {
	n, err := scanSyncNode(db.reader.QueryRowContext(ctx, `SELECT `+syncNodeColumns+` FROM sync_nodes WHERE `+where+` = ?`, arg))
	if err == sql.ErrNoRows {
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
	rows, err := db.reader.QueryContext(ctx, `SELECT `+syncNodeColumns+` FROM sync_nodes ORDER BY enrolled_at, id`)
	if err != nil {
		return nil, mapErr(err, "list nodes")
	}
	defer rows.Close()
	out := []*domain.SyncNode{}
	for rows.Next() {
		n, err := scanSyncNode(rows)
		if err != nil {
			return nil, mapErr(err, "scan node")
		}
		out = append(out, n)
	}
	return out, mapErr(rows.Err(), "list nodes")
}

// nodeExists turns "no row changed" into not found for an unknown node.
func nodeExists(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM sync_nodes WHERE id = ?`, id).Scan(&one)
	if err == sql.ErrNoRows {
		return domain.Errorf(domain.ENOTFOUND, "No such node.")
	}
	return mapErr(err, "sync node")
}

func (db *DB) RevokeSyncNode(ctx context.Context, id, by string, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sync_nodes SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at = ''`, fmtTime(at), by, id)
		if err != nil {
			return mapErr(err, "revoke node")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nodeExists(ctx, tx, id) // revoked before: the first revocation stands
		}
		return nil
	})
}

func (db *DB) TouchSyncNode(ctx context.Context, id string, at time.Time) error {
	res, err := db.writer.ExecContext(ctx, `UPDATE sync_nodes SET last_seen_at = max(last_seen_at, ?) WHERE id = ?`, fmtTime(at), id)
	if err != nil {
		return mapErr(err, "touch node")
	}
	return mustAffect(res, "No such node.")
}

// ---- Upstream: ops ----

func (db *DB) SyncOpResult(ctx context.Context, opID string) (*domain.SyncOpResult, error) {
	return scanOpResult(db.reader.QueryRowContext(ctx, `SELECT node_id, result FROM sync_ops WHERE op_id = ?`, opID))
}

func scanOpResult(row scanner) (*domain.SyncOpResult, error) {
	var node, result string
	err := row.Scan(&node, &result)
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "This op has no result.")
	}
	if err != nil {
		return nil, mapErr(err, "op result")
	}
	var r domain.SyncOpResult
	if err := json.Unmarshal([]byte(result), &r); err != nil {
		return nil, fmt.Errorf("stored op result: %w", err)
	}
	r.NodeID = node
	return &r, nil
}

func (db *DB) ApplySyncOp(ctx context.Context, res *domain.SyncOpResult, w domain.SyncWrite) error {
	if w.Appointment != nil && w.Appointment.ID == "" {
		w.Appointment.ID = newID()
	}
	if w.Conflict != nil && w.Conflict.ID == "" {
		w.Conflict.ID = res.OpID
	}
	result := jsonText(res)
	var stored *domain.SyncOpResult
	err := db.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `INSERT INTO sync_ops (op_id, node_id, entity_id, outcome, result, at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (op_id) DO NOTHING`, res.OpID, res.NodeID, res.EntityID, res.Outcome, result, fmtTime(res.At))
		if err != nil {
			return mapErr(err, "record op")
		}
		if n, _ := r.RowsAffected(); n == 0 {
			if stored, err = scanOpResult(tx.QueryRowContext(ctx, `SELECT node_id, result FROM sync_ops WHERE op_id = ?`, res.OpID)); err != nil {
				return err
			}
			return domain.ErrOpReplay
		}
		if a := w.Appointment; a != nil {
			if w.Create {
				err = insertAppointment(ctx, tx, a)
			} else {
				err = updateAppointmentRow(ctx, tx, a, w.Expect)
			}
			if err != nil {
				return err
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
	if err == domain.ErrOpReplay && stored != nil {
		*res = *stored
	}
	return err
}

// ---- Upstream: the audit logs of nodes ----

func (db *DB) SyncAuditState(ctx context.Context, nodeID string) (domain.SyncAudit, error) {
	var s domain.SyncAudit
	err := db.reader.QueryRowContext(ctx, `SELECT audit_size, audit_head_hash, audit_checkpoint FROM sync_nodes WHERE id = ?`, nodeID).
		Scan(&s.Size, &s.HeadHash, &s.Checkpoint)
	if err == sql.ErrNoRows {
		return s, domain.Errorf(domain.ENOTFOUND, "No such node.")
	}
	if len(s.Checkpoint) == 0 {
		s.Checkpoint = nil
	}
	return s, mapErr(err, "node audit state")
}

func (db *DB) SyncAuditEvent(ctx context.Context, nodeID string, seq int64) (*domain.AuditEvent, error) {
	e, err := scanAudit(db.reader.QueryRowContext(ctx, `SELECT `+auditColumns+` FROM sync_node_audit WHERE node_id = ? AND seq = ?`, nodeID, seq))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "The upstream holds no such event of this node.")
	}
	return e, mapErr(err, "node audit event")
}

func (db *DB) SyncAuditEvents(ctx context.Context, nodeID string, after int64, limit int) ([]*domain.AuditEvent, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+auditColumns+` FROM sync_node_audit WHERE node_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		nodeID, after, limitOr(limit, 500))
	if err != nil {
		return nil, mapErr(err, "node audit events")
	}
	defer rows.Close()
	var out []*domain.AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, mapErr(err, "scan node audit event")
		}
		out = append(out, e)
	}
	return out, mapErr(rows.Err(), "node audit events")
}

func (db *DB) SyncTreeHashes(ctx context.Context, nodeID string, indexes []int64) ([][32]byte, error) {
	if len(indexes) == 0 {
		return [][32]byte{}, nil
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT idx, hash FROM sync_node_tree WHERE node_id = ? AND idx IN (SELECT value FROM json_each(?))`,
		nodeID, jsonText(indexes))
	if err != nil {
		return nil, mapErr(err, "tree hashes")
	}
	defer rows.Close()
	found := make(map[int64][32]byte, len(indexes))
	for rows.Next() {
		var idx int64
		var h []byte
		if err := rows.Scan(&idx, &h); err != nil {
			return nil, mapErr(err, "tree hashes")
		}
		if len(h) != 32 {
			return nil, fmt.Errorf("stored tree hash %d has %d bytes", idx, len(h))
		}
		found[idx] = [32]byte(h)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "tree hashes")
	}
	out := make([][32]byte, len(indexes))
	for i, idx := range indexes {
		h, ok := found[idx]
		if !ok {
			return nil, domain.Errorf(domain.ENOTFOUND, "The upstream holds no tree hash %d of this node.", idx)
		}
		out[i] = h
	}
	return out, nil
}

func (db *DB) AppendSyncAudit(ctx context.Context, nodeID string, prevSize int64, events []*domain.AuditEvent, hashes []domain.StoredHash, next domain.SyncAudit) error {
	checkpoint := next.Checkpoint
	if checkpoint == nil {
		checkpoint = []byte{}
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sync_nodes SET audit_size = ?, audit_head_hash = ?, audit_checkpoint = ?
			WHERE id = ? AND audit_size = ?`, next.Size, next.HeadHash, checkpoint, nodeID, prevSize)
		if err != nil {
			return mapErr(err, "node audit state")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if err := nodeExists(ctx, tx, nodeID); err != nil {
				return err
			}
			return domain.Errorf(domain.ECONFLICT, "The node's audit log at the upstream changed meanwhile; send the batch again.")
		}
		if len(events) > 0 {
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO sync_node_audit (node_id, `+auditColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return mapErr(err, "store node audit")
			}
			defer stmt.Close()
			for _, e := range events {
				if _, err := stmt.ExecContext(ctx, nodeID, e.Seq, e.ID, fmtTime(e.Time), e.ActorID, e.ActorRole, e.Action,
					e.ResourceType, e.ResourceID, e.PatientID, e.Outcome, e.SourceIP, e.UserAgent, e.RequestID,
					e.Detail, e.PrevHash, e.Hash, e.HashVersion(), e.PatientSalt, e.PatientCommit, e.Redacted); err != nil {
					return mapErr(err, "store node audit")
				}
			}
		}
		if len(hashes) > 0 {
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO sync_node_tree (node_id, idx, hash) VALUES (?, ?, ?)`)
			if err != nil {
				return mapErr(err, "store tree hashes")
			}
			defer stmt.Close()
			for _, h := range hashes {
				if _, err := stmt.ExecContext(ctx, nodeID, h.Index, h.Hash[:]); err != nil {
					return mapErr(err, "store tree hashes")
				}
			}
		}
		return nil
	})
}

// ---- Conflicts ----

const conflictColumns = `id, node_id, appointment_id, doctor_id, patient_id, start_at, end_at, kind, outcome, reason, winner_id,
	created_at, resolved_by, resolved_at`

func scanConflict(row scanner) (*domain.SyncConflict, error) {
	var c domain.SyncConflict
	var start, end, created, resolved string
	if err := row.Scan(&c.ID, &c.NodeID, &c.AppointmentID, &c.DoctorID, &c.PatientID, &start, &end, &c.Kind, &c.Outcome, &c.Reason,
		&c.WinnerID, &created, &c.ResolvedBy, &resolved); err != nil {
		return nil, err
	}
	return &c, times(&c.Start, start, &c.End, end, &c.CreatedAt, created, &c.ResolvedAt, resolved)
}

// putConflict stores c or replaces the stored one, keeping a resolution
// already made, and writes its change.
func putConflict(ctx context.Context, tx *sql.Tx, c *domain.SyncConflict) error {
	if c.ID == "" {
		c.ID = newID()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sync_conflicts (`+conflictColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET node_id = excluded.node_id, appointment_id = excluded.appointment_id, doctor_id = excluded.doctor_id,
			patient_id = excluded.patient_id, start_at = excluded.start_at, end_at = excluded.end_at, kind = excluded.kind,
			outcome = excluded.outcome, reason = excluded.reason, winner_id = excluded.winner_id, created_at = excluded.created_at,
			resolved_by = CASE WHEN sync_conflicts.resolved_at = '' THEN excluded.resolved_by ELSE sync_conflicts.resolved_by END,
			resolved_at = CASE WHEN sync_conflicts.resolved_at = '' THEN excluded.resolved_at ELSE sync_conflicts.resolved_at END`,
		c.ID, c.NodeID, c.AppointmentID, c.DoctorID, c.PatientID, fmtTime(c.Start), fmtTime(c.End), c.Kind, c.Outcome, c.Reason,
		c.WinnerID, fmtTime(c.CreatedAt), c.ResolvedBy, fmtTime(c.ResolvedAt))
	if err != nil {
		return mapErr(err, "store conflict")
	}
	return insertSyncChange(ctx, tx, domain.ChangeEntityConflict, c.ID, c.CreatedAt)
}

func (db *DB) PutSyncConflict(ctx context.Context, c *domain.SyncConflict) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return putConflict(ctx, tx, c) })
}

func (db *DB) SyncConflictByID(ctx context.Context, id string) (*domain.SyncConflict, error) {
	c, err := scanConflict(db.reader.QueryRowContext(ctx, `SELECT `+conflictColumns+` FROM sync_conflicts WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such conflict.")
	}
	return c, mapErr(err, "conflict")
}

func (db *DB) ListSyncConflicts(ctx context.Context, openOnly bool, limit int) ([]*domain.SyncConflict, error) {
	q := `SELECT ` + conflictColumns + ` FROM sync_conflicts`
	if openOnly {
		q += ` WHERE resolved_at = ''`
	}
	rows, err := db.reader.QueryContext(ctx, q+` ORDER BY created_at DESC, id DESC LIMIT ?`, limitOr(limit, 100))
	if err != nil {
		return nil, mapErr(err, "list conflicts")
	}
	defer rows.Close()
	out := []*domain.SyncConflict{}
	for rows.Next() {
		c, err := scanConflict(rows)
		if err != nil {
			return nil, mapErr(err, "scan conflict")
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err(), "list conflicts")
}

func (db *DB) ResolveSyncConflict(ctx context.Context, id, by string, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sync_conflicts SET resolved_by = ?, resolved_at = ? WHERE id = ? AND resolved_at = ''`, by, fmtTime(at), id)
		if err != nil {
			return mapErr(err, "resolve conflict")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM sync_conflicts WHERE id = ?`, id).Scan(&one)
			if err == sql.ErrNoRows {
				return domain.Errorf(domain.ENOTFOUND, "No such conflict.")
			}
			return mapErr(err, "resolve conflict") // resolved before: the first resolution stands
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
func queueOp(ctx context.Context, tx *sql.Tx, a *domain.Appointment, op *domain.SyncOp, kind string) error {
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
	err := tx.QueryRowContext(ctx, `SELECT v.version, v.last_op_id,
			EXISTS (SELECT 1 FROM sync_outbox o WHERE o.op_id = v.last_op_id AND o.answered_at = '')
		FROM sync_versions v WHERE v.entity = ? AND v.entity_id = ?`, op.Entity, op.EntityID).Scan(&ver, &last, &lastOpen)
	switch {
	case err == sql.ErrNoRows:
		op.BaseVersion = ""
	case err != nil:
		return mapErr(err, "entity version")
	case last != "" && lastOpen:
		op.BaseVersion = "op:" + last
	default:
		op.BaseVersion = ver
	}
	op.Seq = 0
	if err := tx.QueryRowContext(ctx, `INSERT INTO sync_outbox (op_id, entity, entity_id, kind, base_version, payload, actor_id, actor_role, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`, op.ID, op.Entity, op.EntityID, op.Kind, op.BaseVersion, jsonText(op),
		op.ActorID, op.ActorRole, fmtTime(op.CreatedAt)).Scan(&op.Seq); err != nil {
		return mapErr(err, "queue op")
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO sync_versions (entity, entity_id, version, last_op_id) VALUES (?, ?, '', ?)
		ON CONFLICT (entity, entity_id) DO UPDATE SET last_op_id = excluded.last_op_id`, op.Entity, op.EntityID, op.ID)
	return mapErr(err, "queue op")
}

func (db *DB) QueuedOps(ctx context.Context, limit int) ([]*domain.SyncOp, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT seq, payload FROM sync_outbox WHERE answered_at = '' ORDER BY seq LIMIT ?`, limitOr(limit, 100))
	if err != nil {
		return nil, mapErr(err, "queued ops")
	}
	defer rows.Close()
	out := []*domain.SyncOp{}
	for rows.Next() {
		var seq int64
		var payload string
		if err := rows.Scan(&seq, &payload); err != nil {
			return nil, mapErr(err, "queued ops")
		}
		var op domain.SyncOp
		if err := json.Unmarshal([]byte(payload), &op); err != nil {
			return nil, fmt.Errorf("stored op %d: %w", seq, err)
		}
		op.Seq = seq
		out = append(out, &op)
	}
	return out, mapErr(rows.Err(), "queued ops")
}

func (db *DB) OutboxStats(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest string
	if err := db.reader.QueryRowContext(ctx, `SELECT count(*), COALESCE(min(created_at), '') FROM sync_outbox WHERE answered_at = ''`).
		Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, mapErr(err, "outbox stats")
	}
	t, err := parseTime(oldest)
	return n, t, err
}

// upsertAppointment writes every column of a, inserting or replacing the
// row with its id. A replaced row keeps its own idempotency key: keys are
// the installation's own and do not travel.
func upsertAppointment(ctx context.Context, tx *sql.Tx, a *domain.Appointment) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO appointments (`+appointmentColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET doctor_id = excluded.doctor_id, patient_id = excluded.patient_id, start_at = excluded.start_at,
			end_at = excluded.end_at, status = excluded.status, reason = excluded.reason, cancel_reason = excluded.cancel_reason,
			created_by = excluded.created_by, created_at = excluded.created_at, updated_at = excluded.updated_at,
			origin_node = excluded.origin_node`,
		a.ID, a.DoctorID, a.PatientID, fmtTime(a.Start), fmtTime(a.End), a.Status, a.Reason, a.CancelReason, a.CreatedBy,
		a.IdempotencyKey, fmtTime(a.CreatedAt), fmtTime(a.UpdatedAt), a.OriginNode)
	return err
}

func setVersion(ctx context.Context, tx *sql.Tx, entity, id, v string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sync_versions (entity, entity_id, version) VALUES (?, ?, ?)
		ON CONFLICT (entity, entity_id) DO UPDATE SET version = excluded.version`, entity, id, v)
	return mapErr(err, "entity version")
}

func (db *DB) AnswerSyncOp(ctx context.Context, res *domain.SyncOpResult) error {
	at := res.At
	if at.IsZero() {
		at = time.Now().UTC() // answered_at set is what marks the op answered
	}
	if res.Conflict != nil && res.Conflict.ID == "" {
		res.Conflict.ID = res.OpID
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		var seq int64
		var entity, entityID, kind string
		err := tx.QueryRowContext(ctx, `SELECT seq, entity, entity_id, kind FROM sync_outbox WHERE op_id = ? AND answered_at = ''`, res.OpID).
			Scan(&seq, &entity, &entityID, &kind)
		if err == sql.ErrNoRows {
			return nil // answered before, or never queued here
		}
		if err != nil {
			return mapErr(err, "answer op")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sync_outbox SET answered_at = ?, outcome = ?, reason = ? WHERE seq = ?`,
			fmtTime(at), res.Outcome, res.Reason, seq); err != nil {
			return mapErr(err, "answer op")
		}
		switch a := res.Appointment; {
		case a != nil:
			var later bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sync_outbox
				WHERE entity = ? AND entity_id = ? AND seq > ? AND answered_at = '')`, entity, entityID, seq).Scan(&later); err != nil {
				return mapErr(err, "answer op")
			}
			if !later {
				err := upsertAppointment(ctx, tx, a)
				switch {
				case isOverlap(err), isLeased(err):
					// Another appointment here holds the time, or another
					// holder's lease here does; the row stays as it is until
					// the pull brings the upstream's state.
				case err != nil:
					return mapErr(err, "write answered appointment")
				default:
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
			r, err := tx.ExecContext(ctx, `UPDATE appointments SET status = 'cancelled', cancel_reason = ?, updated_at = ? WHERE id = ?`,
				res.Reason, fmtTime(at), entityID)
			if err != nil {
				return mapErr(err, "cancel refused booking")
			}
			if n, _ := r.RowsAffected(); n > 0 {
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
		_, err = tx.ExecContext(ctx, `UPDATE sync_versions SET last_op_id = '' WHERE entity = ? AND entity_id = ? AND last_op_id = ?`,
			entity, entityID, res.OpID)
		return mapErr(err, "answer op")
	})
}

// ---- Node: pulled state ----

func (db *DB) PutSyncedAppointment(ctx context.Context, a *domain.Appointment) (bool, error) {
	var wrote bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		wrote = false
		var queued bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sync_outbox WHERE entity = ? AND entity_id = ? AND answered_at = '')`,
			domain.ChangeEntityAppointment, a.ID).Scan(&queued); err != nil {
			return mapErr(err, "synced appointment")
		}
		if queued {
			return nil // the answer to its ops brings the upstream's state
		}
		err := upsertAppointment(ctx, tx, a)
		switch {
		case isTooLong(err):
			return errTooLong
		case isLeased(err):
			return domain.ErrLeased
		case isOverlap(err):
			return clash(ctx, tx, a)
		case isCode(err, 787):
			return domain.Errorf(domain.ENOTFOUND, "The doctor or patient does not exist.")
		case err != nil:
			return mapErr(err, "synced appointment")
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
	return wrote, err
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
	return db.tx(ctx, func(tx *sql.Tx) error {
		// The account cannot sign in here: a new row gets the password
		// hash "!", which no password matches; an existing row keeps its own.
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, role, password_hash, disabled, created_at, updated_at)
			VALUES (?, ?, ?, 'doctor', '!', ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, role = 'doctor', disabled = excluded.disabled,
				updated_at = excluded.updated_at`, acct.ID, acct.Email, acct.Name, acct.Disabled, fmtTime(acct.CreatedAt), fmtTime(acct.UpdatedAt))
		if isCode(err, 2067) {
			return domain.Errorf(domain.ECONFLICT, "An account with that e-mail address already exists.")
		}
		if err != nil {
			return mapErr(err, "synced doctor account")
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO doctors (id, user_id, specialization, qualifications, license_number, years_experience, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, specialization = excluded.specialization,
				qualifications = excluded.qualifications, license_number = excluded.license_number,
				years_experience = excluded.years_experience, created_at = excluded.created_at, updated_at = excluded.updated_at`,
			doc.ID, doc.UserID, doc.Specialization, jsonText(doc.Qualifications), doc.LicenseNumber, doc.YearsExperience,
			fmtTime(doc.CreatedAt), fmtTime(doc.UpdatedAt))
		if isCode(err, 2067) {
			return domain.Errorf(domain.ECONFLICT, "This account already has a doctor profile.")
		}
		if err != nil {
			return mapErr(err, "synced doctor")
		}
		if err := insertSyncChange(ctx, tx, domain.ChangeEntityDoctor, doc.ID, doc.UpdatedAt); err != nil {
			return err
		}
		if hours == nil {
			return nil
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
	return db.tx(ctx, func(tx *sql.Tx) error {
		// Portal accounts stay with the upstream: a new row has none, an
		// existing one keeps its own.
		_, err := tx.ExecContext(ctx, `INSERT INTO patients (id, user_id, name, date_of_birth, sex, phone, email, address, emergency_contacts,
			insurance_provider, insurance_member_sealed, national_id_sealed, created_at, updated_at)
			VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, date_of_birth = excluded.date_of_birth, sex = excluded.sex,
				phone = excluded.phone, email = excluded.email, address = excluded.address, emergency_contacts = excluded.emergency_contacts,
				insurance_provider = excluded.insurance_provider, insurance_member_sealed = excluded.insurance_member_sealed,
				national_id_sealed = excluded.national_id_sealed, created_at = excluded.created_at, updated_at = excluded.updated_at`,
			p.ID, p.Name, p.DateOfBirth, p.Sex, p.Phone, p.Email, jsonText(p.Address), jsonText(contacts),
			p.InsuranceProvider, p.InsuranceMemberNumber, p.NationalID, fmtTime(p.CreatedAt), fmtTime(p.UpdatedAt))
		if err != nil {
			return mapErr(err, "synced patient")
		}
		return insertSyncChange(ctx, tx, domain.ChangeEntityPatient, p.ID, p.UpdatedAt)
	})
}

// ---- Node: small state ----

func (db *DB) SyncValue(ctx context.Context, key string) (string, error) {
	var v string
	err := db.reader.QueryRowContext(ctx, `SELECT value FROM sync_values WHERE key = ?`, key).Scan(&v)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return v, mapErr(err, "sync value")
}

func (db *DB) SetSyncValue(ctx context.Context, key, value string) error {
	_, err := db.writer.ExecContext(ctx, `INSERT INTO sync_values (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return mapErr(err, "set sync value")
}
