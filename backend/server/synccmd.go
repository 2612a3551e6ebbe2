package server

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/sync/node"
)

const syncUsage = `usage: healthhubd sync status|run|resync|enroll|lease|release
  sync status                 this installation's sync with its upstream (--json for JSON)
  sync run                    sync once now; exit status 1 when the round fails
  sync resync                 pull everything again from the upstream's first change
  sync enroll --upstream URL --code CODE [--fingerprint SHA256] [--name NAME]
                              enrol with an upstream using the one-time code its admin made
                              (--fingerprint pins a clinic server's own certificate authority)
  sync lease --doctor ID --from TIME --to TIME [--for DURATION]
                              borrow a block of a doctor's time from the upstream (a slot lease):
                              bookings there are confirmed at once, even offline
  sync release ID             give a lease back to the upstream`

// runSync is "healthhubd sync …".
func runSync(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &ExitError{Code: 2, Err: errors.New(syncUsage)}
	}
	var asJSON bool
	var in node.EnrollOptions
	var lease node.LeaseRequest
	var from, to string
	var hold time.Duration
	extra := func(fs *flag.FlagSet) {
		switch args[0] {
		case "status":
			fs.BoolVar(&asJSON, "json", false, "print the status as JSON")
		case "enroll":
			fs.StringVar(&in.Upstream, "upstream", "", "the upstream's address, such as https://clinic-server:8443")
			fs.StringVar(&in.Code, "code", "", "the one-time enrolment code made on the upstream")
			fs.StringVar(&in.Fingerprint, "fingerprint", "", "SHA-256 fingerprint of the upstream's certificate authority, to pin it")
			fs.StringVar(&in.Name, "name", "", "this installation's name at the upstream (default: the host name)")
		case "lease":
			fs.StringVar(&lease.DoctorID, "doctor", "", "the doctor's id")
			fs.StringVar(&from, "from", "", "start of the block (RFC 3339)")
			fs.StringVar(&to, "to", "", "end of the block (RFC 3339)")
			fs.DurationVar(&hold, "for", 0, "how long to hold it (default: until its end; at most 168h)")
		}
	}
	switch args[0] {
	case "status":
		return withSystem(ctx, "sync status", args[1:], getenv, stderr, extra, func(s *System) error {
			st, err := s.Node.Status(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(stdout, st)
			return nil
		})
	case "run":
		return withSystem(ctx, "sync run", args[1:], getenv, stderr, extra, func(s *System) error {
			err := s.Node.RunOnce(ctx)
			st, serr := s.Node.Status(ctx)
			if serr == nil {
				printStatus(stdout, st)
			}
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			return nil
		})
	case "resync":
		return withSystem(ctx, "sync resync", args[1:], getenv, stderr, extra, func(s *System) error {
			if err := s.Node.Resync(ctx); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "the next sync pulls everything from the upstream again")
			return nil
		})
	case "enroll":
		return withSystem(ctx, "sync enroll", args[1:], getenv, stderr, extra, func(s *System) error {
			st, err := s.Node.Enroll(ctx, in)
			if err != nil {
				return err
			}
			printStatus(stdout, st)
			return nil
		})
	case "lease":
		return withSystem(ctx, "sync lease", args[1:], getenv, stderr, extra, func(s *System) error {
			var err error
			if lease.Start, err = time.Parse(time.RFC3339, from); err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("--from must be an RFC 3339 time such as 2026-12-24T09:00:00+01:00")}
			}
			if lease.End, err = time.Parse(time.RFC3339, to); err != nil {
				return &ExitError{Code: 2, Err: fmt.Errorf("--to must be an RFC 3339 time such as 2026-12-24T13:00:00+01:00")}
			}
			lease.TTL = int64(hold / time.Second)
			l, err := s.Node.RequestLease(cliContext(ctx), lease)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "lease %s: doctor %s from %s to %s, held until %s\n", l.ID, l.DoctorID, l.Start.Local().Format(time.RFC3339),
				l.End.Local().Format(time.RFC3339), l.ExpiresAt.Local().Format(time.RFC3339))
			return nil
		})
	case "release":
		if len(args) < 2 {
			return &ExitError{Code: 2, Err: errors.New("usage: healthhubd sync release LEASE-ID")}
		}
		id := args[1]
		return withSystem(ctx, "sync release", args[2:], getenv, stderr, extra, func(s *System) error {
			if _, err := s.Node.ReleaseLease(cliContext(ctx), id); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "lease %s given back\n", id)
			return nil
		})
	}
	return &ExitError{Code: 2, Err: fmt.Errorf("unknown sync command %q\n%s", args[0], syncUsage)}
}

// cliContext is the command line's principal and request data, for the
// audit log.
func cliContext(ctx context.Context) context.Context {
	return domain.WithPrincipal(domain.WithRequestMeta(ctx, domain.RequestMeta{SourceIP: "local", UserAgent: "healthhubd cli"}), domain.System)
}

func printStatus(w io.Writer, st *node.Status) {
	when := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format(time.RFC3339)
	}
	if !st.Enrolled {
		fmt.Fprintln(w, "not enrolled with an upstream (healthhubd sync enroll)")
		return
	}
	fmt.Fprintf(w, "upstream:        %s (this node: %s)\n", st.Upstream, st.NodeID)
	fmt.Fprintf(w, "state:           %s\n", st.State)
	fmt.Fprintf(w, "last success:    %s\n", when(st.LastSuccess))
	fmt.Fprintf(w, "last attempt:    %s\n", when(st.LastAttempt))
	if st.LastError != "" {
		fmt.Fprintf(w, "last error:      %s\n", strings.TrimSpace(st.LastError))
	}
	fmt.Fprintf(w, "queued changes:  %d", st.Queued)
	if st.Queued > 0 {
		fmt.Fprintf(w, " (oldest %s)", when(st.OldestQueued))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "open conflicts:  %d\n", st.OpenConflicts)
	fmt.Fprintf(w, "audit shipped:   %d of %d events\n", st.AuditShipped, st.AuditLocal)
}
