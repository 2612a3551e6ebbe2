package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

const emergencyColumns = `g.id, g.user_id, g.user_role, g.patient_id, g.reason, g.details, g.created_at, g.expires_at, g.node_id,
	g.escalated, g.review_status, g.review_note, g.reviewed_by, g.reviewed_at,
	COALESCE(u.name, ''), COALESCE(p.name, '')`

const emergencyFrom = ` FROM emergency_grants g
	LEFT JOIN users u ON u.id = g.user_id
	LEFT JOIN patients p ON p.id = g.patient_id`

func scanEmergencyGrant(row scanner) (*domain.EmergencyGrant, error) {
	var g domain.EmergencyGrant
	var created, expires, reviewed string
	if err := row.Scan(&g.ID, &g.UserID, &g.UserRole, &g.PatientID, &g.Reason, &g.Details, &created, &expires, &g.NodeID,
		&g.Escalated, &g.ReviewStatus, &g.ReviewNote, &g.ReviewedBy, &reviewed, &g.UserName, &g.PatientName); err != nil {
		return nil, err
	}
	return &g, times(&g.CreatedAt, created, &g.ExpiresAt, expires, &g.ReviewedAt, reviewed)
}

func (db *DB) CreateEmergencyGrant(ctx context.Context, g *domain.EmergencyGrant) (bool, error) {
	if g.ID == "" {
		g.ID = newID()
	}
	if g.ReviewStatus == "" {
		g.ReviewStatus = domain.ReviewPending
	}
	var created bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO emergency_grants (id, user_id, user_role, patient_id, reason, details, created_at, expires_at,
			node_id, escalated, review_status, review_note, reviewed_by, reviewed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			g.ID, g.UserID, g.UserRole, g.PatientID, g.Reason, g.Details, fmtTime(g.CreatedAt), fmtTime(g.ExpiresAt), g.NodeID,
			g.Escalated, g.ReviewStatus, g.ReviewNote, g.ReviewedBy, fmtTime(g.ReviewedAt))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		created = n == 1
		return err
	})
	return created, mapErr(err, "create emergency grant")
}

func (db *DB) EmergencyGrant(ctx context.Context, id string) (*domain.EmergencyGrant, error) {
	g, err := scanEmergencyGrant(db.reader.QueryRowContext(ctx, `SELECT `+emergencyColumns+emergencyFrom+` WHERE g.id = ?`, id))
	return g, mapErr(err, "read emergency grant")
}

func (db *DB) ActiveEmergencyGrant(ctx context.Context, userID, patientID string, t time.Time) (*domain.EmergencyGrant, error) {
	at := fmtTime(t)
	g, err := scanEmergencyGrant(db.reader.QueryRowContext(ctx, `SELECT `+emergencyColumns+emergencyFrom+`
		WHERE g.user_id = ? AND g.patient_id = ? AND g.created_at <= ? AND g.expires_at > ?
		ORDER BY g.expires_at DESC LIMIT 1`, userID, patientID, at, at))
	return g, mapErr(err, "read active emergency grant")
}

func (db *DB) ListEmergencyGrants(ctx context.Context, f domain.EmergencyFilter) ([]*domain.EmergencyGrant, error) {
	var where []string
	var args []any
	if f.UserID != "" {
		where, args = append(where, "g.user_id = ?"), append(args, f.UserID)
	}
	if f.PatientID != "" {
		where, args = append(where, "g.patient_id = ?"), append(args, f.PatientID)
	}
	if f.ReviewStatus != "" {
		where, args = append(where, "g.review_status = ?"), append(args, f.ReviewStatus)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "g.created_at >= ?"), append(args, fmtTime(f.Since))
	}
	q := `SELECT ` + emergencyColumns + emergencyFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY g.created_at DESC, g.id DESC LIMIT ?"
	rows, err := db.reader.QueryContext(ctx, q, append(args, limitOr(f.Limit, 100))...)
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
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var current string
		if err := tx.QueryRowContext(ctx, `SELECT review_status FROM emergency_grants WHERE id = ?`, id).Scan(&current); err != nil {
			return err
		}
		if current != domain.ReviewPending {
			return domain.Errorf(domain.ECONFLICT, "This use of emergency access has already been reviewed.")
		}
		_, err := tx.ExecContext(ctx, `UPDATE emergency_grants SET review_status = ?, review_note = ?, reviewed_by = ?, reviewed_at = ?
			WHERE id = ?`, status, note, reviewerID, fmtTime(at), id)
		return err
	})
	if err != nil {
		return nil, mapErr(err, "review emergency grant")
	}
	return db.EmergencyGrant(ctx, id)
}

func (db *DB) SetPrivacyOfficer(ctx context.Context, userID string, on bool, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if !on {
			_, err := tx.ExecContext(ctx, `DELETE FROM privacy_officers WHERE user_id = ?`, userID)
			return mapErr(err, "remove privacy officer")
		}
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, userID).Scan(&exists); err != nil {
			return mapErr(err, "read account")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO privacy_officers (user_id, granted_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`,
			userID, fmtTime(at))
		return mapErr(err, "add privacy officer")
	})
}

func (db *DB) PrivacyOfficers(ctx context.Context) ([]string, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT user_id FROM privacy_officers ORDER BY user_id`)
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
