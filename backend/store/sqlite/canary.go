package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// The backup canary (migration 0015), in microseconds since the Unix epoch.

func (db *DB) WriteCanary(ctx context.Context, t, keepAfter time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO backup_canary (written_at_us) VALUES (?)`, t.UnixMicro()); err != nil {
			return mapErr(err, "write canary")
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM backup_canary WHERE written_at_us < ?`, keepAfter.UnixMicro())
		return mapErr(err, "prune canaries")
	})
}

func (db *DB) NewestCanary(ctx context.Context) (time.Time, bool, error) {
	var us sql.NullInt64
	if err := db.reader.QueryRowContext(ctx, `SELECT max(written_at_us) FROM backup_canary`).Scan(&us); err != nil {
		return time.Time{}, false, mapErr(err, "read canary")
	}
	if !us.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMicro(us.Int64).UTC(), true, nil
}
