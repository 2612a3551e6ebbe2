package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/internal/haproxystat"
	"github.com/healthhub/healthhub/backend/internal/proccpu"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/server"
)

// The replicas scenario: the hosted shape, healthhubd replicas in
// processes of their own behind HAProxy on one PostgreSQL database. Three
// replicas run throughout; HAProxy has two front ends, one whose back end
// is the first replica alone and one that spreads requests round robin
// over all three. Clients read a patient's appointment list through each
// in turn (interleaved repetitions, so drift in the machine hits both), a
// read that checks the session, decides access and records the read in
// the audit log. The figures are reads a second, p50 and p99, and the CPU
// each read cost: the replica processes' together and HAProxy's, from
// /proc/PID/stat.
//
// The replicas are a healthhubd binary: HEALTHHUB_SERVER_BINARY, or one
// built with `go build` for the run. Without HAProxy (apt-get install
// haproxy) the scenario is skipped, except in CI (CI=true), where it fails.

const (
	// replicaCount is the replicas of the wide shape.
	replicaCount = 3
	// replicaRounds is how many times each shape is measured.
	replicaRounds = 3
	// replicaAppointments is how long the patient's list is.
	replicaAppointments = 20
)

// ReplicasRow is one measurement of one shape.
type ReplicasRow struct {
	Replicas int
	Stats
	// ReplicaCPU and BalancerCPU are CPU time per successful read, warm-up
	// included, of the replica processes together and of HAProxy; zero
	// where /proc cannot be read.
	ReplicaCPU, BalancerCPU time.Duration
}

// ReplicasResult is the replicas scenario's outcome.
type ReplicasResult struct {
	// Skipped says why the scenario did not run; empty when it ran.
	Skipped string
	// Binary is the healthhubd the replicas ran, and how it was found.
	Binary string
	Rows   []ReplicasRow
}

// BenchReplicas runs the replicas scenario on e, which must be PostgreSQL.
func BenchReplicas(ctx context.Context, e Engine, o Options) (res ReplicasResult, err error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return res, err
	}
	if e.serverURL == "" {
		res.Skipped = "replicas share one PostgreSQL database: set " + EnvBenchDatabaseURL + " or " + EnvTestDatabaseURL
		return res, nil
	}
	haproxy, err := findHAProxy()
	if err != nil {
		if os.Getenv("CI") == "true" {
			return res, fmt.Errorf("replicas: %w", err)
		}
		res.Skipped = err.Error()
		return res, nil
	}
	if err := ensureOpenFiles(uint64(4*o.Clients + 256)); err != nil {
		return res, fmt.Errorf("replicas: %w", err)
	}
	db, err := e.fresh(ctx, o.TempDir)
	if err != nil {
		return res, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer func() {
		if cerr := db.Close(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", e.Name, cerr))
		}
	}()
	if err := benchReplicas(ctx, db, haproxy, o, &res); err != nil {
		return res, fmt.Errorf("%s replicas: %w", e.Name, err)
	}
	return res, nil
}

// findHAProxy looks for haproxy on PATH and in the sbin folders, which a
// user's PATH may lack.
func findHAProxy() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("haproxy is not installed (apt-get install haproxy): the replicas scenario needs it as the load balancer")
}

// replicaProc is one healthhubd process of the scenario.
type replicaProc struct {
	name, addr string
	cmd        *exec.Cmd
	out        *tailBuffer
	exited     chan struct{}
}

