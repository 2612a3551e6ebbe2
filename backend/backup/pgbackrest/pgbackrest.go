// Package pgbackrest drives pgBackRest (the Debian package's pgbackrest
// binary) for a PostgreSQL installation of HealthHub: it writes the
// configuration of one stanza with an encrypted repository, sets the
// server up for WAL archiving, takes full, differential and incremental
// backups, reads the repository's state, and restores to a point in time
// into a new data folder, refusing a target the repository cannot reach
// instead of silently recovering to another point.
package pgbackrest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config says which PostgreSQL cluster is backed up and where to.
type Config struct {
	// Stanza names the cluster in the repository ("healthhub").
	Stanza string
	// ConfigFile is the pgbackrest.conf HealthHub writes (Setup,
	// WriteConfigFile) and passes to every command, the WAL archiving
	// command included. It holds the cipher passphrase, so it is mode 0600
	// and owned by the user PostgreSQL runs as.
	ConfigFile string
	// RepoPath is the repository folder (repo1-path). Put it on another
	// disk than the data folder, or copy it off the machine.
	RepoPath string
	// CipherPass encrypts the repository (aes-256-cbc). Required: losing it
	// loses every backup.
	CipherPass string
	// RetentionFull and RetentionDiff are how many full and differential
	// backups the repository keeps (defaults 2 and 7); WAL older than the
	// oldest kept full backup is expired with it.
	RetentionFull, RetentionDiff int
	// PGData is the cluster's data folder (pg1-path), PGPort its port and
	// PGSocketDir the folder of its Unix socket (default
	// /var/run/postgresql).
	PGData      string
	PGPort      int
	PGSocketDir string
	// PGBinDir holds pg_ctl, psql and pg_waldump; empty means
	// /usr/lib/postgresql/<version>/bin for the repository's PostgreSQL
	// version, else the newest installed.
	PGBinDir string
	// ArchiveTimeout is PostgreSQL's archive_timeout: a WAL segment with
	// any change in it is archived at least this often, which bounds the
	// data a lost disk can take on a quiet day. Default 60s.
	ArchiveTimeout time.Duration
	// RunAs is the operating system user that owns the cluster; when this
	// process runs as root, pgbackrest and the PostgreSQL programs run as
	// that user (through runuser). Default "postgres".
	RunAs string
	// Binary is the pgbackrest program; default "pgbackrest" on PATH.
	Binary string
	// LogPath and LockPath are pgBackRest's log-path and lock-path; empty
	// leaves pgBackRest's defaults (/var/log/pgbackrest, /tmp/pgbackrest).
	LogPath, LockPath string
}

// BackupType is a kind of backup: full, differential (changes since the
// last full) or incremental (changes since the last backup of any kind).
type BackupType string

const (
	Full BackupType = "full"
	Diff BackupType = "diff"
	Incr BackupType = "incr"
)

// ParseBackupType reads full, diff or incr.
func ParseBackupType(s string) (BackupType, error) {
	switch t := BackupType(s); t {
	case Full, Diff, Incr:
		return t, nil
	}
	return "", fmt.Errorf("backup type must be full, diff or incr, not %q", s)
}

// Repo runs pgBackRest for one stanza.
type Repo struct {
	cfg Config
	// asUser is the user commands run as through runuser; "" runs them
	// as this process.
	asUser string
	uid    int
	gid    int
}

