package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
)

// The change log (sync_changes) is paged by (xid, seq), the order
// transactions began in, leaving out every row of a transaction not older
// than the oldest one still running (pg_snapshot_xmin): such a row may yet
// be joined by rows of an older transaction that commits later, which a
// cursor past it would skip. So a reader passes a position only once every
// row up to it has committed, and reads each of them.
//
// CompactChanges removes rows, and keeps the horizon: the greatest
// position of a tombstone row it removed. A reader whose position is
// before the horizon may have missed a tombstone, and is told to resync
// (ErrResync).
//
// A pull from the start after a compaction reads rows that are before the
// horizon too (the last rows of entities unchanged since). Its cursors
// carry a floor, "xid.seq~xid.seq": the last position readers could see
// (or the horizon, when further) when that pull began. Every row up to the
// floor had committed then (the horizon too: a compaction removes only
// tombstone rows readers can see), so a tombstone among them that a later
// compaction removes had already been written when the pull read anything
// of its entity (the pull read its state as a tombstone, or never read
// it); only a tombstone row after the floor can be missed, and removing it
// moves the horizon past the floor. So a cursor is stale when the horizon
// is past the greater of its position and its floor. A cursor without a
// floor (handed out before any compaction, or at or after the floor) has
// its position alone.

// changePos is a position in the change log.
type changePos struct {
	xid uint64
	seq int64
}

func (p changePos) less(q changePos) bool { return p.xid < q.xid || p.xid == q.xid && p.seq < q.seq }

func (p changePos) String() string {
	return strconv.FormatUint(p.xid, 10) + "." + strconv.FormatInt(p.seq, 10)
}

func laterPos(p, q changePos) changePos {
	if p.less(q) {
		return q
	}
	return p
}

func parsePos(s string) (changePos, bool) {
	x, q, ok := strings.Cut(s, ".")
	xid, err1 := strconv.ParseUint(x, 10, 64)
	seq, err2 := strconv.ParseInt(q, 10, 64)
	return changePos{xid, seq}, ok && err1 == nil && err2 == nil && seq >= 0
}

// parseChangeCursor reads "xid.seq" or "xid.seq~xid.seq" (with its floor);
// "" is the start.
func parseChangeCursor(s string) (pos, floor changePos, err error) {
	if s == "" {
		return pos, floor, nil
	}
	p, f, tagged := strings.Cut(s, "~")
	pos, ok := parsePos(p)
	if ok && tagged {
		floor, ok = parsePos(f)
	}
	if !ok {
		return pos, floor, domain.Invalid("after", "The cursor is not one this server gave.")
	}
	return pos, floor, nil
}

