package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
)

const emergencyColumns = `g.id, g.user_id, g.user_role, g.patient_id, g.reason, g.details, g.created_at, g.expires_at, g.node_id,
	g.escalated, g.review_status, g.review_note, g.reviewed_by, g.reviewed_at,
	COALESCE(u.name, ''), COALESCE(p.name, '')`

const emergencyFrom = ` FROM emergency_grants g
	LEFT JOIN users u ON u.id = g.user_id
	LEFT JOIN patients p ON p.id = g.patient_id`

func scanEmergencyGrant(row pgx.Row) (*domain.EmergencyGrant, error) {
	var g domain.EmergencyGrant
	var reviewed *time.Time
	if err := row.Scan(&g.ID, &g.UserID, &g.UserRole, &g.PatientID, &g.Reason, &g.Details, &g.CreatedAt, &g.ExpiresAt, &g.NodeID,
		&g.Escalated, &g.ReviewStatus, &g.ReviewNote, &g.ReviewedBy, &reviewed, &g.UserName, &g.PatientName); err != nil {
		return nil, err
	}
	g.CreatedAt, g.ExpiresAt, g.ReviewedAt = g.CreatedAt.UTC(), g.ExpiresAt.UTC(), fromNull(reviewed)
	return &g, nil
}

func (db *DB) CreateEmergencyGrant(ctx context.Context, g *domain.EmergencyGrant) (bool, error) {
	if g.ID == "" {
		g.ID = newID()
	}
	if g.ReviewStatus == "" {
		g.ReviewStatus = domain.ReviewPending
	}
	tag, err := db.pool.Exec(ctx, `INSERT INTO emergency_grants (id, user_id, user_role, patient_id, reason, details, created_at, expires_at,
		node_id, escalated, review_status, review_note, reviewed_by, reviewed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (id) DO NOTHING`,
		g.ID, g.UserID, g.UserRole, g.PatientID, g.Reason, g.Details, g.CreatedAt.UTC(), g.ExpiresAt.UTC(), g.NodeID,
		g.Escalated, g.ReviewStatus, g.ReviewNote, g.ReviewedBy, nullTime(g.ReviewedAt))
	if err != nil {
		return false, mapErr(err, "create emergency grant")
	}
	return tag.RowsAffected() == 1, nil
}

func (db *DB) EmergencyGrant(ctx context.Context, id string) (*domain.EmergencyGrant, error) {
	g, err := scanEmergencyGrant(db.pool.QueryRow(ctx, `SELECT `+emergencyColumns+emergencyFrom+` WHERE g.id = $1`, id))
	return g, mapErr(err, "read emergency grant")
}

func (db *DB) ActiveEmergencyGrant(ctx context.Context, userID, patientID string, t time.Time) (*domain.EmergencyGrant, error) {
	g, err := scanEmergencyGrant(db.pool.QueryRow(ctx, `SELECT `+emergencyColumns+emergencyFrom+`
		WHERE g.user_id = $1 AND g.patient_id = $2 AND g.created_at <= $3 AND g.expires_at > $3
		ORDER BY g.expires_at DESC LIMIT 1`, userID, patientID, t.UTC()))
	return g, mapErr(err, "read active emergency grant")
}

func (db *DB) ListEmergencyGrants(ctx context.Context, f domain.EmergencyFilter) ([]*domain.EmergencyGrant, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.UserID != "" {
		add("g.user_id = $%d", f.UserID)
	}
	if f.PatientID != "" {
		add("g.patient_id = $%d", f.PatientID)
	}
	if f.ReviewStatus != "" {
		add("g.review_status = $%d", f.ReviewStatus)
	}
	if !f.Since.IsZero() {
		add("g.created_at >= $%d", f.Since.UTC())
	}
	q := `SELECT ` + emergencyColumns + emergencyFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	q += fmt.Sprintf(" ORDER BY g.created_at DESC, g.id DESC LIMIT $%d", len(args))
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "list emergency grants")
	}
	defer rows.Close()
	out := []*domain.EmergencyGrant{}
	for rows.Next() {
		g, err := scanEmergencyGrant(rows)
		if err != nil {
			return nil, mapErr(err, "list emergency grants")
		}
		out = append(out, g)
	}
	return out, mapErr(rows.Err(), "list emergency grants")
}

func (db *DB) ReviewEmergencyGrant(ctx context.Context, id, status, note, reviewerID string, at time.Time) (*domain.EmergencyGrant, error) {
	err := db.tx(ctx, "review emergency grant", func(tx pgx.Tx) error {
		var current string
		if err := tx.QueryRow(ctx, `SELECT review_status FROM emergency_grants WHERE id = $1 FOR UPDATE`, id).Scan(&current); err != nil {
			return err
		}
		if current != domain.ReviewPending {
			return domain.Errorf(domain.ECONFLICT, "This use of emergency access has already been reviewed.")
		}
		_, err := tx.Exec(ctx, `UPDATE emergency_grants SET review_status = $1, review_note = $2, reviewed_by = $3, reviewed_at = $4
			WHERE id = $5`, status, note, reviewerID, at.UTC(), id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return db.EmergencyGrant(ctx, id)
}

func (db *DB) SetPrivacyOfficer(ctx context.Context, userID string, on bool, at time.Time) error {
	if !on {
		_, err := db.pool.Exec(ctx, `DELETE FROM privacy_officers WHERE user_id = $1`, userID)
		return mapErr(err, "remove privacy officer")
	}
	tag, err := db.pool.Exec(ctx, `INSERT INTO privacy_officers (user_id, granted_at) SELECT id, $2 FROM users WHERE id = $1
		ON CONFLICT (user_id) DO NOTHING`, userID, at.UTC())
	if err != nil {
		return mapErr(err, "add privacy officer")
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, userID).Scan(&exists); err != nil {
			return mapErr(err, "read account")
		}
		if !exists {
			return &domain.Error{Code: domain.ENOTFOUND, Message: "Not found."}
		}
	}
	return nil
}

func (db *DB) PrivacyOfficers(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT user_id FROM privacy_officers ORDER BY user_id`)
	if err != nil {
		return nil, mapErr(err, "list privacy officers")
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, mapErr(err, "list privacy officers")
		}
		out = append(out, id)
	}
	return out, mapErr(rows.Err(), "list privacy officers")
}
