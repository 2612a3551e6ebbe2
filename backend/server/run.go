package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/tlsca"
	"github.com/healthhub/healthhub/frontend"
)

// ExitError carries a process exit status other than 1.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

const usage = `healthhubd — the HealthHub server

Usage:
  healthhubd serve            run the server (HTTP API and web UI)
  healthhubd migrate          apply database migrations and exit
  healthhubd user create --email E --role R --password-stdin [--name N]
                   [--specialization S] [--time-zone Z]
                              create an account (roles: patient, doctor, staff, admin);
                              a doctor needs --specialization (time zone: the clinic's)
  healthhubd audit verify     check the audit chain; exit status 0 only when intact
  healthhubd audit export     write the audit log as FHIR R4 AuditEvent NDJSON to stdout
  healthhubd ingest [--visibility staff|everyone] PATH
                              index a folder into the knowledge base now (a running server keeps it in sync)
  healthhubd keys rotate      add a new encryption key and re-seal patient identifiers with it
  healthhubd sync status|run|resync|enroll
                              sync appointments and the audit log with an upstream server
  healthhubd backup keygen|now|list|status
                              encrypted snapshots of a SQLite installation's data folder
  healthhubd restore --identity FILE --into DIR [--to TIME|latest]
                              write a snapshot into a new data folder
  healthhubd drill [--ago 5m] restore into a scratch folder, check the copy, serve it, and
                              measure the recovery point and time against their targets
  healthhubd retention run [--dry-run]
                              apply the retention policy now (purges are audited)
  healthhubd version          print the version

Every command takes the configuration flags; see 'healthhubd serve -h'.
Each flag also has a HEALTHHUB_* environment variable.
`

// Run is the whole command line: main passes the process's arguments,
// environment and streams, and exits with the status Run's error implies.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return &ExitError{Code: 2, Err: errors.New("no command given")}
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return withSystem(ctx, "migrate", rest, getenv, stderr, nil, func(s *System) error {
			fmt.Fprintf(stdout, "%s database is up to date\n", s.Store.Engine())
			return nil
		})
	case "user":
		if len(rest) == 0 || rest[0] != "create" {
			fmt.Fprint(stderr, usage)
			return &ExitError{Code: 2, Err: errors.New("usage: healthhubd user create --email E --role R --password-stdin")}
		}
		return runUserCreate(ctx, rest[1:], getenv, stdin, stdout, stderr)
	case "audit":
		if len(rest) == 0 {
			return &ExitError{Code: 2, Err: errors.New("usage: healthhubd audit verify|export")}
		}
		switch rest[0] {
		case "verify":
			return runAuditVerify(ctx, rest[1:], getenv, stdout, stderr)
		case "export":
			return withSystem(ctx, "audit export", rest[1:], getenv, stderr, nil, func(s *System) error {
				_, err := audit.ExportNDJSON(ctx, s.Store, domain.AuditFilter{}, stdout)
				return err
			})
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("unknown audit command %q; use verify or export", rest[0])}
	case "keys":
		if len(rest) == 0 || rest[0] != "rotate" {
			return &ExitError{Code: 2, Err: errors.New("usage: healthhubd keys rotate")}
		}
		return withSystem(ctx, "keys rotate", rest[1:], getenv, stderr, nil, func(s *System) error {
			id, err := s.Keys.RotateContext(ctx)
			if err != nil {
				return err
			}
			actx := cliContext(ctx)
			n, err := s.Portal.ResealPatients(actx)
			if err != nil {
				return fmt.Errorf("new key %s is active, but re-sealing stopped after %d records (run the command again to finish): %w", id, n, err)
			}
			fmt.Fprintf(stdout, "new key %s is active; re-sealed %d patient records; older keys stay in %s to read backups\n", id, n, s.Config.KeyringFile)
			return nil
		})
	case "sync":
		return runSync(ctx, rest, getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, getenv, stdout, stderr)
	case "restore":
		return runRestore(ctx, rest, getenv, stdout, stderr)
	case "drill":
		return runDrill(ctx, rest, getenv, stdout, stderr)
	case "ingest":
		return runIngest(ctx, rest, getenv, stdout, stderr)
	case "retention":
		return runRetention(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "healthhubd", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &ExitError{Code: 2, Err: fmt.Errorf("unknown command %q", cmd)}
}

// withSystem parses the configuration flags (plus any extra the command
// declares), opens the system, runs fn and closes it.
func withSystem(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer,
	extra func(*flag.FlagSet), fn func(*System) error) error {
	cfg, _, err := parseCommand(name, args, getenv, stderr, extra)
	if err != nil {
		return err
	}
	sys, err := openSystem(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer sys.Close()
	return fn(sys)
}

// parseCommand parses a command's configuration flags plus any extra it
// declares, and returns the configuration and the arguments after the flags.
func parseCommand(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := bindFlags(fs, getenv)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, &ExitError{Code: 2, Err: err}
	}
	cfg, err := load()
	if err != nil {
		return cfg, nil, &ExitError{Code: 2, Err: err}
	}
	return cfg, fs.Args(), nil
}

