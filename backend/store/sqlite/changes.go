package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// The change log (sync_changes) is paged by seq: SQLite commits one writer
// at a time, in seq order. CompactChanges removes rows, and keeps the
// horizon: the greatest seq of a tombstone row it removed. A reader whose
// position is before the horizon may have missed a tombstone, and is told
// to resync (ErrResync).
//
// A pull from the start after a compaction reads rows that are before the
// horizon too (the last rows of entities unchanged since). Its cursors
// carry a floor, "seq~floor": the log's end (or the horizon, when further)
// when that pull began. Every row up to the floor was committed then, so a
// tombstone among them that a later compaction removes had already been
// written when the pull read anything of its entity (the pull read its
// state as a tombstone, or never read it); only a tombstone row after the
// floor can be missed, and removing it moves the horizon past the floor.
// So a cursor is stale when the horizon is past the greater of its seq and
// its floor. A cursor without a floor (handed out before any compaction,
// or at or after the floor) has its seq alone.

// parseChangeCursor reads "seq" or "seq~floor"; "" is the start.
func parseChangeCursor(s string) (seq, floor int64, err error) {
	if s == "" {
		return 0, 0, nil
	}
	q, f, tagged := strings.Cut(s, "~")
	seq, err1 := strconv.ParseInt(q, 10, 64)
	var err2 error
	if tagged {
		floor, err2 = strconv.ParseInt(f, 10, 64)
	}
	if err1 != nil || err2 != nil || seq < 0 || floor < 0 {
		return 0, 0, domain.Invalid("after", "The cursor is not one this server gave.")
	}
	return seq, floor, nil
}

// Changes returns up to limit changes after the cursor, in seq order. The
// horizon is read after the rows, in a later snapshot: a compaction that
// removed a row the read missed has moved it by then (it never moves back).
func (db *DB) Changes(ctx context.Context, after string, limit int) ([]domain.Change, error) {
	seq, floor, err := parseChangeCursor(after)
	if err != nil {
		return nil, err
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT seq, entity, entity_id, changed_at FROM sync_changes WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
	if err != nil {
		return nil, mapErr(err, "changes")
	}
	defer rows.Close()
	var out []domain.Change
	var seqs []int64
	for rows.Next() {
		var c domain.Change
		var s int64
		var at string
		if err := rows.Scan(&s, &c.Entity, &c.EntityID, &at); err != nil {
			return nil, mapErr(err, "changes")
		}
		if c.At, err = parseTime(at); err != nil {
			return nil, mapErr(err, "changes")
		}
		c.Cursor = strconv.FormatInt(s, 10)
		out = append(out, c)
		seqs = append(seqs, s)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "changes")
	}
	rows.Close()

	var horizon, end int64
	err = db.reader.QueryRowContext(ctx, `SELECT h.seq, COALESCE((SELECT MAX(seq) FROM sync_changes), 0) FROM sync_changes_horizon h`).
		Scan(&horizon, &end)
	if errors.Is(err, sql.ErrNoRows) {
		return out, nil // never compacted
	}
	if err != nil {
		return nil, mapErr(err, "changes")
	}
	if after != "" && horizon > max(seq, floor) {
		return nil, domain.ErrResync
	}
	if after == "" {
		floor = max(end, horizon)
	}
	for i, s := range seqs {
		if s < floor {
			out[i].Cursor = strconv.FormatInt(s, 10) + "~" + strconv.FormatInt(floor, 10)
		}
	}
	return out, nil
}

// tombstoneRow is the condition on a change row c that its entity is a
// tombstone now: an appointment cancelled or entered in error, a resolved
// conflict, a released lease. Its parameters are tombstoneArgs.
const tombstoneRow = `(
	(c.entity = ? AND EXISTS (SELECT 1 FROM appointments a WHERE a.id = c.entity_id AND a.status IN (?, ?)))
	OR (c.entity = ? AND EXISTS (SELECT 1 FROM sync_conflicts k WHERE k.id = c.entity_id AND k.resolved_at <> ''))
	OR (c.entity = ? AND EXISTS (SELECT 1 FROM sync_leases l WHERE l.id = c.entity_id AND l.released_at <> '')))`

var tombstoneArgs = []any{domain.ChangeEntityAppointment, domain.StatusCancelled, domain.StatusEnteredInError,
	domain.ChangeEntityConflict, domain.ChangeEntityLease}

// laterRow is the condition on a change row c that a later row of its
// entity exists.
const laterRow = `EXISTS (SELECT 1 FROM sync_changes l WHERE l.entity = c.entity AND l.entity_id = c.entity_id AND l.seq > c.seq)`

// CompactChanges removes, in one write transaction (SQLite has one writer
// at a time, so nothing changes under it), the rows a later row of the
// same entity supersedes, then the last rows of tombstones changed before
// keepSince, and moves the horizon forward to the greatest seq of those.
// AUTOINCREMENT never hands out a removed seq again.
func (db *DB) CompactChanges(ctx context.Context, keepSince time.Time) (int, error) {
	var n int
	err := db.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		res, err := tx.ExecContext(ctx, `DELETE FROM sync_changes AS c WHERE `+laterRow)
		if err != nil {
			return mapErr(err, "compact changes")
		}
		superseded, err := res.RowsAffected()
		if err != nil {
			return mapErr(err, "compact changes")
		}
		n = int(superseded)
		tombstones := `FROM sync_changes AS c WHERE c.changed_at < ? AND NOT ` + laterRow + ` AND ` + tombstoneRow
		args := append([]any{fmtTime(keepSince)}, tombstoneArgs...)
		var newest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(c.seq) `+tombstones, args...).Scan(&newest); err != nil {
			return mapErr(err, "compact changes")
		}
		if !newest.Valid {
			return nil
		}
		res, err = tx.ExecContext(ctx, `DELETE `+tombstones, args...)
		if err != nil {
			return mapErr(err, "compact changes")
		}
		gone, err := res.RowsAffected()
		if err != nil {
			return mapErr(err, "compact changes")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sync_changes_horizon (id, seq) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > sync_changes_horizon.seq`, newest.Int64); err != nil {
			return mapErr(err, "compact changes")
		}
		n += int(gone)
		return nil
	})
	return n, err
}
