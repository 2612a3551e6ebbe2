package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/healthhub/healthhub/backend/domain"
)

// A write transaction that SQLite answers busy is rolled back and run again;
// one that stays busy gives up as unavailable; other errors end it at once.
func TestTxRunsAgainWhileBusy(t *testing.T) {
	cases := []struct {
		name      string
		busyFor   int // attempts refused busy
		fail      error
		wantCalls int
		wantCode  string
	}{
		{name: "busy once", busyFor: 1, wantCalls: 2},
		{name: "busy throughout", busyFor: 99, wantCalls: 3, wantCode: domain.EUNAVAILABLE},
		{name: "not busy", fail: domain.Errorf(domain.ECONFLICT, "taken"), wantCalls: 1, wantCode: domain.ECONFLICT},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(filepath.Join(t.TempDir(), "healthhub.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			// The file opened again, as by another process, without waiting
			// for the write lock.
			other, err := sql.Open("sqlite", "file:"+db.path+"?_pragma=busy_timeout(0)&_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })

			calls := 0
			err = db.tx(ctx, func(tx *sql.Tx) error {
				calls++
				if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('attempt', ?)`, strconv.Itoa(calls)); err != nil {
					return err
				}
				if calls <= c.busyFor {
					// This transaction holds the write lock, so the other
					// side is refused: the answer this side gets when the
					// other holds it past the busy timeout.
					otx, err := other.BeginTx(ctx, nil)
					if err == nil {
						otx.Rollback()
						t.Fatal("a second writer began while the first held the lock")
					}
					return mapErr(err, "begin")
				}
				return c.fail
			})
			if calls != c.wantCalls {
				t.Errorf("fn ran %d times, want %d", calls, c.wantCalls)
			}
			if got := domain.ErrorCode(err); got != c.wantCode {
				t.Fatalf("err = %v (code %q), want code %q", err, got, c.wantCode)
			}
			var rows []string
			r, err := db.reader.QueryContext(ctx, `SELECT value FROM settings WHERE key = 'attempt'`)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for r.Next() {
				var v string
				if err := r.Scan(&v); err != nil {
					t.Fatal(err)
				}
				rows = append(rows, v)
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			want := "[]" // a refused attempt leaves nothing behind
			if c.wantCode == "" {
				want = "[" + strconv.Itoa(c.wantCalls) + "]" // the last attempt's row, alone
			}
			if got := fmt.Sprint(rows); got != want {
				t.Fatalf("rows written: %s, want %s", got, want)
			}
		})
	}
}