// openSystem opens the system with the configuration's clock.
func openSystem(ctx context.Context, cfg Config, stderr io.Writer) (*System, error) {
	now := time.Now
	if off := cfg.ClockOffset; off != 0 {
		now = func() time.Time { return time.Now().Add(off) }
	}
	return Open(ctx, cfg, newLogger(cfg, stderr), now)
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return withSystem(ctx, "serve", args, getenv, stderr, nil, func(s *System) error {
		ln, err := net.Listen("tcp", s.Config.Addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w (set HEALTHHUB_ADDR or --addr to another address)", s.Config.Addr, err)
		}
		scheme := "http"
		if s.Config.TLS != "off" {
			tlsConf, fingerprint, err := serverTLS(s.Config)
			if err != nil {
				ln.Close()
				return err
			}
			ln = tls.NewListener(ln, tlsConf)
			scheme = "https"
			if fingerprint != "" {
				fmt.Fprintf(stdout, "HTTPS with this server's own certificate authority (%s).\n"+
					"Its fingerprint (SHA-256), to compare when a desktop app connects for the first time:\n  %s\n",
					filepath.Join(s.Config.DataDir, "tls", tlsca.CAFile), fingerprint)
			}
		}
		base := s.Config.PublicURL
		if base == "" {
			base = scheme + "://" + ln.Addr().String()
		}
		s.Logger.Info("listening", "addr", ln.Addr().String(), "engine", s.Store.Engine(), "data_dir", s.Config.DataDir, "version", Version)
		fmt.Fprintf(stdout, "HealthHub is running at %s\n", base)
		token, err := s.Auth.PrepareSetup(ctx)
		if err != nil {
			ln.Close()
			return err
		}
		if token != "" {
			if frontend.Dist() != nil {
				fmt.Fprintf(stdout, "\nNo admin account exists yet. Create the first one: open %s/setup?token=%s\n", base, token)
			}
			fmt.Fprintf(stdout, "\nTo create the first admin account (this token is valid until the server restarts):\n"+
				"  curl -X POST %s/api/v1/setup -H 'Content-Type: application/json' \\\n"+
				"       -d '{\"token\":\"%s\",\"email\":\"you@clinic.example\",\"name\":\"Your Name\",\"password\":\"…\"}'\n"+
				"  or: healthhubd user create --email you@clinic.example --role admin --password-stdin\n\n",
				base, token)
		}
		return s.Serve(ctx, ln)
	})
}

func runUserCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var email, role, name, specialization, zone *string
	var fromStdin *bool
	return withSystem(ctx, "user create", args, getenv, stderr, func(fs *flag.FlagSet) {
		email = fs.String("email", "", "e-mail address (required)")
		role = fs.String("role", "", "patient, doctor, staff or admin (required)")
		name = fs.String("name", "", "display name (default: the e-mail address)")
		fromStdin = fs.Bool("password-stdin", false, "read the password from the first line of standard input (required)")
		specialization = fs.String("specialization", "", "a doctor's specialization, such as \"General practice\" (required for --role doctor)")
		zone = fs.String("time-zone", "", "a doctor's IANA time zone, such as Europe/Berlin (default: the clinic's)")
	}, func(s *System) error {
		if *email == "" || *role == "" || !*fromStdin {
			return &ExitError{Code: 2, Err: errors.New("user create needs --email, --role and --password-stdin")}
		}
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password from stdin: %w", err)
		}
		password := strings.TrimRight(line, "\r\n")
		n := *name
		if n == "" {
			n = *email
		}
		actx := cliContext(ctx)
		u, err := s.Auth.CreateUser(actx, auth.NewAccount{Email: *email, Password: password, Name: n, Role: domain.Role(*role),
			DoctorProfile: auth.DoctorProfile{Specialization: *specialization, TimeZone: *zone}})
		if err != nil {
			if domain.ErrorCode(err) != domain.EINTERNAL {
				return &ExitError{Code: 1, Err: errors.New(domain.ErrorMessage(err))}
			}
			return err
		}
		fmt.Fprintf(stdout, "created %s account %s (id %s)\n", u.Role, u.Email, u.ID)
		return nil
	})
}

func runAuditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return withSystem(ctx, "audit verify", args, getenv, stderr, nil, func(s *System) error {
		rep, err := audit.Verify(ctx, s.Store)
		if err != nil {
			return err
		}
		// The check is recorded like one over the API, so administrators see when it last ran.
		actx := cliContext(ctx)
		if err := s.Audit.RecordVerify(actx, rep); err != nil {
			return err
		}
		if rep.OK {
			fmt.Fprintf(stdout, "audit chain intact: %d events, head %d %s\n", rep.Events, rep.HeadSeq, rep.HeadHash)
			return nil
		}
		fmt.Fprintf(stdout, "audit chain BROKEN at event %d: %s\n", rep.BrokenAt, rep.Problem)
		return &ExitError{Code: 1, Err: fmt.Errorf("audit chain broken at event %d", rep.BrokenAt)}
	})
}
