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

	"github.com/healthhub/healthhub/backend/sync/node"
)

const syncUsage = `usage: healthhubd sync status|run|resync|enroll
  sync status                 this installation's sync with its upstream (--json for JSON)
  sync run                    sync once now; exit status 1 when the round fails
  sync resync                 pull everything again from the upstream's first change
  sync enroll --upstream URL --code CODE [--fingerprint SHA256] [--name NAME]
                              enrol with an upstream using the one-time code its admin made
                              (--fingerprint pins a clinic server's own certificate authority)`

// runSync is "healthhubd sync …".
func runSync(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &ExitError{Code: 2, Err: errors.New(syncUsage)}
	}
	var asJSON bool
	var in node.EnrollOptions
	extra := func(fs *flag.FlagSet) {
		switch args[0] {
		case "status":
			fs.BoolVar(&asJSON, "json", false, "print the status as JSON")
		case "enroll":
			fs.StringVar(&in.Upstream, "upstream", "", "the upstream's address, such as https://clinic-server:8443")
			fs.StringVar(&in.Code, "code", "", "the one-time enrolment code made on the upstream")
			fs.StringVar(&in.Fingerprint, "fingerprint", "", "SHA-256 fingerprint of the upstream's certificate authority, to pin it")
			fs.StringVar(&in.Name, "name", "", "this installation's name at the upstream (default: the host name)")
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
	}
	return &ExitError{Code: 2, Err: fmt.Errorf("unknown sync command %q\n%s", args[0], syncUsage)}
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