func benchReplicas(ctx context.Context, db *database, haproxy string, o Options, res *ReplicasResult) (err error) {
	dir, err := os.MkdirTemp(o.TempDir, "healthhub-replicas-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keyring := filepath.Join(db.DataDir, "keyring.json")
	patientID, email, password, err := seedReplicas(ctx, db, keyring, o)
	if err != nil {
		return err
	}
	bin, how, err := healthhubdBinary(ctx, dir)
	if err != nil {
		return err
	}
	res.Binary = bin + " (" + how + ")"

	var procs []*replicaProc
	defer func() {
		for _, p := range procs {
			p.cmd.Process.Kill()
			<-p.exited
		}
	}()
	for i := range replicaCount {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		dataDir := filepath.Join(dir, fmt.Sprintf("r%d", i+1))
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return err
		}
		p, err := startReplicaProc(ctx, bin, fmt.Sprintf("r%d", i+1), addr, map[string]string{
			"HEALTHHUB_ADDR": addr, "HEALTHHUB_DATABASE_URL": db.URL, "HEALTHHUB_DATA_DIR": dataDir, "HEALTHHUB_KEYRING_FILE": keyring,
			"HEALTHHUB_ARGON2_MEMORY_KIB": "64", "HEALTHHUB_LOG_LEVEL": "error", "HEALTHHUB_KNOWLEDGE_STARTER": "false",
			"HEALTHHUB_TRUSTED_PROXIES": "127.0.0.1/32", "HEALTHHUB_LOGIN_RATE_PER_IP": "-1", "HEALTHHUB_LOGIN_RATE_PER_ACCOUNT": "-1",
		}, o.Log)
		if p != nil {
			procs = append(procs, p)
		}
		if err != nil {
			return err
		}
	}

	lb, err := startBalancer(ctx, haproxy, dir, procs)
	if err != nil {
		return err
	}
	defer lb.stop()

	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: max(o.Clients, 64),
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	h := &harness{client: client, base: "http://" + lb.wide}
	token, err := h.login(ctx, email, password)
	if err != nil {
		return err
	}
	read := func(front string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+front+"/api/v1/appointments?patient_id="+patientID, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		return req, nil
	}
	fronts := map[int]string{1: lb.narrow, replicaCount: lb.wide}
	for _, front := range fronts {
		req, err := read(front)
		if err != nil {
			return err
		}
		if err := getOK(client, req); err != nil {
			return fmt.Errorf("the patient's appointments through haproxy: %w", err)
		}
	}

	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.cmd.Process.Pid
	}
	for round := range replicaRounds {
		order := []int{1, replicaCount}
		if round%2 == 1 {
			order = []int{replicaCount, 1}
		}
		for _, n := range order {
			req, err := read(fronts[n])
			if err != nil {
				return err
			}
			cpu0, ok0 := proccpu.Sum(pids)
			lb0, lbOK0 := proccpu.Sum([]int{lb.cmd.Process.Pid})
			stats, err := load(ctx, o.Clients, o.Warmup, o.Duration, func(ctx context.Context) func() error {
				r := req.Clone(ctx)
				return func() error { return getOK(client, r) }
			})
			if err != nil {
				return err
			}
			cpu1, ok1 := proccpu.Sum(pids)
			lb1, lbOK1 := proccpu.Sum([]int{lb.cmd.Process.Pid})
			row := ReplicasRow{Replicas: n, Stats: stats}
			if stats.Total > 0 && ok0 && ok1 {
				row.ReplicaCPU = (cpu1 - cpu0) / time.Duration(stats.Total)
			}
			if stats.Total > 0 && lbOK0 && lbOK1 {
				row.BalancerCPU = (lb1 - lb0) / time.Duration(stats.Total)
			}
			res.Rows = append(res.Rows, row)
		}
	}
	for _, p := range procs {
		select {
		case <-p.exited:
			return fmt.Errorf("replica %s exited during the run: %s", p.name, p.out)
		default:
		}
	}
	return nil
}

