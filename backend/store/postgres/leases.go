package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Slot leases (migration 0012). The database refuses an appointment that
// comes to hold time inside another holder's active lease
// ("appointment_leased") and a lease overlapping another active lease of
// the doctor ("lease_overlap"); the triggers of both tables take the
// doctor's advisory lock first, so a grant and a booking of one doctor
// never pass each other unseen. A lease is active while released_at is
// NULL; one past its ExpiresAt holds until ExpireSyncLeases releases it.

const leaseColumns = `id, node_id, doctor_id, start_at, end_at, expires_at, created_at, released_at`

func scanLease(row pgx.Row) (*domain.SyncLease, error) {
	var l domain.SyncLease
	var released *time.Time
	if err := row.Scan(&l.ID, &l.NodeID, &l.DoctorID, &l.Start, &l.End, &l.ExpiresAt, &l.CreatedAt, &released); err != nil {
		return nil, err
	}
	l.Start, l.End, l.ExpiresAt, l.CreatedAt, l.ReleasedAt = l.Start.UTC(), l.End.UTC(), l.ExpiresAt.UTC(), l.CreatedAt.UTC(), fromNull(released)
	return &l, nil
}

// checkLease refuses a lease the table cannot hold as meant.
func checkLease(l *domain.SyncLease) error {
	switch {
	case l.DoctorID == "":
		return domain.Invalid("doctor_id", "A lease needs its doctor.")
	case l.Start.IsZero() || !l.End.After(l.Start):
		return domain.Invalid("end", "A lease needs a start and an end after it.")
	case l.ExpiresAt.IsZero():
		return domain.Invalid("expires_at", "A lease needs the time it expires.")
	}
	return nil
}

// leaseErr maps the error of a lease write.
func leaseErr(err error, what string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Message == "lease_overlap", strings.Contains(pe.ConstraintName, "lease_overlap"):
			return domain.Errorf(domain.ECONFLICT, "Another lease holds part of that time of this doctor.")
		case pe.Code == "23503":
			return domain.Errorf(domain.ENOTFOUND, "The doctor does not exist.")
		case pe.Code == "23514":
			return domain.Invalid("end", "A lease needs a start and an end after it.")
		}
	}
	return mapErr(err, what)
}

// GrantSyncLease stores l as an active lease (its ReleasedAt is cleared)
// and writes its change, at l.CreatedAt (now when unset).
func (db *DB) GrantSyncLease(ctx context.Context, l *domain.SyncLease) error {
	if err := checkLease(l); err != nil {
		return err
	}
	if l.ID == "" {
		l.ID = newID()
	}
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now().UTC()
	}
	l.ReleasedAt = time.Time{}
	err := inTx(ctx, db.pool, func(tx pgx.Tx) error {
		// The insert's trigger takes the doctor's lock and checks.
		if _, err := tx.Exec(ctx, `INSERT INTO sync_leases (`+leaseColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)`,
			l.ID, l.NodeID, l.DoctorID, l.Start.UTC(), l.End.UTC(), l.ExpiresAt.UTC(), l.CreatedAt.UTC()); err != nil {
			return err
		}
		return insertSyncChange(ctx, tx, domain.ChangeEntityLease, l.ID, l.CreatedAt)
	})
	return leaseErr(err, "grant lease")
}

// PutSyncLease stores or replaces l as the upstream sent it. It writes no
// change: the copy is this installation's record of its upstream's lease,
// not a change of its own for the nodes that sync with it.
func (db *DB) PutSyncLease(ctx context.Context, l *domain.SyncLease) error {
	if err := checkLease(l); err != nil {
		return err
	}
	if l.ID == "" {
		return domain.Invalid("id", "A synced lease needs its id.")
	}
	err := inTx(ctx, db.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sync_leases (`+leaseColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (id) DO UPDATE SET node_id = excluded.node_id, doctor_id = excluded.doctor_id, start_at = excluded.start_at,
				end_at = excluded.end_at, expires_at = excluded.expires_at, created_at = excluded.created_at, released_at = excluded.released_at`,
			l.ID, l.NodeID, l.DoctorID, l.Start.UTC(), l.End.UTC(), l.ExpiresAt.UTC(), l.CreatedAt.UTC(), nullTime(l.ReleasedAt))
		return err
	})
	return leaseErr(err, "store lease")
}

// ReleaseSyncLease ends the active lease id of holder nodeID at at (now
// when unset) and writes its change.
func (db *DB) ReleaseSyncLease(ctx context.Context, id, nodeID string, at time.Time) error {
	if at.IsZero() {
		at = time.Now().UTC() // released_at set is what ends it
	}
	return db.tx(ctx, "release lease", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sync_leases SET released_at = $1 WHERE id = $2 AND node_id = $3 AND released_at IS NULL`,
			at.UTC(), id, nodeID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return domain.Errorf(domain.ENOTFOUND, "No active lease of this holder has that id.")
		}
		return insertSyncChange(ctx, tx, domain.ChangeEntityLease, id, at)
	})
}

// ExpireSyncLeases releases, at their expiry, the active leases that
// expire at or before now, writing a change for each.
func (db *DB) ExpireSyncLeases(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := db.tx(ctx, "expire leases", func(tx pgx.Tx) error {
		n = 0
		tag, err := tx.Exec(ctx, `WITH expired AS (
				UPDATE sync_leases SET released_at = expires_at WHERE released_at IS NULL AND expires_at <= $1 RETURNING id, expires_at)
			INSERT INTO sync_changes (entity, entity_id, changed_at) SELECT $2, id, expires_at FROM expired ORDER BY expires_at, id`,
			now.UTC(), domain.ChangeEntityLease)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		return nil
	})
	return n, err
}

func (db *DB) SyncLeaseByID(ctx context.Context, id string) (*domain.SyncLease, error) {
	l, err := scanLease(db.pool.QueryRow(ctx, `SELECT `+leaseColumns+` FROM sync_leases WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such lease.")
	}
	return l, mapErr(err, "lease")
}

// ListSyncLeases lists leases by start; activeOnly keeps the unreleased.
func (db *DB) ListSyncLeases(ctx context.Context, activeOnly bool, limit int) ([]*domain.SyncLease, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.pool.Query(ctx, `SELECT `+leaseColumns+` FROM sync_leases WHERE NOT $1 OR released_at IS NULL
		ORDER BY start_at, id LIMIT $2`, activeOnly, limit)
	if err != nil {
		return nil, mapErr(err, "list leases")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*domain.SyncLease, error) { return scanLease(r) })
	if out == nil {
		out = []*domain.SyncLease{}
	}
	return out, mapErr(err, "list leases")
}

func (db *DB) LeaseCovering(ctx context.Context, nodeID, doctorID string, start, end time.Time) (*domain.SyncLease, error) {
	l, err := scanLease(db.pool.QueryRow(ctx, `SELECT `+leaseColumns+` FROM sync_leases
		WHERE doctor_id = $1 AND released_at IS NULL AND node_id = $2 AND start_at <= $3 AND end_at >= $4 ORDER BY start_at LIMIT 1`,
		doctorID, nodeID, start.UTC(), end.UTC()))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.ENOTFOUND, "No active lease of this holder covers that time.")
	}
	return l, mapErr(err, "lease covering")
}