// Changes returns up to limit changes after the cursor. The horizon is read
// after the rows, in a later snapshot: a compaction that removed a row the
// read missed has moved it by then (it never moves back).
func (db *DB) Changes(ctx context.Context, after string, limit int) ([]domain.Change, error) {
	pos, floor, err := parseChangeCursor(after)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT xid::text, seq, entity, entity_id, changed_at FROM sync_changes
		WHERE (xid, seq) > ($1::text::xid8, $2) AND xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY xid, seq LIMIT $3`, strconv.FormatUint(pos.xid, 10), pos.seq, limit)
	if err != nil {
		return nil, mapErr(err, "changes")
	}
	var at []changePos
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Change, error) {
		var c domain.Change
		var x string
		var p changePos
		if err := r.Scan(&x, &p.seq, &c.Entity, &c.EntityID, &c.At); err != nil {
			return c, err
		}
		if p.xid, err = strconv.ParseUint(x, 10, 64); err != nil {
			return c, err
		}
		c.Cursor = p.String()
		at = append(at, p)
		return c, nil
	})
	if err != nil {
		return nil, mapErr(err, "changes")
	}

	var horizon, end changePos
	var hx, ex string
	err = db.pool.QueryRow(ctx, `SELECT h.xid::text, h.seq, COALESCE(e.xid::text, '0'), COALESCE(e.seq, 0)
		FROM sync_changes_horizon h LEFT JOIN LATERAL (
			SELECT xid, seq FROM sync_changes WHERE xid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY xid DESC, seq DESC LIMIT 1
		) e ON true`).Scan(&hx, &horizon.seq, &ex, &end.seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, nil // never compacted
	}
	if err != nil {
		return nil, mapErr(err, "changes")
	}
	if horizon.xid, err = strconv.ParseUint(hx, 10, 64); err != nil {
		return nil, mapErr(err, "changes")
	}
	if end.xid, err = strconv.ParseUint(ex, 10, 64); err != nil {
		return nil, mapErr(err, "changes")
	}
	if after != "" && laterPos(pos, floor).less(horizon) {
		return nil, domain.ErrResync
	}
	if after == "" {
		floor = laterPos(end, horizon)
	}
	for i, p := range at {
		if p.less(floor) {
			out[i].Cursor = p.String() + "~" + floor.String()
		}
	}
	return out, nil
}

// laterRow is the condition on a change row c that a later row of its
// entity, in cursor order, exists. The statement's snapshot holds only
// committed rows (a compaction writes none), so a row of a transaction
// still running never counts: the row it would supersede stays until it
// has committed.
const laterRow = `EXISTS (SELECT 1 FROM sync_changes l
	WHERE l.entity = c.entity AND l.entity_id = c.entity_id AND (l.xid, l.seq) > (c.xid, c.seq))`

// compactLockID serialises compactions.
const compactLockID = 0x4848_636f_6d70 // "HHcomp"

// CompactChanges removes the rows a later row of the same entity
// supersedes, then the last rows of tombstones changed before keepSince
// that readers can see (older than every running transaction), and moves
// the horizon forward to the greatest position of those, in one
// transaction; compactions take turns on an advisory lock.
//
// Bookings go on meanwhile. Each statement sees the rows committed when it
// began: a row is removed as superseded only for a later committed row,
// which stays (it is the entity's last, or superseded by a later one in
// turn), and a tombstone's row only when, in that same snapshot, it is its
// entity's last and the entity is a tombstone. A transaction that revives
// the entity (or changes it at all) writes a row of its own, which no
// compaction has seen, so the entity always keeps one.
func (db *DB) CompactChanges(ctx context.Context, keepSince time.Time) (int, error) {
	var n int
	err := db.tx(ctx, "compact changes", func(tx pgx.Tx) error {
		n = 0
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, compactLockID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM sync_changes c WHERE `+laterRow)
		if err != nil {
			return err
		}
		var tombstones int
		if err := tx.QueryRow(ctx, `WITH gone AS (
				DELETE FROM sync_changes c
				WHERE c.changed_at < $1 AND c.xid < pg_snapshot_xmin(pg_current_snapshot()) AND NOT `+laterRow+` AND (
					(c.entity = $2 AND EXISTS (SELECT 1 FROM appointments a WHERE a.id = c.entity_id AND a.status IN ($3, $4)))
					OR (c.entity = $5 AND EXISTS (SELECT 1 FROM sync_conflicts k WHERE k.id = c.entity_id AND k.resolved_at IS NOT NULL))
					OR (c.entity = $6 AND EXISTS (SELECT 1 FROM sync_leases l WHERE l.id = c.entity_id AND l.released_at IS NOT NULL)))
				RETURNING c.xid, c.seq
			), newest AS (
				SELECT xid, seq FROM gone ORDER BY xid DESC, seq DESC LIMIT 1
			), moved AS (
				INSERT INTO sync_changes_horizon AS h (xid, seq) SELECT xid, seq FROM newest
				ON CONFLICT (only_row) DO UPDATE SET xid = excluded.xid, seq = excluded.seq
				WHERE (h.xid, h.seq) < (excluded.xid, excluded.seq)
			)
			SELECT count(*) FROM gone`,
			keepSince.UTC(), domain.ChangeEntityAppointment, domain.StatusCancelled, domain.StatusEnteredInError,
			domain.ChangeEntityConflict, domain.ChangeEntityLease).Scan(&tombstones); err != nil {
			return err
		}
		n = int(tag.RowsAffected()) + tombstones
		return nil
	})
	return n, err
}
