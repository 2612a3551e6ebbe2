package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/healthhub/healthhub/backend/backup/replica"
	"github.com/healthhub/healthhub/backend/store"
)

// replicationRounds is how many booking runs of each kind the replication
// scenario makes, alternating (without, with, with, without, …) so that
// a machine that slows down or speeds up during the run weighs on both.
const replicationRounds = 3

// ReplicationRound is one booking run of the replication scenario.
type ReplicationRound struct {
	Replicated bool
	Booked     Stats
	// BehindAtEnd is how far the replica was behind when the load stopped
	// (replicated rounds); CaughtUp how long the last sync then took.
	BehindAtEnd, CaughtUp time.Duration
}

// ReplicationResult compares the booking scenario on SQLite with and
// without continuous replication to a replica folder.
type ReplicationResult struct {
	Rounds []ReplicationRound
	// Without and With are bookings per second over all rounds of each kind.
	Without, With float64
}

// Ratio is the throughput with replication over the one without.
func (r ReplicationResult) Ratio() float64 {
	if r.Without == 0 {
		return 0
	}
	return r.With / r.Without
}

// BenchReplication runs the booking scenario on fresh SQLite databases,
// alternately without and with the database replicated continuously (as
// the server does with HEALTHHUB_REPLICA_DIR) to a folder under
// o.TempDir, and checks after each replicated run that the replica holds
// every transaction.
func BenchReplication(ctx context.Context, e Engine, o Options) (res ReplicationResult, err error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return res, err
	}
	if e.serverURL != "" {
		return res, errors.New("replication is for SQLite installations")
	}
	if err := ensureOpenFiles(uint64(2*o.BookingClients + 256)); err != nil {
		return res, fmt.Errorf("replication: %w", err)
	}
	var okWith, okWithout int64
	var winWith, winWithout time.Duration
	for i := range 2 * replicationRounds {
		replicated := i%4 == 1 || i%4 == 2
		round, err := replicationRound(ctx, e, o, replicated)
		res.Rounds = append(res.Rounds, round)
		if err != nil {
			return res, err
		}
		if replicated {
			okWith, winWith = okWith+round.Booked.OK, winWith+round.Booked.Window
		} else {
			okWithout, winWithout = okWithout+round.Booked.OK, winWithout+round.Booked.Window
		}
	}
	if winWith > 0 && winWithout > 0 {
		res.With, res.Without = float64(okWith)/winWith.Seconds(), float64(okWithout)/winWithout.Seconds()
	}
	return res, nil
}

func replicationRound(ctx context.Context, e Engine, o Options, replicated bool) (round ReplicationRound, err error) {
	round.Replicated = replicated
	db, err := e.fresh(ctx, o.TempDir)
	if err != nil {
		return round, err
	}
	defer func() { err = errors.Join(err, db.Close(ctx)) }()
	var rep *replica.Replicator
	if replicated {
		dir := filepath.Join(db.DataDir, "replica") // a second disk in real use
		if err := os.Mkdir(dir, 0o700); err != nil {
			return round, err
		}
		// Started before the server creates the database, as the server
		// starts it before its first request; it begins once the file is there.
		rep, err = replica.Start(ctx, filepath.Join(db.DataDir, store.SQLiteFile), replica.Config{Dir: dir, Logger: o.logger()})
		if err != nil {
			return round, err
		}
		defer func() { err = errors.Join(err, rep.Close(context.WithoutCancel(ctx))) }()
	}
	bk, err := benchBooking(ctx, db, o)
	round.Booked = bk.Booked
	if err != nil {
		return round, fmt.Errorf("booking (replicated %v): %w", replicated, err)
	}
	if rep == nil {
		return round, nil
	}
	round.BehindAtEnd = rep.Status().Lag
	start := time.Now()
	if err := rep.Sync(ctx); err != nil {
		return round, fmt.Errorf("replicate the last bookings: %w", err)
	}
	round.CaughtUp = time.Since(start)
	if st := rep.Status(); st.TXID != st.LocalTXID || st.Lag != 0 || st.LastError != "" {
		return round, fmt.Errorf("the replica did not catch up: %+v", st)
	}
	return round, nil
}

// runReplication runs the replication scenario on SQLite and reports it.
func runReplication(ctx context.Context, w io.Writer, e Engine, o Options) error {
	if !o.want("replication") || e.serverURL != "" {
		return nil
	}
	rp, err := BenchReplication(ctx, e, o)
	for _, r := range rp.Rounds {
		name := "booking, plain"
		if r.Replicated {
			name = "booking, replica"
		}
		writeRow(w, e.Name, name, "bookings/s", r.Booked)
		if r.Replicated {
			writeNote(w, "", "", "replica behind by %s when the load stopped; caught up in %s", ms(r.BehindAtEnd), ms(r.CaughtUp))
		}
	}
	if err != nil {
		return err
	}
	writeNote(w, e.Name, "replication cost", "%.0f bookings/s without replication, %.0f with (to a folder, every commit within a second): ratio %.3f over %d runs of each, alternated",
		rp.Without, rp.With, rp.Ratio(), replicationRounds)
	return nil
}
