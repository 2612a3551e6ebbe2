package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// The backup canary (migration 0015), in microseconds since the Unix epoch.

func (db *DB) WriteCanary(ctx context.Context, t, keepAfter time.Time) error {
	return db.tx(ctx, "write canary", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO backup_canary (written_at_us) VALUES ($1)`, t.UnixMicro()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM backup_canary WHERE written_at_us < $1`, keepAfter.UnixMicro())
		return err
	})
}

func (db *DB) NewestCanary(ctx context.Context) (time.Time, bool, error) {
	var us *int64
	if err := db.pool.QueryRow(ctx, `SELECT max(written_at_us) FROM backup_canary`).Scan(&us); err != nil {
		return time.Time{}, false, mapErr(err, "read canary")
	}
	if us == nil {
		return time.Time{}, false, nil
	}
	return time.UnixMicro(*us).UTC(), true, nil
}