// New checks the configuration and fills in its defaults.
func New(cfg Config) (*Repo, error) {
	if cfg.RetentionFull == 0 {
		cfg.RetentionFull = 2
	}
	if cfg.RetentionDiff == 0 {
		cfg.RetentionDiff = 7
	}
	if cfg.ArchiveTimeout == 0 {
		cfg.ArchiveTimeout = time.Minute
	}
	if cfg.RunAs == "" {
		cfg.RunAs = "postgres"
	}
	if cfg.Binary == "" {
		cfg.Binary = "pgbackrest"
	}
	if cfg.PGPort == 0 {
		cfg.PGPort = 5432
	}
	if cfg.PGSocketDir == "" {
		cfg.PGSocketDir = "/var/run/postgresql"
	}
	var problems []string
	if !validStanza(cfg.Stanza) {
		problems = append(problems, fmt.Sprintf("the stanza name %q must be letters, digits, '-' or '_'", cfg.Stanza))
	}
	for _, p := range []struct{ name, path string }{{"configuration file", cfg.ConfigFile}, {"repository path", cfg.RepoPath}, {"PostgreSQL data folder", cfg.PGData}} {
		if !filepath.IsAbs(p.path) {
			problems = append(problems, fmt.Sprintf("the %s must be an absolute path (got %q)", p.name, p.path))
		}
	}
	if cfg.CipherPass == "" {
		problems = append(problems, "a cipher passphrase is required: the repository is encrypted (aes-256-cbc); make one with 'openssl rand -base64 48'")
	} else if len(cfg.CipherPass) < 20 || strings.ContainsAny(cfg.CipherPass, "\r\n\x00") {
		problems = append(problems, "the cipher passphrase must be one line of at least 20 characters")
	}
	for _, v := range []string{cfg.RepoPath, cfg.PGData, cfg.PGSocketDir, cfg.LogPath, cfg.LockPath} {
		if strings.ContainsAny(v, "\r\n'\"") {
			problems = append(problems, fmt.Sprintf("the path %q may not hold quotes or line breaks", v))
		}
	}
	if cfg.RetentionFull < 1 || cfg.RetentionDiff < 1 {
		problems = append(problems, "retention counts must be at least 1")
	}
	if cfg.ArchiveTimeout < time.Second || cfg.ArchiveTimeout > time.Hour {
		problems = append(problems, fmt.Sprintf("archive_timeout must be between 1s and 1h, not %s", cfg.ArchiveTimeout))
	}
	if len(problems) > 0 {
		return nil, errors.New("pgBackRest settings: " + strings.Join(problems, "; "))
	}
	r := &Repo{cfg: cfg, uid: -1, gid: -1}
	if os.Geteuid() == 0 && cfg.RunAs != "root" {
		u, err := user.Lookup(cfg.RunAs)
		if err != nil {
			return nil, fmt.Errorf("the cluster's owner %q: %w", cfg.RunAs, err)
		}
		r.uid, _ = strconv.Atoi(u.Uid)
		r.gid, _ = strconv.Atoi(u.Gid)
		r.asUser = cfg.RunAs
	}
	return r, nil
}

// Config is the configuration with its defaults filled in.
func (r *Repo) Config() Config { return r.cfg }

