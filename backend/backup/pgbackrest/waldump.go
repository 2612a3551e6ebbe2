package pgbackrest

import (
	"bufio"
	"bytes"
	"regexp"
	"time"
)

// transactionEnd matches the record of a transaction's end in pg_waldump's
// output, run with TZ=UTC:
//
//	rmgr: Transaction len (rec/tot): 34/34, tx: 735, lsn: 0/03000108, prev 0/030000D0, desc: COMMIT 2026-12-07 19:51:02.123456 UTC
//
// Commits and aborts (prepared or not) are the records that carry a time,
// and the only ones recovery_target_time stops at.
var transactionEnd = regexp.MustCompile(`^rmgr: Transaction .*desc: (?:COMMIT|ABORT|COMMIT_PREPARED|ABORT_PREPARED) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})?) UTC`)

// lastTransactionEnd is the time of the last commit or abort record in the
// output of pg_waldump (TZ=UTC), and false when there is none.
func lastTransactionEnd(out []byte) (time.Time, bool) {
	var last time.Time
	found := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		m := transactionEnd.FindSubmatch(sc.Bytes())
		if m == nil {
			continue
		}
		t, err := time.Parse("2006-01-02 15:04:05.999999999", string(m[1]))
		if err != nil {
			continue
		}
		if !found || t.After(last) {
			last, found = t.UTC(), true
		}
	}
	return last, found
}
