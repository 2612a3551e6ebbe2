package postgres

import (
	"context"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
)

const auditColumns = `seq, id, time, actor_id, actor_role, action, resource_type, resource_id, patient_id,
	outcome, source_ip, user_agent, request_id, detail, prev_hash, hash, chain_version, patient_salt, patient_commit, redacted`

var auditColumnNames = []string{"seq", "id", "time", "actor_id", "actor_role", "action", "resource_type", "resource_id",
	"patient_id", "outcome", "source_ip", "user_agent", "request_id", "detail", "prev_hash", "hash",
	"chain_version", "patient_salt", "patient_commit", "redacted"}

func (db *DB) AppendAudit(ctx context.Context, events []*domain.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	err := inTx(ctx, db.pool, func(tx pgx.Tx) error {
		var seq int64
		var hash string
		// The row lock orders appends from every replica.
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &hash); err != nil {
			return err
		}
		seq, hash = domain.Chain(seq, hash, events)
		rows := make([][]any, len(events))
		for i, e := range events {
			rows[i] = []any{e.Seq, e.ID, e.Time, e.ActorID, e.ActorRole, e.Action, e.ResourceType, e.ResourceID,
				e.PatientID, e.Outcome, e.SourceIP, e.UserAgent, e.RequestID, e.Detail, e.PrevHash, e.Hash,
				e.HashVersion(), e.PatientSalt, e.PatientCommit, e.Redacted}
		}
		if len(rows) == 1 {
			if _, err := tx.Exec(ctx, `INSERT INTO audit_events (`+auditColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`, rows[0]...); err != nil {
				return err
			}
		} else if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_events"}, auditColumnNames, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, seq, hash)
		return err
	})
	return mapErr(err, "append audit")
}

func scanAudit(row pgx.Row) (*domain.AuditEvent, error) {
	var e domain.AuditEvent
	if err := row.Scan(&e.Seq, &e.ID, &e.Time, &e.ActorID, &e.ActorRole, &e.Action, &e.ResourceType, &e.ResourceID,
		&e.PatientID, &e.Outcome, &e.SourceIP, &e.UserAgent, &e.RequestID, &e.Detail, &e.PrevHash, &e.Hash,
		&e.ChainVersion, &e.PatientSalt, &e.PatientCommit, &e.Redacted); err != nil {
		return nil, err
	}
	e.Time = e.Time.UTC()
	return &e, nil
}

// scanNamedAudit reads the chain's columns followed by the actor's and the
// patient's names.
func scanNamedAudit(row pgx.Row) (*domain.AuditEvent, error) {
	var e domain.AuditEvent
	if err := row.Scan(&e.Seq, &e.ID, &e.Time, &e.ActorID, &e.ActorRole, &e.Action, &e.ResourceType, &e.ResourceID,
		&e.PatientID, &e.Outcome, &e.SourceIP, &e.UserAgent, &e.RequestID, &e.Detail, &e.PrevHash, &e.Hash,
		&e.ChainVersion, &e.PatientSalt, &e.PatientCommit, &e.Redacted, &e.ActorName, &e.PatientName); err != nil {
		return nil, err
	}
	e.Time = e.Time.UTC()
	return &e, nil
}

func (db *DB) queryAudit(ctx context.Context, scan func(pgx.Row) (*domain.AuditEvent, error), q string, args ...any) ([]*domain.AuditEvent, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "query audit")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.AuditEvent, error) { return scan(r) })
	return out, mapErr(err, "query audit")
}

func (db *DB) ListAudit(ctx context.Context, f domain.AuditFilter) ([]*domain.AuditEvent, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	// The names are joined in at read time; they are not chained.
	return db.queryAudit(ctx, scanNamedAudit, `SELECT e.seq, e.id, e.time, e.actor_id, e.actor_role, e.action, e.resource_type,
			e.resource_id, e.patient_id, e.outcome, e.source_ip, e.user_agent, e.request_id, e.detail, e.prev_hash, e.hash,
			e.chain_version, e.patient_salt, e.patient_commit, e.redacted, COALESCE(u.name, ''), COALESCE(p.name, '')
		FROM audit_events e
		LEFT JOIN users u ON u.id = e.actor_id
		LEFT JOIN patients p ON p.id = e.patient_id AND e.patient_id <> ''
		WHERE ($1 = '' OR e.patient_id = $1)
		  AND ($2 = '' OR e.actor_id = $2)
		  AND ($3 = '' OR e.action = $3)
		  AND ($4 = '' OR e.resource_type = $4)
		  AND ($5::timestamptz IS NULL OR e.time >= $5)
		  AND ($6::timestamptz IS NULL OR e.time < $6)
		  AND ($7 = 0 OR e.seq < $7)
		ORDER BY e.seq DESC LIMIT $8`,
		f.PatientID, f.ActorID, f.Action, f.ResourceType, nullTime(f.From), nullTime(f.To), f.BeforeSeq, limit)
}

func (db *DB) ScanAudit(ctx context.Context, afterSeq int64, limit int) ([]*domain.AuditEvent, error) {
	if limit <= 0 {
		limit = 1000
	}
	return db.queryAudit(ctx, scanAudit, `SELECT `+auditColumns+` FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, afterSeq, limit)
}

func (db *DB) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := db.pool.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	return seq, hash, mapErr(err, "read audit head")
}