func validStanza(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ConfigText is the pgbackrest.conf of this configuration.
func (r *Repo) ConfigText() string {
	c := r.cfg
	var b strings.Builder
	b.WriteString("# Written by HealthHub (healthhubd backup setup); it is rewritten whole.\n")
	b.WriteString("# It holds the repository's cipher passphrase: keep it mode 0600.\n[global]\n")
	fmt.Fprintf(&b, "repo1-path=%s\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=%s\n", c.RepoPath, c.CipherPass)
	fmt.Fprintf(&b, "repo1-retention-full=%d\nrepo1-retention-diff=%d\n", c.RetentionFull, c.RetentionDiff)
	b.WriteString("start-fast=y\nlog-level-console=off\nlog-level-stderr=warn\nlog-level-file=info\n")
	if c.LogPath != "" {
		fmt.Fprintf(&b, "log-path=%s\n", c.LogPath)
	}
	if c.LockPath != "" {
		fmt.Fprintf(&b, "lock-path=%s\n", c.LockPath)
	}
	fmt.Fprintf(&b, "\n[%s]\npg1-path=%s\npg1-port=%d\npg1-socket-path=%s\n", c.Stanza, c.PGData, c.PGPort, c.PGSocketDir)
	return b.String()
}

// WriteConfigFile writes ConfigText to Config.ConfigFile (a new file
// renamed over the old, mode 0600, owned by the cluster's owner).
func (r *Repo) WriteConfigFile() error {
	path := r.cfg.ConfigFile
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pgbackrest-*.conf")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(r.ConfigText()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := r.own(tmp.Name()); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// own gives path to the cluster's owner when commands run as that user.
func (r *Repo) own(path string) error {
	if r.uid < 0 {
		return nil
	}
	return os.Chown(path, r.uid, r.gid)
}

// ArchiveCommand is PostgreSQL's archive_command for this stanza.
func (r *Repo) ArchiveCommand() string {
	return fmt.Sprintf("%s --config=%s --stanza=%s archive-push %%p", r.cfg.Binary, r.cfg.ConfigFile, r.cfg.Stanza)
}

// ServerSettings are the postgresql.conf settings WAL archiving to this
// repository needs. archive_mode and wal_level take effect on a restart.
func (r *Repo) ServerSettings() [][2]string {
	return [][2]string{
		{"wal_level", "replica"},
		{"archive_mode", "on"},
		{"archive_command", r.ArchiveCommand()},
		{"archive_timeout", strconv.Itoa(int(r.cfg.ArchiveTimeout / time.Second))},
	}
}

// SetupResult says what Setup did.
type SetupResult struct {
	// Changed are the server settings Setup altered.
	Changed []string
	// RestartNeeded names the settings that wait for a restart of
	// PostgreSQL; until it, archiving is off and the stanza is not
	// created.
	RestartNeeded []string
	// StanzaReady reports that stanza-create and check passed: WAL is
	// archived to the repository.
	StanzaReady bool
}

// Setup writes the configuration file, sets the server settings
// (ALTER SYSTEM as the cluster's owner, then a reload), and when none of
// them waits for a restart, creates the stanza and checks that a WAL
// segment reaches the repository. Run it again after a restart it asks
// for. It is safe to repeat.
func (r *Repo) Setup(ctx context.Context) (SetupResult, error) {
	var res SetupResult
	if err := os.MkdirAll(r.cfg.RepoPath, 0o750); err != nil {
		return res, fmt.Errorf("repository folder: %w", err)
	}
	if err := r.own(r.cfg.RepoPath); err != nil {
		return res, err
	}
	for _, p := range []string{r.cfg.LogPath, r.cfg.LockPath} {
		if p == "" {
			continue
		}
		if err := os.MkdirAll(p, 0o750); err != nil {
			return res, err
		}
		if err := r.own(p); err != nil {
			return res, err
		}
	}
	if err := r.WriteConfigFile(); err != nil {
		return res, fmt.Errorf("write %s: %w", r.cfg.ConfigFile, err)
	}
	for _, s := range r.ServerSettings() {
		cur, err := r.psql(ctx, "SELECT setting FROM pg_settings WHERE name = '"+s[0]+"'")
		if err != nil {
			return res, err
		}
		if cur == s[1] {
			continue
		}
		if _, err := r.psql(ctx, "ALTER SYSTEM SET "+s[0]+" = "+quoteLiteral(s[1])); err != nil {
			return res, err
		}
		res.Changed = append(res.Changed, s[0])
	}
	if _, err := r.psql(ctx, "SELECT pg_reload_conf()"); err != nil {
		return res, err
	}
	// A reload takes a moment to reach pg_settings; pending_restart is
	// read after it.
	pending, err := r.pendingRestart(ctx)
	if err != nil {
		return res, err
	}
	if len(pending) > 0 {
		res.RestartNeeded = pending
		return res, nil
	}
	if _, err := r.run(ctx, "stanza-create"); err != nil {
		return res, err
	}
	if _, err := r.run(ctx, "check"); err != nil {
		return res, err
	}
	res.StanzaReady = true
	return res, nil
}

// pendingRestart names the archiving settings whose new value waits for a
// restart: those pg_settings marks pending_restart, and archive_mode or
// wal_level not yet at their needed value.
func (r *Repo) pendingRestart(ctx context.Context) ([]string, error) {
	var pending []string
	for _, s := range r.ServerSettings()[:2] {
		out, err := r.psql(ctx, "SELECT setting FROM pg_settings WHERE name = '"+s[0]+"'")
		if err != nil {
			return nil, err
		}
		if out != s[1] {
			pending = append(pending, s[0])
		}
	}
	return pending, nil
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// psql runs one statement on the cluster through its socket as its owner
// and returns the single value it prints.
func (r *Repo) psql(ctx context.Context, sql string) (string, error) {
	bin, err := r.binDir("")
	if err != nil {
		return "", err
	}
	out, err := r.exec(ctx, filepath.Join(bin, "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", r.cfg.RunAs, "-h", r.cfg.PGSocketDir,
		"-p", strconv.Itoa(r.cfg.PGPort), "-d", "postgres", "-c", sql)
	if err != nil {
		return "", fmt.Errorf("psql as %s on %s:%d: %w", r.cfg.RunAs, r.cfg.PGSocketDir, r.cfg.PGPort, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Backup takes a backup of the given type (pgBackRest makes the first one
// full whatever the type) and expires what the retention no longer keeps.
// It returns the new backup.
func (r *Repo) Backup(ctx context.Context, typ BackupType) (Backup, error) {
	if _, err := ParseBackupType(string(typ)); err != nil {
		return Backup{}, err
	}
	before, err := r.Info(ctx)
	if err != nil {
		return Backup{}, err
	}
	if _, err := r.run(ctx, "backup", "--type="+string(typ)); err != nil {
		return Backup{}, err
	}
	after, err := r.Info(ctx)
	if err != nil {
		return Backup{}, err
	}
	seen := map[string]bool{}
	for _, b := range before.Backups {
		seen[b.Label] = true
	}
	for i := len(after.Backups) - 1; i >= 0; i-- {
		if !seen[after.Backups[i].Label] {
			return after.Backups[i], nil
		}
	}
	return Backup{}, errors.New("pgbackrest backup succeeded but the repository lists no new backup")
}

// Check runs pgbackrest check: it switches the server to a new WAL
// segment and waits until the finished one is in the repository, so
// everything committed before the call is archived when it returns.
func (r *Repo) Check(ctx context.Context) error {
	_, err := r.run(ctx, "check")
	return err
}

// Info reads the stanza's state from the repository.
func (r *Repo) Info(ctx context.Context) (Info, error) {
	out, err := r.run(ctx, "info", "--output=json")
	if err != nil {
		return Info{}, err
	}
	return ParseInfo(out, r.cfg.Stanza)
}

// ArchiveEnd is the newest point the archive can recover to by time: the
// commit or abort time of the last transaction in the archived WAL. It
// fetches the newest archived segments (pgbackrest archive-get) into a
// scratch folder and reads them with pg_waldump, going back segment by
// segment until one holds a transaction end, at most back to the start
// of the oldest backup. PostgreSQL stops a time recovery at the first
// transaction ending after the target, so a target at or after this time
// cannot be reached from the archive.
func (r *Repo) ArchiveEnd(ctx context.Context, info Info) (time.Time, error) {
	arch, ok := info.Archive()
	if !ok {
		return time.Time{}, errors.New("no WAL has been archived")
	}
	bin, err := r.binDir(info.PGVersion)
	if err != nil {
		return time.Time{}, err
	}
	scratch, err := os.MkdirTemp("", "healthhub-wal-")
	if err != nil {
		return time.Time{}, err
	}
	defer os.RemoveAll(scratch)
	if err := r.own(scratch); err != nil {
		return time.Time{}, err
	}
	floor := arch.Min
	if b, ok := info.Oldest(); ok && b.WALStart > floor && b.WALStart[:8] == arch.Max[:8] {
		floor = b.WALStart
	}
	const segSize = 16 << 20 // pgBackRest and initdb's default; a gap only ends the walk early
	seg := arch.Max
	for tries := 0; tries < 256; tries++ {
		dest := filepath.Join(scratch, seg)
		if _, err := r.run(ctx, "archive-get", seg, dest); err == nil {
			out, _ := r.execEnv(ctx, []string{"TZ=UTC"}, filepath.Join(bin, "pg_waldump"), dest)
			os.Remove(dest)
			if t, ok := lastTransactionEnd(out); ok {
				return t, nil
			}
		} else if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		if seg <= floor {
			break
		}
		if seg, err = previousSegment(seg, segSize); err != nil {
			break
		}
	}
	return time.Time{}, fmt.Errorf("no transaction ends in the archived WAL from %s to %s", floor, arch.Max)
}

// binDir is the folder of the PostgreSQL programs for major version
// version ("" for any).
func (r *Repo) binDir(version string) (string, error) {
	if r.cfg.PGBinDir != "" {
		return r.cfg.PGBinDir, nil
	}
	if version != "" {
		d := filepath.Join("/usr/lib/postgresql", version, "bin")
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return FindPostgresBin()
}

// FindPostgresBin is the newest /usr/lib/postgresql/*/bin holding pg_ctl,
// else the folder of pg_ctl on PATH.
func FindPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL programs (pg_ctl) in /usr/lib/postgresql/*/bin or on PATH")
}

// run runs a pgbackrest command for the stanza.
func (r *Repo) run(ctx context.Context, command string, args ...string) ([]byte, error) {
	full := append([]string{"--config=" + r.cfg.ConfigFile, "--stanza=" + r.cfg.Stanza, command}, args...)
	out, err := r.exec(ctx, r.cfg.Binary, full...)
	if err != nil {
		return out, fmt.Errorf("pgbackrest %s: %w", command, err)
	}
	return out, nil
}

func (r *Repo) exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	return r.execEnv(ctx, nil, name, args...)
}

// execEnv runs a program as the cluster's owner with a clean PostgreSQL and
// pgBackRest environment and returns its standard output; a failure's
// error carries the end of its standard error.
func (r *Repo) execEnv(ctx context.Context, extra []string, name string, args ...string) ([]byte, error) {
	var cmd *exec.Cmd
	if r.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", r.asUser, "--", name}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") || strings.HasPrefix(kv, "TZ=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(append(env, "LC_ALL=C"), extra...)
	cmd.Dir = os.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if len(msg) > 2000 {
			msg = "…" + msg[len(msg)-2000:]
		}
		if errors.Is(err, exec.ErrNotFound) {
			return stdout.Bytes(), fmt.Errorf("%s is not installed (apt-get install pgbackrest): %w", name, err)
		}
		return stdout.Bytes(), fmt.Errorf("%w: %s", err, msg)
	}
	return stdout.Bytes(), nil
}
