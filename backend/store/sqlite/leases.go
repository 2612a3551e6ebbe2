package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	sqlite3 "modernc.org/sqlite/lib"
)

// Slot leases (migration 0012). The database refuses an appointment that
// comes to hold time inside another holder's active lease
// ("appointment_leased") and a lease overlapping another active lease of
// the doctor ("lease_overlap"). A lease is active while released_at is '';
// one past its ExpiresAt holds until ExpireSyncLeases releases it.

const leaseColumns = `id, node_id, doctor_id, start_at, end_at, expires_at, created_at, released_at`

func scanLease(row scanner) (*domain.SyncLease, error) {
	var l domain.SyncLease
	var start, end, expires, created, released string
	if err := row.Scan(&l.ID, &l.NodeID, &l.DoctorID, &start, &end, &expires, &created, &released); err != nil {
		return nil, err
	}
	return &l, times(&l.Start, start, &l.End, end, &l.ExpiresAt, expires, &l.CreatedAt, created, &l.ReleasedAt, released)
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
	switch {
	case err == nil:
		return nil
	case strings.Contains(err.Error(), "lease_overlap"):
		return domain.Errorf(domain.ECONFLICT, "Another lease holds part of that time of this doctor.")
	case isCode(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
		return domain.Errorf(domain.ENOTFOUND, "The doctor does not exist.")
	case isCode(err, sqlite3.SQLITE_CONSTRAINT_CHECK):
		return domain.Invalid("end", "A lease needs a start and an end after it.")
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
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sync_leases (`+leaseColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, '')`,
			l.ID, l.NodeID, l.DoctorID, fmtTime(l.Start), fmtTime(l.End), fmtTime(l.ExpiresAt), fmtTime(l.CreatedAt))
		if err != nil {
			return leaseErr(err, "grant lease")
		}
		return insertSyncChange(ctx, tx, domain.ChangeEntityLease, l.ID, l.CreatedAt)
	})
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
	_, err := db.writer.ExecContext(ctx, `INSERT INTO sync_leases (`+leaseColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET node_id = excluded.node_id, doctor_id = excluded.doctor_id, start_at = excluded.start_at,
			end_at = excluded.end_at, expires_at = excluded.expires_at, created_at = excluded.created_at, released_at = excluded.released_at`,
		l.ID, l.NodeID, l.DoctorID, fmtTime(l.Start), fmtTime(l.End), fmtTime(l.ExpiresAt), fmtTime(l.CreatedAt), fmtTime(l.ReleasedAt))
	return leaseErr(err, "store lease")
}

// ReleaseSyncLease ends the active lease id of holder nodeID at at (now
// when unset) and writes its change.
func (db *DB) ReleaseSyncLease(ctx context.Context, id, nodeID string, at time.Time) error {
	if at.IsZero() {
		at = time.Now().UTC() // released_at set is what ends it
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sync_leases SET released_at = ? WHERE id = ? AND node_id = ? AND released_at = ''`,
			fmtTime(at), id, nodeID)
		if err != nil {
			return mapErr(err, "release lease")
		}
		if err := mustAffect(res, "No active lease of this holder has that id."); err != nil {
			return err
		}
		return insertSyncChange(ctx, tx, domain.ChangeEntityLease, id, at)
	})
}

// ExpireSyncLeases releases, at their expiry, the active leases that
// expire at or before now, writing a change for each.
func (db *DB) ExpireSyncLeases(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := db.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `UPDATE sync_leases SET released_at = expires_at WHERE released_at = '' AND expires_at <= ?
			RETURNING id, expires_at`, fmtTime(now))
		if err != nil {
			return mapErr(err, "expire leases")
		}
		type expired struct {
			id string
			at time.Time
		}
		var done []expired
		for rows.Next() {
			var e expired
			var at string
			if err := rows.Scan(&e.id, &at); err != nil {
				rows.Close()
				return mapErr(err, "expire leases")
			}
			if e.at, err = parseTime(at); err != nil {
				rows.Close()
				return err
			}
			done = append(done, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return mapErr(err, "expire leases")
		}
		for _, e := range done {
			if err := insertSyncChange(ctx, tx, domain.ChangeEntityLease, e.id, e.at); err != nil {
				return err
			}
		}
		n = len(done)
		return nil
	})
	return n, err
}

func (db *DB) SyncLeaseByID(ctx context.Context, id string) (*domain.SyncLease, error) {
	l, err := scanLease(db.reader.QueryRowContext(ctx, `SELECT `+leaseColumns+` FROM sync_leases WHERE id = ?`, id))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No such lease.")
	}
	return l, mapErr(err, "lease")
}

// ListSyncLeases lists leases by start; activeOnly keeps the unreleased.
func (db *DB) ListSyncLeases(ctx context.Context, activeOnly bool, limit int) ([]*domain.SyncLease, error) {
	q := `SELECT ` + leaseColumns + ` FROM sync_leases`
	if activeOnly {
		q += ` WHERE released_at = ''`
	}
	rows, err := db.reader.QueryContext(ctx, q+` ORDER BY start_at, id LIMIT ?`, limitOr(limit, 100))
	if err != nil {
		return nil, mapErr(err, "list leases")
	}
	defer rows.Close()
	out := []*domain.SyncLease{}
	for rows.Next() {
		l, err := scanLease(rows)
		if err != nil {
			return nil, mapErr(err, "scan lease")
		}
		out = append(out, l)
	}
	return out, mapErr(rows.Err(), "list leases")
}

func (db *DB) LeaseCovering(ctx context.Context, nodeID, doctorID string, start, end time.Time) (*domain.SyncLease, error) {
	l, err := scanLease(db.reader.QueryRowContext(ctx, `SELECT `+leaseColumns+` FROM sync_leases
		WHERE doctor_id = ? AND released_at = '' AND node_id = ? AND start_at <= ? AND end_at >= ? ORDER BY start_at LIMIT 1`,
		doctorID, nodeID, fmtTime(start), fmtTime(end)))
	if err == sql.ErrNoRows {
		return nil, domain.Errorf(domain.ENOTFOUND, "No active lease of this holder covers that time.")
	}
	return l, mapErr(err, "lease covering")
}
