package drill

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/healthhub/healthhub/backend/store"
	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the SQLite driver, for the restored file
)

// inspect reads the restored database's size, integrity and row counts.
func inspect(ctx context.Context, r *Restored) (size int64, integrity string, rows map[string]int64, err error) {
	if store.IsPostgres(r.DatabaseURL) {
		return inspectPostgres(ctx, r.DatabaseURL)
	}
	return inspectSQLite(ctx, filepath.Join(r.DataDir, store.SQLiteFile))
}

func inspectSQLite(ctx context.Context, path string) (int64, string, map[string]int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, "", nil, fmt.Errorf("the restored copy has no database: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, "", nil, err
	}
	defer db.Close()
	var problems []string
	qr, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fi.Size(), "", nil, err
	}
	for qr.Next() {
		var line string
		if err := qr.Scan(&line); err != nil {
			qr.Close()
			return fi.Size(), "", nil, err
		}
		problems = append(problems, line)
	}
	qr.Close()
	integrity := strings.Join(problems, "; ")
	tables, err := names(ctx, db, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return fi.Size(), integrity, nil, err
	}
	rows := make(map[string]int64, len(tables))
	for _, t := range tables {
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM "`+strings.ReplaceAll(t, `"`, `""`)+`"`).Scan(&n); err != nil {
			return fi.Size(), integrity, rows, fmt.Errorf("count %s: %w", t, err)
		}
		rows[t] = n
	}
	return fi.Size(), integrity, rows, nil
}

func names(ctx context.Context, db *sql.DB, query string) ([]string, error) {
	qr, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer qr.Close()
	var out []string
	for qr.Next() {
		var n string
		if err := qr.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, qr.Err()
}

// inspectPostgres counts every table of the schema in force and reads
// every row of each (count(*) scans the heap, so a damaged page is an
// error); PostgreSQL has no integrity_check, and amcheck is an extension
// the clinic's server may not have.
func inspectPostgres(ctx context.Context, url string) (int64, string, map[string]int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, "", nil, err
	}
	defer conn.Close(ctx)
	var size int64
	if err := conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&size); err != nil {
		return 0, "", nil, err
	}
	qr, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return size, "", nil, err
	}
	tables, err := pgx.CollectRows(qr, pgx.RowTo[string])
	if err != nil {
		return size, "", nil, err
	}
	rows := make(map[string]int64, len(tables))
	for _, t := range tables {
		var n int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
			return size, fmt.Sprintf("table %s cannot be read: %v", t, err), rows, nil
		}
		rows[t] = n
	}
	return size, "ok", rows, nil
}