// seedReplicas makes, before any replica starts, a patient with a portal
// account and replicaAppointments appointments, and the keyring the
// replicas share. It returns the patient's id and credentials.
func seedReplicas(ctx context.Context, db *database, keyring string, o Options) (patientID, email, password string, err error) {
	cfg := server.Config{DataDir: db.DataDir, DatabaseURL: db.URL, KeyringFile: keyring, Argon2Memory: 64, LoginPerIP: -1, LoginPerAccount: -1,
		IdleTimeout: 15 * time.Minute, LogLevel: "error", LogFormat: "text", KnowledgeStarter: "false"}
	sys, err := server.Open(ctx, cfg, o.logger(), time.Now)
	if err != nil {
		return "", "", "", fmt.Errorf("open server: %w", err)
	}
	defer func() { err = errors.Join(err, closeSystem(sys)) }()
	sysCtx := domain.WithPrincipal(ctx, domain.System)
	// An admin, so that the replicas do not offer first-run setup.
	if _, err := sys.Auth.CreateUser(sysCtx, auth.NewAccount{Email: "bench.admin@example.org", Password: rand.Text(), Name: "Bench Admin", Role: domain.RoleAdmin}); err != nil {
		return "", "", "", fmt.Errorf("create admin: %w", err)
	}
	doctor, err := sys.Portal.CreateDoctor(sysCtx, portal.NewDoctor{Email: "bench.doctor@example.org", Password: rand.Text(),
		Name: "Bench Doctor", Specialization: "General practice"})
	if err != nil {
		return "", "", "", fmt.Errorf("create doctor: %w", err)
	}
	weekly := make([]domain.WeeklyHours, 0, 7)
	for day := range 7 {
		weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "00:00", End: "23:30"})
	}
	if _, err := sys.Portal.SetAvailability(sysCtx, doctor.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 60, Weekly: weekly}); err != nil {
		return "", "", "", fmt.Errorf("set availability: %w", err)
	}
	email, password = "bench.patient@example.org", rand.Text()
	name, born := "Bench Patient", "1980-01-01"
	p, err := sys.Portal.CreatePatient(sysCtx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &born, Email: &email}, Password: password}, false)
	if err != nil {
		return "", "", "", fmt.Errorf("create patient: %w", err)
	}
	first := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 2).Add(9 * time.Hour)
	for i := range replicaAppointments {
		start := first.AddDate(0, 0, i)
		if _, err := sys.Portal.Book(sysCtx, portal.BookRequest{DoctorID: doctor.ID, PatientID: p.ID, Start: start, End: start.Add(30 * time.Minute), Reason: "benchmark"}, ""); err != nil {
			return "", "", "", fmt.Errorf("book: %w", err)
		}
	}
	return p.ID, email, password, nil
}

// healthhubdBinary is HEALTHHUB_SERVER_BINARY, or healthhubd built into dir
// (from the module this program was run in).
func healthhubdBinary(ctx context.Context, dir string) (bin, how string, err error) {
	if b := os.Getenv("HEALTHHUB_SERVER_BINARY"); b != "" {
		return b, "HEALTHHUB_SERVER_BINARY", nil
	}
	bin = filepath.Join(dir, "healthhubd")
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/healthhub/healthhub/backend/cmd/healthhubd")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("build healthhubd (or set HEALTHHUB_SERVER_BINARY to a built one): %w\n%s", err, out)
	}
	return bin, fmt.Sprintf("built for this run in %s", time.Since(start).Round(100*time.Millisecond)), nil
}

// freeLoopbackAddr is a 127.0.0.1 address with a port that was free a
// moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startReplicaProc runs `healthhubd serve` with vars added to the
// environment and waits until it listens.
func startReplicaProc(ctx context.Context, bin, name, addr string, vars map[string]string, log io.Writer) (*replicaProc, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// What it prints stays in p.out, to explain a failure; its error log
	// also goes to log.
	p := &replicaProc{name: name, addr: addr, cmd: cmd, out: &tailBuffer{max: 8192}, exited: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = p.out
	if log != nil {
		cmd.Stderr = io.MultiWriter(p.out, log)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start replica %s: %w", name, err)
	}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		said := false
		for sc.Scan() {
			p.out.Write(append(sc.Bytes(), '\n'))
			if !said && strings.Contains(sc.Text(), "running at http://"+addr) {
				said = true
				close(listening)
			}
		}
	}()
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	select {
	case <-listening:
		return p, nil
	case <-p.exited:
		return p, fmt.Errorf("replica %s exited while starting: %s", name, p.out)
	case <-time.After(2 * time.Minute):
		return p, fmt.Errorf("replica %s did not start within 2 minutes: %s", name, p.out)
	case <-ctx.Done():
		return p, ctx.Err()
	}
}

// balancer is HAProxy with two front ends: narrow, to the first replica
// alone, and wide, round robin over all of them.
type balancer struct {
	cmd          *exec.Cmd
	exited       chan struct{}
	out          *tailBuffer
	narrow, wide string
	sock         string
}

func (b *balancer) stop() {
	b.cmd.Process.Kill()
	<-b.exited
}

