package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/healthhub/healthhub/backend/domain"
)

const auditColumns = `seq, id, time, actor_id, actor_role, action, resource_type, resource_id, patient_id,
	outcome, source_ip, user_agent, request_id, detail, prev_hash, hash, chain_version, patient_salt, patient_commit, redacted`

func (db *DB) AppendAudit(ctx context.Context, events []*domain.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return mapErr(db.tx(ctx, func(tx *sql.Tx) error {
		var seq int64
		var hash string
		if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
			return err
		}
		seq, hash = domain.Chain(seq, hash, events)
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_events (`+auditColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range events {
			if _, err := stmt.ExecContext(ctx, e.Seq, e.ID, fmtTime(e.Time), e.ActorID, e.ActorRole, e.Action,
				e.ResourceType, e.ResourceID, e.PatientID, e.Outcome, e.SourceIP, e.UserAgent, e.RequestID,
				e.Detail, e.PrevHash, e.Hash, e.HashVersion(), e.PatientSalt, e.PatientCommit, e.Redacted); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, seq, hash)
		return err
	}), "append audit")
}

func scanAudit(row interface{ Scan(...any) error }) (*domain.AuditEvent, error) {
	var e domain.AuditEvent
	var t string
	if err := row.Scan(&e.Seq, &e.ID, &t, &e.ActorID, &e.ActorRole, &e.Action, &e.ResourceType, &e.ResourceID,
		&e.PatientID, &e.Outcome, &e.SourceIP, &e.UserAgent, &e.RequestID, &e.Detail, &e.PrevHash, &e.Hash,
		&e.ChainVersion, &e.PatientSalt, &e.PatientCommit, &e.Redacted); err != nil {
		return nil, err
	}
	var err error
	e.Time, err = parseTime(t)
	return &e, err
}

// namedAuditColumns are the chain's columns of e followed by the actor's
// and the patient's names (empty when the account or record is unknown).
var namedAuditColumns = `e.` + strings.ReplaceAll(auditColumns, `, `, `, e.`) + `, COALESCE(u.name, ''), COALESCE(p.name, '')`

// namedAuditFrom joins the names in at read time; they are not chained.
const namedAuditFrom = ` FROM audit_events e
	LEFT JOIN users u ON u.id = e.actor_id
	LEFT JOIN patients p ON p.id = e.patient_id AND e.patient_id <> ''`

// scanNamedAudit reads a row of namedAuditColumns.
func scanNamedAudit(row interface{ Scan(...any) error }) (*domain.AuditEvent, error) {
	var e domain.AuditEvent
	var t string
	if err := row.Scan(&e.Seq, &e.ID, &t, &e.ActorID, &e.ActorRole, &e.Action, &e.ResourceType, &e.ResourceID,
		&e.PatientID, &e.Outcome, &e.SourceIP, &e.UserAgent, &e.RequestID, &e.Detail, &e.PrevHash, &e.Hash,
		&e.ChainVersion, &e.PatientSalt, &e.PatientCommit, &e.Redacted, &e.ActorName, &e.PatientName); err != nil {
		return nil, err
	}
	var err error
	e.Time, err = parseTime(t)
	return &e, err
}

func (db *DB) queryAudit(ctx context.Context, scan func(interface{ Scan(...any) error }) (*domain.AuditEvent, error), q string, args ...any) ([]*domain.AuditEvent, error) {
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "query audit")
	}
	defer rows.Close()
	var out []*domain.AuditEvent
	for rows.Next() {
		e, err := scan(rows)
		if err != nil {
			return nil, mapErr(err, "scan audit event")
		}
		out = append(out, e)
	}
	return out, mapErr(rows.Err(), "query audit")
}

func (db *DB) ListAudit(ctx context.Context, f domain.AuditFilter) ([]*domain.AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.PatientID != "" {
		add(`e.patient_id = ?`, f.PatientID)
	}
	if f.ActorID != "" {
		add(`e.actor_id = ?`, f.ActorID)
	}
	if f.Action != "" {
		add(`e.action = ?`, f.Action)
	}
	if f.ResourceType != "" {
		add(`e.resource_type = ?`, f.ResourceType)
	}
	if !f.From.IsZero() {
		add(`e.time >= ?`, fmtTime(f.From))
	}
	if !f.To.IsZero() {
		add(`e.time < ?`, fmtTime(f.To))
	}
	if f.BeforeSeq > 0 {
		add(`e.seq < ?`, f.BeforeSeq)
	}
	q := `SELECT ` + namedAuditColumns + namedAuditFrom
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY e.seq DESC LIMIT ?`
	args = append(args, limitOr(f.Limit, 100))
	return db.queryAudit(ctx, scanNamedAudit, q, args...)
}

func (db *DB) ScanAudit(ctx context.Context, afterSeq int64, limit int) ([]*domain.AuditEvent, error) {
	return db.queryAudit(ctx, scanAudit, `SELECT `+auditColumns+` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`,
		afterSeq, limitOr(limit, 1000))
}

func (db *DB) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := db.reader.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	return seq, hash, mapErr(err, "read audit head")
}