// startBalancer runs HAProxy in the foreground, configured as the replica
// tests configure it (health checks on /readyz, X-Forwarded-For), and waits
// until it marks every replica up.
func startBalancer(ctx context.Context, haproxy, dir string, procs []*replicaProc) (*balancer, error) {
	b := &balancer{sock: filepath.Join(dir, "haproxy.sock"), out: &tailBuffer{max: 4096}, exited: make(chan struct{})}
	var err error
	if b.narrow, err = freeLoopbackAddr(); err != nil {
		return nil, err
	}
	if b.wide, err = freeLoopbackAddr(); err != nil {
		return nil, err
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `global
    maxconn 8000
    stats socket %s mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    retries 3
    option redispatch 1
    option forwardfor
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2

frontend narrow
    bind %s
    default_backend one

frontend wide
    bind %s
    default_backend all

backend one
    server %s %s check
`, b.sock, b.narrow, b.wide, procs[0].name, procs[0].addr)
	cfg.WriteString("\nbackend all\n    balance roundrobin\n")
	for _, p := range procs {
		fmt.Fprintf(&cfg, "    server %s %s check\n", p.name, p.addr)
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, haproxy, "-c", "-q", "-f", path).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("haproxy refuses the configuration: %w\n%s", err, out)
	}
	b.cmd = exec.Command(haproxy, "-db", "-f", path)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start haproxy: %w", err)
	}
	go func() {
		b.cmd.Wait()
		close(b.exited)
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		up, err := b.allUp(len(procs) + 1)
		if err == nil && up {
			return b, nil
		}
		select {
		case <-b.exited:
			return nil, fmt.Errorf("haproxy exited: %s", b.out)
		case <-ctx.Done():
			b.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.stop()
			return nil, fmt.Errorf("haproxy did not mark the replicas up within a minute (%v): %s", err, b.out)
		}
	}
}

// allUp reports whether HAProxy's stats show want servers in its two
// backends, all UP.
func (b *balancer) allUp(want int) (bool, error) {
	up := 0
	for _, backend := range []string{"one", "all"} {
		states, err := haproxystat.States(b.sock, backend)
		if err != nil {
			return false, err
		}
		for _, st := range states {
			if st != "UP" {
				return false, nil
			}
			up++
		}
	}
	return up == want, nil
}

// writeReplicas reports the replicas scenario: each measurement, then
// each shape's median with the spread over its rounds.
func writeReplicas(w io.Writer, engine string, r ReplicasResult) {
	if r.Skipped != "" {
		writeNote(w, engine, "replicas", "skipped: %s", r.Skipped)
		return
	}
	if len(r.Rows) == 0 {
		return
	}
	writeNote(w, engine, "replicas", "GET /api/v1/appointments?patient_id= (session, access check, audit record) through haproxy; replicas: %s", r.Binary)
	for i, row := range r.Rows {
		writeRow(w, engine, fmt.Sprintf("replicas=%d #%d", row.Replicas, i/2+1), "req/s", row.Stats)
		writeNote(w, "", "", "CPU per read: replicas %s, haproxy %s", us(row.ReplicaCPU), us(row.BalancerCPU))
	}
	for _, n := range []int{1, replicaCount} {
		var rates []float64
		var p99s, cpus []time.Duration
		for _, row := range r.Rows {
			if row.Replicas == n {
				rates = append(rates, row.Rate())
				p99s = append(p99s, row.P99)
				cpus = append(cpus, row.ReplicaCPU)
			}
		}
		slices.Sort(rates)
		slices.Sort(p99s)
		slices.Sort(cpus)
		writeNote(w, engine, fmt.Sprintf("replicas=%d", n), "median %.0f req/s (spread %.0f–%.0f), p99 median %s (spread %s–%s), replica CPU per read median %s",
			rates[len(rates)/2], rates[0], rates[len(rates)-1], ms(p99s[len(p99s)/2]), ms(p99s[0]), ms(p99s[len(p99s)-1]), us(cpus[len(cpus)/2]))
	}
	writeNote(w, engine, "replicas", "this machine has %d CPUs: %d replicas sharing them measure what the shape costs (balancing, sessions and limits in the database, cross-replica events), not what it scales to", runtime.NumCPU(), replicaCount)
}

// us formats a CPU time in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }
