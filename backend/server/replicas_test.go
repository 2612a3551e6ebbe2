package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/internal/haproxystat"
	"github.com/healthhub/healthhub/backend/live"
	"github.com/healthhub/healthhub/backend/llm/llmtest"
)

// The hosted shape: several stateless healthhubd replicas behind a load
// balancer (HAProxy here) on one PostgreSQL database. These tests run three
// replicas as processes of their own on a PostgreSQL cluster of the test's
// own, put a real HAProxy in front of them and check that the replicas
// behave as one service, also while one of them is killed and while
// PostgreSQL restarts.
//
// The replicas are this test binary started as `healthhubd serve` (see
// TestMain), or, when HEALTHHUB_SERVER_BINARY names a built healthhubd, that
// binary, which is not built with the race detector and so lighter on a
// small machine.

const replicaPassword = "correct horse battery"

// replica is one healthhubd process of the deployment. Its port is fixed
// when it is made, so the load balancer finds it again after a restart.
type replica struct {
	t    *testing.T
	name string
	addr string
	vars map[string]string

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *syncBuffer
	exit chan struct{}
	runs []*syncBuffer // every start's output, for a failing test's log
}

func newReplica(t *testing.T, name string, vars map[string]string) *replica {
	r := &replica{t: t, name: name, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), vars: maps.Clone(vars)}
	r.vars["HEALTHHUB_ADDR"] = r.addr
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			r.mu.Lock()
			for i, out := range r.runs {
				t.Logf("replica %s, run %d, log:\n%s", r.name, i+1, lastBytes(out.String(), 6000))
			}
			r.mu.Unlock()
		}
	})
	return r
}

func (r *replica) url() string { return "http://" + r.addr }

// serverCommand runs `healthhubd serve` with vars added to the environment.
func serverCommand(vars map[string]string) *exec.Cmd {
	if bin := os.Getenv("HEALTHHUB_SERVER_BINARY"); bin != "" {
		cmd := exec.Command(bin, "serve")
		cmd.Env = os.Environ()
		for k, v := range vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		return cmd
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = childEnv(vars)
	return cmd
}

// output is what the replica's current run printed so far.
func (r *replica) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.out == nil {
		return ""
	}
	return r.out.String()
}

// start runs the replica and waits until it listens.
func (r *replica) start() {
	t := r.t
	t.Helper()
	cmd := serverCommand(r.vars)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start replica %s: %v", r.name, err)
	}
	exit := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exit)
	}()
	r.mu.Lock()
	r.cmd, r.out, r.exit = cmd, out, exit
	r.runs = append(r.runs, out)
	r.mu.Unlock()
	want := "running at " + r.url()
	for deadline := time.Now().Add(90 * time.Second); !strings.Contains(out.String(), want); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exit:
			t.Fatalf("replica %s exited while starting:\n%s", r.name, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s did not start within 90 s:\n%s", r.name, out.String())
		}
	}
}

// kill ends the process at once (SIGKILL: no shutdown, requests cut).
func (r *replica) kill() {
	r.mu.Lock()
	cmd, exit := r.cmd, r.exit
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exit
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// haproxyPath finds HAProxy; without it the test fails in CI and is
// skipped elsewhere.
func haproxyPath(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("haproxy is not installed: CI must run the replica tests (apt-get install haproxy)")
	}
	t.Skip("skipping: haproxy is not installed (apt-get install haproxy)")
	return ""
}

// loadBalancer is HAProxy in front of the replicas, in the foreground as a
// child of the test.
type loadBalancer struct {
	t    *testing.T
	addr string
	sock string // stats socket
	out  *syncBuffer
}

func (lb *loadBalancer) url() string { return "http://" + lb.addr }

// haproxyConfig is the load balancer's configuration: round robin over the
// replicas, each checked on /readyz every 500 ms (two failures mark it
// down, two successes up again).
//
// Retries: a request that could not be connected to a replica (it is dead
// and not marked down yet) is always safe to send to another, so every
// method is retried on a connection failure, on another replica (redispatch
// on each retry). A request a replica received and then dropped (empty
// response, or no response in time) is retried only for GET, HEAD and
// OPTIONS: a POST may already have done its work (a booking made, a chat
// message stored, a sign-in counted against the limits), so the client gets
// a 502 and decides; bookings carry an Idempotency-Key, so a client may
// safely send them again.
//
// timeout tunnel keeps WebSocket connections open while they are quiet
// (the servers ping every 30 s); X-Replica names the replica that answered.
func haproxyConfig(addr, sock string, reps []*replica) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 4000
    stats socket %s mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout queue 10s
    timeout tunnel 1h
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend api
    bind %s
    option forwardfor
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    http-request disable-l7-retry if !METH_GET !METH_HEAD !METH_OPTIONS
    http-response set-header X-Replica %%[srv_name]
    default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 2
`, sock, addr)
	for _, r := range reps {
		fmt.Fprintf(&b, "    server %s %s check\n", r.name, r.addr)
	}
	return b.String()
}

// startHAProxy writes the configuration and runs HAProxy until the test
// ends; it returns once HAProxy answers on its stats socket.
func startHAProxy(t *testing.T, bin string, reps []*replica) *loadBalancer {
	t.Helper()
	dir := t.TempDir()
	lb := &loadBalancer{t: t, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), sock: filepath.Join(dir, "haproxy.sock"), out: &syncBuffer{}}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(lb.addr, lb.sock, reps)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-q", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy refuses the configuration: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-db", "-f", cfg)
	cmd.Stdout, cmd.Stderr = lb.out, lb.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("haproxy log:\n%s", lastBytes(lb.out.String(), 6000))
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := lb.states(); err == nil {
			return lb
		}
		select {
		case <-exited:
			t.Fatalf("haproxy exited:\n%s", lb.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not answer on its stats socket within 30 s:\n%s", lb.out.String())
		}
	}
}

// states reads what HAProxy thinks of each replica: UP, DOWN, or a
// transition such as "UP 1/2".
func (lb *loadBalancer) states() (map[string]string, error) {
	return haproxystat.States(lb.sock, "replicas")
}

// waitState polls until HAProxy shows the replica in state, and returns
// when it saw it; it fails the test after the deadline.
func (lb *loadBalancer) waitState(name, state string, within time.Duration) time.Time {
	lb.t.Helper()
	var last map[string]string
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		s, err := lb.states()
		if err == nil && s[name] == state {
			return time.Now()
		}
		last = s
		if time.Now().After(deadline) {
			lb.t.Fatalf("haproxy did not mark %s %s within %v; states %v (err %v)", name, state, within, last, err)
		}
	}
}

// replicaCluster is three replicas behind the load balancer, with the
// first admin made through the first-run setup API.
type replicaCluster struct {
	reps       []*replica
	lb         *loadBalancer
	adminEmail string
	// lastIP numbers the loopback addresses callers connect from, so each
	// simulated person has an address of their own (127.0.0.3 on).
	lastIP atomic.Int32
}

// startReplicaCluster starts three replicas on dbURL sharing one keyring
// (each with a data folder of its own), creates the first admin through
// the setup API of the first, and puts HAProxy in front once all answer.
func startReplicaCluster(t *testing.T, haproxy, dbURL string, extra map[string]string) *replicaCluster {
	t.Helper()
	keyring := filepath.Join(t.TempDir(), "keyring.json")
	cl := &replicaCluster{adminEmail: "admin@clinic.example"}
	for i := range 3 {
		vars := map[string]string{
			"HEALTHHUB_DATA_DIR": t.TempDir(), "HEALTHHUB_DATABASE_URL": dbURL, "HEALTHHUB_KEYRING_FILE": keyring,
			"HEALTHHUB_ARGON2_MEMORY_KIB": "64", "HEALTHHUB_LOG_LEVEL": "warn", "HEALTHHUB_TRUSTED_PROXIES": "127.0.0.1/32",
			"HEALTHHUB_KNOWLEDGE_STARTER": "false",
		}
		maps.Copy(vars, extra)
		cl.reps = append(cl.reps, newReplica(t, fmt.Sprintf("r%d", i+1), vars))
	}
	// The first replica makes the keyring and the schema; it also prints
	// the one-time setup token, which each start replaces while no admin
	// exists, so the admin is made before the others start.
	cl.reps[0].start()
	tokenRE := regexp.MustCompile(`"token":"(hhs_[^"]+)"`)
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil; time.Sleep(20 * time.Millisecond) {
		out := cl.reps[0].output()
		if m = tokenRE.FindStringSubmatch(out); m == nil && time.Now().After(deadline) {
			t.Fatalf("the first replica printed no setup token within 30 s:\n%s", out)
		}
	}
	setup := cl.caller(cl.reps[0].url(), "")
	if a := setup.call("POST", "/api/v1/setup", map[string]string{"token": m[1], "email": cl.adminEmail, "name": "Ada Admin", "password": replicaPassword}); a.status != 201 {
		t.Fatalf("first-run setup: %s", a)
	}
	for _, r := range cl.reps[1:] {
		r.start()
	}
	cl.lb = startHAProxy(t, haproxy, cl.reps)
	for _, r := range cl.reps {
		cl.lb.waitState(r.name, "UP", 30*time.Second)
	}
	return cl
}

// nextIP is a loopback address no other caller of the test uses.
func (cl *replicaCluster) nextIP() string {
	n := cl.lastIP.Add(1)
	return fmt.Sprintf("127.0.%d.%d", n/250, n%250+2)
}

// caller is someone calling the API at base, from an address of their own.
func (cl *replicaCluster) caller(base, token string) *caller {
	return &caller{base: base, token: token, hc: httpFrom(cl.nextIP(), 30*time.Second)}
}

// signIn signs email in at base and returns a caller with the tokens.
func (cl *replicaCluster) signIn(t *testing.T, base, email string) *caller {
	t.Helper()
	c := cl.caller(base, "")
	a := c.call("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": replicaPassword})
	if a.status != 200 {
		t.Fatalf("sign in %s at %s: %s", email, base, a)
	}
	c.setTokens(t, a)
	return c
}

// httpFrom is an HTTP client whose connections leave from the loopback
// address ip; the load balancer passes it on in X-Forwarded-For.
func httpFrom(ip string, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}}
}

type caller struct {
	base    string
	token   string
	refresh string
	userID  string
	hc      *http.Client
}

// answer is one exchange: the status and body, or the transport error
// when there was no answer; replica is the X-Replica header the load
// balancer adds.
type answer struct {
	status  int
	body    []byte
	replica string
	header  http.Header
	err     error
}

func (a answer) String() string {
	if a.err != nil {
		return "no answer: " + a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.status, lastBytes(strings.TrimSpace(string(a.body)), 400))
}

func (a answer) code() string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(a.body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
}

// call sends one request; header holds name, value pairs.
func (c *caller) call(method, path string, in any, header ...string) answer {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return answer{err: err}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return answer{err: err}
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	a := answer{status: res.StatusCode, body: b, replica: res.Header.Get("X-Replica"), header: res.Header, err: err}
	return a
}

// must is call for the test's own set-up: anything but want fails it.
func (c *caller) must(t *testing.T, want int, method, path string, in, out any) answer {
	t.Helper()
	a := c.call(method, path, in)
	if a.status != want || a.err != nil {
		t.Fatalf("%s %s: %s, want %d", method, path, a, want)
	}
	if out != nil {
		a.decode(t, out)
	}
	return a
}

func (c *caller) setTokens(t *testing.T, a answer) {
	t.Helper()
	var pair struct {
		AccessToken  string      `json:"access_token"`
		RefreshToken string      `json:"refresh_token"`
		User         domain.User `json:"user"`
	}
	a.decode(t, &pair)
	if pair.AccessToken == "" {
		t.Fatalf("sign-in answer without an access token: %s", a)
	}
	c.token, c.refresh, c.userID = pair.AccessToken, pair.RefreshToken, pair.User.ID
}

// at is the same person calling another base URL.
func (c *caller) at(base string) *caller {
	d := *c
	d.base = base
	return &d
}

// person is an account the test made.
type person struct {
	email  string
	userID string
	id     string // patient or doctor id
}

// seedClinicThroughAPI makes, as admin, front desk accounts, doctors open
// every day from 00:00 to 23:30 in 30-minute slots for 60 days, and
// patients with portal accounts and e-mail addresses.
func seedClinicThroughAPI(t *testing.T, admin *caller, desks, doctors, patients int) (desk, docs, pats []person) {
	t.Helper()
	for i := range desks {
		var u domain.User
		email := fmt.Sprintf("desk%d@clinic.example", i+1)
		admin.must(t, 201, "POST", "/api/v1/users", map[string]any{"email": email, "password": replicaPassword, "name": fmt.Sprintf("Desk %d", i+1), "role": "staff"}, &u)
		desk = append(desk, person{email: email, userID: u.ID})
	}
	var weekly []domain.WeeklyHours
	for day := range 7 {
		weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "00:00", End: "23:30"})
	}
	for i := range doctors {
		var d domain.Doctor
		email := fmt.Sprintf("dr%d@clinic.example", i+1)
		admin.must(t, 201, "POST", "/api/v1/doctors", map[string]any{"email": email, "password": replicaPassword, "name": fmt.Sprintf("Dr Replica %d", i+1), "specialization": "General practice"}, &d)
		admin.must(t, 200, "PUT", "/api/v1/doctors/"+d.ID+"/availability", domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 60, Weekly: weekly}, nil)
		docs = append(docs, person{email: email, userID: d.UserID, id: d.ID})
	}
	for i := range patients {
		var p domain.Patient
		email := fmt.Sprintf("patient%d@clinic.example", i+1)
		admin.must(t, 201, "POST", "/api/v1/patients", map[string]any{"email": email, "password": replicaPassword, "name": fmt.Sprintf("Pat Replica %d", i+1), "date_of_birth": "1980-01-01"}, &p)
		pats = append(pats, person{email: email, userID: p.UserID, id: p.ID})
	}
	return desk, docs, pats
}

// slotPlan numbers the bookable 30-minute slots from two days ahead on
// (47 a day, 00:00 to 23:00 UTC): far enough ahead that no reminder is
// due. The first day is fixed when the plan is made, so a test that runs
// past midnight keeps its numbering.
type slotPlan struct{ day0 time.Time }

func newSlotPlan() slotPlan {
	return slotPlan{day0: time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 2)}
}

// at is the n-th slot.
func (p slotPlan) at(n int) time.Time {
	return p.day0.AddDate(0, 0, n/47).Add(time.Duration(n%47) * 30 * time.Minute)
}

func bookingBody(doctorID, patientID string, start time.Time) map[string]any {
	return map[string]any{"doctor_id": doctorID, "patient_id": patientID, "start": start.Format(time.RFC3339),
		"end": start.Add(30 * time.Minute).Format(time.RFC3339), "reason": "check-up"}
}

// mailSink is a small SMTP server that keeps what it receives: EHLO/HELO,
// MAIL, RCPT, DATA, RSET, NOOP and QUIT, no extensions.
type mailSink struct {
	addr string
	mu   sync.Mutex
	msgs []sunkMail
}

type sunkMail struct {
	messageID, subject string
	to                 []string
}

func startMailSink(t *testing.T) *mailSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &mailSink{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.session(c) })
		}
	})
	return s
}

func (s *mailSink) session(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(c)
	reply := func(line string) { io.WriteString(c, line+"\r\n") }
	reply("220 sink.test ESMTP")
	var to []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(verb, "EHLO"), strings.HasPrefix(verb, "HELO"):
			reply("250 sink.test")
		case strings.HasPrefix(verb, "MAIL FROM:"):
			to = nil
			reply("250 OK")
		case strings.HasPrefix(verb, "RCPT TO:"):
			to = append(to, strings.Trim(strings.TrimSpace(line[len("RCPT TO:"):]), "<>"))
			reply("250 OK")
		case verb == "DATA":
			reply("354 end with <CR><LF>.<CR><LF>")
			m := sunkMail{to: to}
			headers := true
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				l = strings.TrimRight(l, "\r\n")
				if l == "." {
					break
				}
				if l == "" {
					headers = false
				}
				if !headers {
					continue
				}
				name, value, ok := strings.Cut(l, ":")
				switch {
				case ok && strings.EqualFold(name, "Message-ID"):
					m.messageID = strings.TrimSpace(value)
				case ok && strings.EqualFold(name, "Subject"):
					m.subject = strings.TrimSpace(value)
				}
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			reply("250 OK queued")
		case verb == "RSET":
			to = nil
			reply("250 OK")
		case verb == "NOOP":
			reply("250 OK")
		case verb == "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 command not implemented")
		}
	}
}

// copies counts the messages received for each Message-ID.
func (s *mailSink) copies() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, m := range s.msgs {
		out[m.messageID]++
	}
	return out
}

// appointmentMails counts the distinct appointment e-mails (not the
// welcome e-mails of new portal accounts).
func (s *mailSink) appointmentMails() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[string]bool{}
	for _, m := range s.msgs {
		if !strings.HasPrefix(m.subject, "Welcome") {
			ids[m.messageID] = true
		}
	}
	return len(ids)
}

// liveWatch is a WebSocket client of the live events. It records the
// appointment events it receives, and when its connection began (once the
// server answered a ping, so it is registered) and ended: cut, or told to
// resync because events may have been missed.
type liveWatch struct {
	name string
	mu   sync.Mutex
	got  map[string]time.Time // appointment id → first received
	segs []liveSegment
	// dials counts connection attempts that failed.
	dials int
}

type liveSegment struct {
	replica    string
	start, end time.Time // end zero while open
	ended      string    // "cut" or "resync"
}

// dialLive connects to the live events at base as the token's owner and
// waits until the server answers a ping. hc must have no Timeout: the
// connection outlives the handshake.
func dialLive(ctx context.Context, hc *http.Client, base, token string) (*websocket.Conn, string, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/ws?access_token=" + url.QueryEscape(token)
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return nil, "", err
	}
	c.SetReadLimit(1 << 20)
	replica := res.Header.Get("X-Replica")
	if err := c.Write(dctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		c.CloseNow()
		return nil, "", err
	}
	for {
		_, msg, err := c.Read(dctx)
		if err != nil {
			c.CloseNow()
			return nil, "", err
		}
		var ev struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(msg, &ev) == nil && ev.Type == "pong" {
			return c, replica, nil
		}
	}
}

// run keeps a connection to the live events at base until ctx ends,
// reconnecting when it is cut; token gives the access token to use.
func (w *liveWatch) run(ctx context.Context, hc *http.Client, base string, token func() string) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		c, replica, err := dialLive(ctx, hc, base, token())
		if err != nil {
			w.mu.Lock()
			w.dials++
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		w.mu.Lock()
		w.segs = append(w.segs, liveSegment{replica: replica, start: time.Now()})
		w.mu.Unlock()
		for {
			_, msg, err := c.Read(ctx)
			now := time.Now()
			if err != nil {
				w.mu.Lock()
				w.segs[len(w.segs)-1].end, w.segs[len(w.segs)-1].ended = now, "cut"
				w.mu.Unlock()
				c.CloseNow()
				break
			}
			var ev struct {
				Type string `json:"type"`
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			if json.Unmarshal(msg, &ev) != nil {
				continue
			}
			w.mu.Lock()
			switch {
			case ev.Type == live.TypeResync:
				w.segs[len(w.segs)-1].end, w.segs[len(w.segs)-1].ended = now, "resync"
				w.segs = append(w.segs, liveSegment{replica: replica, start: now})
			case strings.HasPrefix(ev.Type, "appointment.") && ev.Data.ID != "":
				if _, ok := w.got[ev.Data.ID]; !ok {
					w.got[ev.Data.ID] = now
				}
			}
			w.mu.Unlock()
		}
	}
}

// TestReplicasBehaveAsOneService runs three replicas behind HAProxy with no
// faults: a session is good on every replica and ends on every replica the
// moment it is ended on one; sign-in and registration limits and the
// lockout count attempts made through all replicas together; the client's
// address comes through the load balancer; a live client on one replica
// hears of a booking made through another; and each e-mail of the outbox
// goes out exactly once.
func TestReplicasBehaveAsOneService(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the three-replica test in -short mode")
	}
	haproxy := haproxyPath(t)
	pg := startPrivatePostgres(t)
	mail := startMailSink(t)
	const perAccount, perIP, registrationsPerHour = 8, 9, 12
	cl := startReplicaCluster(t, haproxy, pg.URL(), map[string]string{
		"HEALTHHUB_SMTP_ADDR": mail.addr, "HEALTHHUB_SMTP_FROM": "clinic@clinic.example",
		"HEALTHHUB_LOGIN_RATE_PER_ACCOUNT": fmt.Sprint(perAccount), "HEALTHHUB_LOGIN_RATE_PER_IP": fmt.Sprint(perIP),
		"HEALTHHUB_REGISTER_RATE_PER_IP": fmt.Sprint(registrationsPerHour),
	})
	r1, r2, r3 := cl.reps[0], cl.reps[1], cl.reps[2]
	lb := cl.lb.url()
	admin := cl.signIn(t, lb, cl.adminEmail)
	desks, docs, pats := seedClinicThroughAPI(t, admin, 1, 1, 12)
	doctor := docs[0]
	slots := newSlotPlan()
	booked := 0 // slots taken so far

	t.Run("requests through the balancer go round robin", func(t *testing.T) {
		c := cl.caller(lb, "")
		var seen []string
		for range 6 {
			a := c.call("GET", "/healthz", nil)
			if a.status != 200 {
				t.Fatalf("GET /healthz through haproxy: %s", a)
			}
			seen = append(seen, a.replica)
		}
		for i := 1; i < len(seen); i++ {
			if seen[i] == seen[i-1] {
				t.Fatalf("consecutive requests went to the same replica: %v", seen)
			}
		}
		if got := len(uniq(seen)); got != 3 {
			t.Fatalf("six requests reached %d replicas, want 3: %v", got, seen)
		}
	})

	t.Run("a token from one replica works on the others", func(t *testing.T) {
		p := cl.signIn(t, r1.url(), pats[0].email)
		for _, r := range []*replica{r2, r3} {
			var me struct {
				Email string `json:"email"`
			}
			p.at(r.url()).must(t, 200, "GET", "/api/v1/me", nil, &me)
			if me.Email != pats[0].email {
				t.Fatalf("GET /api/v1/me on %s answered for %q", r.name, me.Email)
			}
		}
	})

	// others is every replica but a.
	others := func(a *replica) []*replica {
		return slices.DeleteFunc(slices.Clone(cl.reps), func(r *replica) bool { return r == a })
	}
	// A few rounds, each ended through another replica: the other
	// replicas have just read the session, so a cache that outlives the
	// revocation answers for it.
	const revocationRounds = 6

	t.Run("logout on one replica ends the session on every replica at once", func(t *testing.T) {
		for round := range revocationRounds {
			a := cl.reps[round%3]
			p := cl.signIn(t, a.url(), pats[1].email)
			for _, r := range others(a) {
				p.at(r.url()).must(t, 200, "GET", "/api/v1/me", nil, nil)
			}
			p.must(t, 204, "POST", "/api/v1/auth/logout", nil, nil)
			for _, r := range others(a) {
				if ans := p.at(r.url()).call("GET", "/api/v1/me", nil); ans.status != 401 {
					t.Errorf("round %d: access token on %s right after logout on %s: %s, want 401", round+1, r.name, a.name, ans)
				}
				if ans := p.at(r.url()).call("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": p.refresh}); ans.status != 401 {
					t.Errorf("round %d: refresh token on %s right after logout on %s: %s, want 401", round+1, r.name, a.name, ans)
				}
			}
		}
	})

	t.Run("disabling an account on one replica ends its sessions on every replica at once", func(t *testing.T) {
		for round := range revocationRounds {
			a := cl.reps[round%3]
			p := cl.signIn(t, lb, pats[2].email)
			for _, r := range others(a) {
				p.at(r.url()).must(t, 200, "GET", "/api/v1/me", nil, nil)
			}
			admin.at(a.url()).must(t, 200, "PATCH", "/api/v1/users/"+pats[2].userID, map[string]any{"disabled": true}, nil)
			for _, r := range others(a) {
				if ans := p.at(r.url()).call("GET", "/api/v1/me", nil); ans.status != 401 {
					t.Errorf("round %d: access token on %s right after the account was disabled on %s: %s, want 401", round+1, r.name, a.name, ans)
				}
			}
			admin.at(a.url()).must(t, 200, "PATCH", "/api/v1/users/"+pats[2].userID, map[string]any{"disabled": false}, nil)
		}
	})

	t.Run("the client's address comes through the load balancer", func(t *testing.T) {
		loginIP := func(email, ip string, header ...string) {
			t.Helper()
			c := &caller{base: lb, hc: httpFrom(ip, 30*time.Second)}
			if a := c.call("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": replicaPassword}, header...); a.status != 200 {
				t.Fatalf("sign in from %s: %s", ip, a)
			}
		}
		lastLoginIP := func(userID string) string {
			t.Helper()
			var list struct {
				Events []domain.AuditEvent `json:"events"`
			}
			admin.must(t, 200, "GET", "/api/v1/audit/events?action=login&user_id="+userID+"&limit=1", nil, &list)
			if len(list.Events) == 0 {
				t.Fatalf("no sign-in of %s in the audit log", userID)
			}
			return list.Events[0].SourceIP
		}
		ip := cl.nextIP()
		loginIP(pats[3].email, ip)
		if got := lastLoginIP(pats[3].userID); got != ip {
			t.Errorf("sign-in from %s through haproxy recorded from %q", ip, got)
		}
		// A client cannot choose its address by sending the header itself:
		// the balancer adds its own X-Forwarded-For line after the client's.
		ip = cl.nextIP()
		loginIP(pats[3].email, ip, "X-Forwarded-For", "203.0.113.9")
		if got := lastLoginIP(pats[3].userID); got != ip {
			t.Errorf("sign-in from %s with a forged X-Forwarded-For: 203.0.113.9 recorded from %q, want %s", ip, got, ip)
		}
	})

	// attempts signs in as email, each time from an address of its own,
	// until refused or n attempts; it returns how many were let through
	// (any answer but 429), the replicas that answered and how long it took.
	attempts := func(t *testing.T, base, email, password string, n int, stopAtRefusal bool, fixedIP string) (through int, replicas []string, took time.Duration) {
		t.Helper()
		start := time.Now()
		for i := range n {
			ip := fixedIP
			if ip == "" {
				ip = cl.nextIP()
			}
			c := &caller{base: base, hc: httpFrom(ip, 30*time.Second)}
			e := email
			if strings.Contains(email, "%d") {
				e = fmt.Sprintf(email, i)
			}
			a := c.call("POST", "/api/v1/auth/login", map[string]string{"email": e, "password": password})
			if a.err != nil || (a.status != 200 && a.status != 401 && a.status != 429) {
				t.Fatalf("sign-in attempt %d: %s", i+1, a)
			}
			replicas = append(replicas, a.replica)
			if a.status == 429 {
				if a.code() != domain.ERATELIMITED {
					t.Fatalf("sign-in attempt %d refused with code %q, want %q: %s", i+1, a.code(), domain.ERATELIMITED, a)
				}
				if stopAtRefusal {
					break
				}
				continue
			}
			through++
		}
		return through, replicas, time.Since(start)
	}
	// refill is how many attempts a limit of perMinute lets through over
	// d on top of its burst.
	refill := func(perMinute int, d time.Duration) int { return int(d.Minutes()*float64(perMinute)) + 1 }

	t.Run("the sign-in limit per account counts attempts on every replica together", func(t *testing.T) {
		alone, _, took := attempts(t, r1.url(), pats[4].email, replicaPassword, perAccount+4, true, "")
		if alone < perAccount || alone > perAccount+refill(perAccount, took) {
			t.Errorf("one replica let %d sign-ins of one account through, want %d (the configured limit)", alone, perAccount)
		}
		through, replicas, took := attempts(t, lb, pats[5].email, replicaPassword, 3*perAccount, false, "")
		if len(uniq(replicas)) != 3 {
			t.Fatalf("the attempts reached replicas %v, want all three", uniq(replicas))
		}
		if through < perAccount || through > perAccount+refill(perAccount, took) {
			t.Errorf("%d sign-ins of one account spread over three replicas: %d let through, want %d (the configured limit, not %d)",
				3*perAccount, through, perAccount, 3*perAccount)
		}
	})

	t.Run("the sign-in limit per address counts attempts on every replica together", func(t *testing.T) {
		through, replicas, took := attempts(t, lb, "nobody%d@clinic.example", "not the password", 3*perIP, false, cl.nextIP())
		if len(uniq(replicas)) != 3 {
			t.Fatalf("the attempts reached replicas %v, want all three", uniq(replicas))
		}
		if through < perIP || through > perIP+refill(perIP, took) {
			t.Errorf("%d sign-ins from one address spread over three replicas: %d let through, want %d (the configured limit, not %d)",
				3*perIP, through, perIP, 3*perIP)
		}
	})

	t.Run("the lockout counts wrong passwords on every replica together", func(t *testing.T) {
		through, replicas, _ := attempts(t, lb, pats[6].email, "not the password", 5, false, "")
		if through != 5 || len(uniq(replicas)) != 3 {
			t.Fatalf("five wrong passwords: %d answered, replicas %v", through, uniq(replicas))
		}
		for _, r := range cl.reps {
			c := cl.caller(r.url(), "")
			a := c.call("POST", "/api/v1/auth/login", map[string]string{"email": pats[6].email, "password": replicaPassword})
			if a.status != 429 || !strings.Contains(a.String(), "locked") {
				t.Errorf("the right password on %s after five wrong ones spread over the replicas: %s, want 429 locked", r.name, a)
			}
		}
	})

	t.Run("the registration limit counts registrations on every replica together", func(t *testing.T) {
		register := func(base string, n int, tag string) (made int, replicas []string) {
			c := cl.caller(base, "")
			for i := range n {
				a := c.call("POST", "/api/v1/auth/register", map[string]string{"email": fmt.Sprintf("new-%s-%d@mail.example", tag, i),
					"password": replicaPassword, "name": "New Patient", "date_of_birth": "1990-05-05"})
				replicas = append(replicas, a.replica)
				switch a.status {
				case 201:
					made++
				case 429:
				default:
					t.Fatalf("registration %d: %s", i+1, a)
				}
			}
			return made, replicas
		}
		alone, _ := register(r1.url(), 6, "alone")
		through, replicas := register(lb, 6, "spread")
		if len(uniq(replicas)) != 3 {
			t.Fatalf("the registrations reached replicas %v, want all three", uniq(replicas))
		}
		if alone < 1 || through > alone {
			t.Errorf("registrations from one address: one replica allowed %d, three replicas together %d, want no more than one alone", alone, through)
		}
	})

	t.Run("a live client on one replica hears of a booking made through another", func(t *testing.T) {
		desk := cl.signIn(t, r3.url(), desks[0].email)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, _, err := dialLive(ctx, httpFrom(cl.nextIP(), 0), r3.url(), desk.token)
		if err != nil {
			t.Fatalf("live connection to %s: %v", r3.name, err)
		}
		defer conn.CloseNow()
		var a domain.Appointment
		desk.at(r1.url()).must(t, 201, "POST", "/api/v1/appointments", bookingBody(doctor.id, pats[7].id, slots.at(booked)), &a)
		booked++
		for {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("the client on %s heard nothing of booking %s made through %s: %v", r3.name, a.ID, r1.name, err)
			}
			var ev struct {
				Type string `json:"type"`
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			if json.Unmarshal(msg, &ev) == nil && ev.Type == "appointment.booked" && ev.Data.ID == a.ID {
				break
			}
		}
	})

	t.Run("each e-mail goes out exactly once with three replicas running", func(t *testing.T) {
		desk := cl.signIn(t, lb, desks[0].email)
		for i := range 6 {
			desk.must(t, 201, "POST", "/api/v1/appointments", bookingBody(doctor.id, pats[8+i%4].id, slots.at(booked)), nil)
			booked++
		}
		waitMails := func(want int) {
			t.Helper()
			deadline := time.Now().Add(90 * time.Second)
			for mail.appointmentMails() < want {
				if time.Now().After(deadline) {
					t.Fatalf("%d appointment e-mails received in 90 s, want %d", mail.appointmentMails(), want)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		// Every booking so far, the patient's and the doctor's e-mail each.
		waitMails(2 * booked)
		// One more booking: once its e-mails are in, the workers have made
		// passes since the others were sent, and any second copy of those
		// would have gone out.
		desk.must(t, 201, "POST", "/api/v1/appointments", bookingBody(doctor.id, pats[8].id, slots.at(booked)), nil)
		booked++
		waitMails(2 * booked)
		copies := mail.copies()
		for id, n := range copies {
			if n != 1 {
				t.Errorf("e-mail %s was sent %d times", id, n)
			}
		}
		if got := mail.appointmentMails(); got != 2*booked {
			t.Errorf("%d appointment e-mails for %d bookings, want %d", got, booked, 2*booked)
		}
		t.Logf("%d e-mails in all (%d for %d bookings), each sent once", len(copies), 2*booked, booked)
	})
}

func uniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// faultRun is what the load of TestReplicasSurviveFaults did: every
// request with its outcome, the bookings and chats it made, and when the
// faults began.
type faultRun struct {
	mu       sync.Mutex
	requests []requestRecord
	bookings []*bookingTry
	chats    []*chatTry
	faults   []time.Time
}

type requestRecord struct {
	kind       string
	replica    string // the replica that answered, when one did
	start, end time.Time
	outcome    string // "2xx", "409 conflict", "503 unavailable", "502", "no answer: EOF", …
	ok         bool
}

// bookingTry is one booking: its first request and any retries with the
// same Idempotency-Key after a 5xx or no answer.
type bookingTry struct {
	key                string
	doctorID           string
	patientID          string
	start              time.Time
	contested          bool
	sent, acked        time.Time // first request sent; 201 received
	id                 string
	replayed           bool   // the 201 was a replay of an earlier attempt's booking
	final              int    // the last status (0: no answer)
	finalCode, finalOf string // the last answer's error code, and the whole answer
}

// chatTry is one question streamed to the assistant.
type chatTry struct {
	conv, patientEmail string
	replica            string
	start, end         time.Time
	deltas             int
	outcome            string // "" while streaming; "done", "stream cut", "error event <code>", or the refusal
}

// note records a request's outcome and reports whether it succeeded.
func (f *faultRun) note(kind string, start time.Time, a answer) bool {
	return f.record(kind, a.replica, start, outcome(a))
}

func (f *faultRun) record(kind, replica string, start time.Time, outcome string) bool {
	r := requestRecord{kind: kind, replica: replica, start: start, end: time.Now(), outcome: outcome, ok: outcome == "2xx"}
	f.mu.Lock()
	f.requests = append(f.requests, r)
	f.mu.Unlock()
	return r.ok
}

// outcome names an answer by its class: 2xx, the status and error code,
// or the kind of transport failure.
func outcome(a answer) string {
	switch {
	case a.err != nil:
		return "no answer: " + transportKind(a.err)
	case a.status < 300:
		return "2xx"
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s", a.status, a.code()))
}

func transportKind(err error) string {
	s := err.Error()
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), strings.Contains(s, "EOF"):
		return "EOF"
	case strings.Contains(s, "reset"):
		return "reset"
	case strings.Contains(s, "refused"):
		return "refused"
	case strings.Contains(s, "timeout"), strings.Contains(s, "deadline"):
		return "timeout"
	}
	return "other"
}

// firstOK is when the first successful request of kind started at or after
// from ended; zero when there was none.
func (f *faultRun) firstOK(kind string, from time.Time) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var first time.Time
	for _, r := range f.requests {
		if r.kind == kind && r.ok && !r.start.Before(from) && (first.IsZero() || r.end.Before(first)) {
			first = r.end
		}
	}
	return first
}

// firstServedBy is when the first successful request that replica
// answered, started at or after from, ended; zero when there was none.
func (f *faultRun) firstServedBy(replica string, from time.Time) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var first time.Time
	for _, r := range f.requests {
		if r.replica == replica && r.ok && !r.start.Before(from) && (first.IsZero() || r.end.Before(first)) {
			first = r.end
		}
	}
	return first
}

// ackedSince counts the bookings acknowledged after t.
func (f *faultRun) ackedSince(t time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, b := range f.bookings {
		if b.id != "" && b.acked.After(t) {
			n++
		}
	}
	return n
}

// book sends one booking, retrying with the same Idempotency-Key while the
// answer is a 5xx or none (at most six times); a 201 or a 4xx is final.
func (f *faultRun) book(c *caller, b *bookingTry) {
	kind := "booking"
	if b.contested {
		kind = "contested booking"
	}
	f.mu.Lock()
	f.bookings = append(f.bookings, b)
	f.mu.Unlock()
	body := bookingBody(b.doctorID, b.patientID, b.start)
	backoff := 200 * time.Millisecond
	for try := range 6 {
		t0 := time.Now()
		a := c.call("POST", "/api/v1/appointments", body, "Idempotency-Key", b.key)
		f.note(kind, t0, a)
		f.mu.Lock()
		if try == 0 {
			b.sent = t0
		}
		b.final, b.finalCode, b.finalOf = a.status, a.code(), a.String()
		if a.err == nil && a.status == 201 {
			var ap domain.Appointment
			if json.Unmarshal(a.body, &ap) == nil {
				b.id, b.acked, b.replayed = ap.ID, time.Now(), a.header.Get("Idempotent-Replayed") == "true"
			}
		}
		f.mu.Unlock()
		if a.err == nil && a.status < 500 {
			return
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
}

// chat starts a conversation and streams one answer to it, recording how
// the stream went.
func (f *faultRun) chat(c *caller, email string) {
	t0 := time.Now()
	a := c.call("POST", "/api/v1/conversations", map[string]any{})
	if !f.note("start conversation", t0, a) {
		time.Sleep(200 * time.Millisecond)
		return
	}
	var conv struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(a.body, &conv) != nil || conv.ID == "" {
		return
	}
	ch := &chatTry{conv: conv.ID, patientEmail: email, start: time.Now()}
	f.mu.Lock()
	f.chats = append(f.chats, ch)
	f.mu.Unlock()
	// end records how the chat ended: "done", or what the client saw.
	end := func(how string) {
		f.mu.Lock()
		ch.outcome, ch.end = how, time.Now()
		f.mu.Unlock()
		if how == "done" {
			how = "2xx"
		}
		f.mu.Lock()
		replica := ch.replica
		f.mu.Unlock()
		f.record("chat", replica, ch.start, how)
	}
	body, _ := json.Marshal(map[string]string{"content": "How do I order repeat prescriptions?"})
	req, _ := http.NewRequest("POST", c.base+"/api/v1/conversations/"+conv.ID+"/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.hc.Do(req)
	if err != nil {
		end(outcome(answer{err: err}))
		return
	}
	defer res.Body.Close()
	f.mu.Lock()
	ch.replica = res.Header.Get("X-Replica")
	f.mu.Unlock()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		end(outcome(answer{status: res.StatusCode, body: b}))
		return
	}
	r := bufio.NewReader(res.Body)
	event := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			end("stream cut")
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			switch event {
			case "delta":
				f.mu.Lock()
				ch.deltas++
				f.mu.Unlock()
			case "done":
				end("done")
				return
			case "error":
				var e struct {
					Code string `json:"code"`
				}
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e)
				end("error event " + e.Code)
				return
			}
		}
	}
}

// streamingOn names a replica that is streaming an answer now, well before
// its end, and the chats it is streaming; "" when none is.
func (f *faultRun) streamingOn() (string, []*chatTry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	victim := ""
	for _, c := range f.chats {
		if c.outcome == "" && c.replica != "" && c.deltas >= 2 && c.deltas <= 15 {
			victim = c.replica
			break
		}
	}
	var on []*chatTry
	for _, c := range f.chats {
		if victim != "" && c.outcome == "" && c.replica == victim {
			on = append(on, c)
		}
	}
	return victim, on
}

// finishing is a chat streaming now with minDeltas to maxDeltas pieces
// received; nil when there is none.
func (f *faultRun) finishing(minDeltas, maxDeltas int) *chatTry {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.chats {
		if c.outcome == "" && c.deltas >= minDeltas && c.deltas <= maxDeltas {
			return c
		}
	}
	return nil
}

// pairBarrier lets two workers go on together, so their bookings of the
// same slot race.
type pairBarrier struct {
	mu      sync.Mutex
	waiting chan struct{}
}

func (b *pairBarrier) wait(stop <-chan struct{}) bool {
	b.mu.Lock()
	if b.waiting == nil {
		ch := make(chan struct{})
		b.waiting = ch
		b.mu.Unlock()
		select {
		case <-ch:
			return true
		case <-stop:
			return false
		}
	}
	ch := b.waiting
	b.waiting = nil
	b.mu.Unlock()
	close(ch)
	return true
}

// pause waits d unless the run stops first.
func pause(stop <-chan struct{}, d time.Duration) bool {
	select {
	case <-stop:
		return false
	case <-time.After(d):
		return true
	}
}

// window is a stretch of the run, named for the fault in it.
type window struct {
	name     string
	from, to time.Time
}

// TestReplicasSurviveFaults runs three replicas behind HAProxy on a
// PostgreSQL cluster of the test's own under a bounded mixed load (sign-ins,
// bookings of distinct and of contested slots, streamed chats with a slow
// fake model, knowledge searches) with live WebSocket clients that
// reconnect when cut. One replica is killed (SIGKILL) while it streams an
// answer and is restarted; then PostgreSQL restarts. Afterwards every
// acknowledged booking exists once, no doctor is double-booked, refusals
// were clear 4xx/5xx answers, each live client heard of every booking made
// after it (re)connected, an answer cut by the kill is finished by a
// surviving replica, bookings made after the kill are e-mailed, and the
// audit chain verifies. It logs the requests, the errors clients saw in
// each fault window by kind, and how long recovery took.
func TestReplicasSurviveFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the replica fault run in -short mode")
	}
	haproxy := haproxyPath(t)
	pg := startPrivatePostgres(t)
	mail := startMailSink(t)
	pieces := make([]string, 30)
	for i := range pieces {
		pieces[i] = fmt.Sprintf("part%d ", i)
	}
	// Slow enough that an answer (about 4.5 s) is still streaming when its
	// replica is killed.
	model := llmtest.OpenAI(llmtest.Behaviour{Answer: pieces, FirstDelay: 100 * time.Millisecond, Delay: 150 * time.Millisecond, TokensIn: 40})
	t.Cleanup(model.Close)
	kdir := t.TempDir()
	for name, text := range map[string]string{
		"prescriptions.md": "# Repeat prescriptions\n\nOrder repeat prescriptions at the front desk or through the portal; allow two working days.\n",
		"opening.md":       "# Opening hours\n\nThe clinic is open Monday to Friday from 8:00 to 18:00.\n",
		"vaccines.md":      "# Vaccinations\n\nBook flu vaccinations from September; bring your vaccination record.\n",
	} {
		if err := os.WriteFile(filepath.Join(kdir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cl := startReplicaCluster(t, haproxy, pg.URL(), map[string]string{
		"HEALTHHUB_SMTP_ADDR": mail.addr, "HEALTHHUB_SMTP_FROM": "clinic@clinic.example",
		"HEALTHHUB_LOGIN_RATE_PER_IP": "-1", "HEALTHHUB_LOGIN_RATE_PER_ACCOUNT": "-1",
		"HEALTHHUB_LLM_PROVIDER": "openai", "HEALTHHUB_OPENAI_BASE_URL": model.URL + "/v1", "HEALTHHUB_OPENAI_MODEL": "fake-model",
		"HEALTHHUB_LLM_EXTERNAL": "false",
	})
	lb := cl.lb.url()
	admin := cl.signIn(t, lb, cl.adminEmail)
	desks, docs, pats := seedClinicThroughAPI(t, admin, 3, 2, 8)
	admin.must(t, 201, "POST", "/api/v1/knowledge/sources", map[string]string{"kind": "folder", "path": kdir, "visibility": "everyone"}, nil)
	searcher := cl.signIn(t, lb, pats[0].email)
	eventually(t, "the knowledge folder is searchable", func() bool {
		var res struct {
			Results []json.RawMessage `json:"results"`
		}
		a := searcher.call("GET", "/api/v1/knowledge/search?q=repeat+prescriptions", nil)
		return a.status == 200 && json.Unmarshal(a.body, &res) == nil && len(res.Results) > 0
	})

	run := &faultRun{}
	slots := newSlotPlan()
	stop := make(chan struct{})
	var workers sync.WaitGroup
	runStart := time.Now()

	// Live clients: front desks see every booking.
	watchCtx, stopWatching := context.WithCancel(context.Background())
	var watchers []*liveWatch
	var watching sync.WaitGroup
	defer func() {
		stopWatching()
		watching.Wait()
	}()
	for i, d := range desks {
		w := &liveWatch{name: fmt.Sprintf("desk%d", i+1), got: map[string]time.Time{}}
		watchers = append(watchers, w)
		c := cl.signIn(t, lb, d.email)
		hc := httpFrom(cl.nextIP(), 0)
		watching.Go(func() { w.run(watchCtx, hc, lb, func() string { return c.token }) })
	}

	// Bookings of distinct slots of the first doctor, two front desks in
	// turn, for every patient in turn.
	for w := range 2 {
		desk := cl.signIn(t, lb, desks[w].email)
		workers.Go(func() {
			for n := 0; ; n++ {
				slot := 2*n + w
				run.book(desk, &bookingTry{key: fmt.Sprintf("distinct-%d", slot), doctorID: docs[0].id, patientID: pats[slot%len(pats)].id, start: slots.at(slot)})
				if !pause(stop, 100*time.Millisecond) {
					return
				}
			}
		})
	}
	// Two front desks race for each slot of the second doctor.
	var race pairBarrier
	for w := range 2 {
		desk := cl.signIn(t, lb, desks[w+1].email)
		workers.Go(func() {
			for n := 0; race.wait(stop); n++ {
				run.book(desk, &bookingTry{key: fmt.Sprintf("contested-%d-%d", n, w), doctorID: docs[1].id, patientID: pats[(n+w)%len(pats)].id,
					start: slots.at(n), contested: true})
				if !pause(stop, 100*time.Millisecond) {
					return
				}
			}
		})
	}
	// Patients chatting with the assistant, one conversation per question.
	for w := range 3 {
		p := cl.signIn(t, lb, pats[w+1].email)
		p.hc = httpFrom(cl.nextIP(), 60*time.Second)
		email := pats[w+1].email
		workers.Go(func() {
			for pause(stop, 100*time.Millisecond) {
				run.chat(p, email)
			}
		})
	}
	// Sign-ins (and a read with the new token), and knowledge searches.
	workers.Go(func() {
		c := cl.caller(lb, "")
		for n := 0; pause(stop, 200*time.Millisecond); n++ {
			t0 := time.Now()
			a := c.call("POST", "/api/v1/auth/login", map[string]string{"email": pats[4+n%4].email, "password": replicaPassword})
			if !run.note("sign-in", t0, a) {
				continue
			}
			var pair struct {
				AccessToken string `json:"access_token"`
			}
			json.Unmarshal(a.body, &pair)
			me := &caller{base: lb, token: pair.AccessToken, hc: c.hc}
			t0 = time.Now()
			run.note("read me", t0, me.call("GET", "/api/v1/me", nil))
		}
	})
	workers.Go(func() {
		for pause(stop, 200*time.Millisecond) {
			t0 := time.Now()
			run.note("search", t0, searcher.call("GET", "/api/v1/knowledge/search?q=repeat+prescriptions&limit=5", nil))
		}
	})
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			workers.Wait()
		}
	}
	defer stopLoad()

	waitFor := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v", what, within)
			}
		}
	}

	// Steady load until a replica streams an answer, then kill it.
	var victimName string
	var cutCandidates []*chatTry
	waitFor("steady load with an answer streaming", 90*time.Second, func() bool {
		if run.ackedSince(runStart) < 20 || run.firstOK("chat", runStart).IsZero() {
			return false
		}
		victimName, cutCandidates = run.streamingOn()
		return victimName != ""
	})
	victim := cl.reps[slices.IndexFunc(cl.reps, func(r *replica) bool { return r.name == victimName })]
	tKill := time.Now()
	run.mu.Lock()
	run.faults = append(run.faults, tKill)
	run.mu.Unlock()
	victim.kill()
	tDown := cl.lb.waitState(victim.name, "DOWN", 30*time.Second)
	tRestart := time.Now()
	victim.start()
	tUp := cl.lb.waitState(victim.name, "UP", 60*time.Second)
	t.Logf("killed %s (SIGKILL) while it streamed %d answers; haproxy marked it down after %v; restarted, it was marked up %v after its restart",
		victim.name, len(cutCandidates), tDown.Sub(tKill).Round(time.Millisecond), tUp.Sub(tRestart).Round(time.Millisecond))

	// Load with all three again, then restart PostgreSQL while an answer
	// is finishing: it stops once a chat has streamed most of its answer
	// and starts again once that stream has ended, so the answer is saved
	// (or not) while the database is away.
	var finishing *chatTry
	waitFor("bookings, a chat after the replica came back, and an answer about to finish", 60*time.Second, func() bool {
		if run.ackedSince(tUp) < 15 || run.firstOK("chat", tUp).IsZero() {
			return false
		}
		finishing = run.finishing(len(pieces)-6, len(pieces)-3)
		return finishing != nil
	})
	tStop := time.Now()
	run.mu.Lock()
	run.faults = append(run.faults, tStop)
	run.mu.Unlock()
	pg.Stop()
	tStopped := time.Now()
	// The model goes on streaming; the server may end the stream while the
	// database is away, or hold it until it can save the answer.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		run.mu.Lock()
		ended := finishing.outcome != ""
		run.mu.Unlock()
		if ended {
			break
		}
	}
	if err := pg.Start(); err != nil {
		t.Fatalf("start PostgreSQL again: %v", err)
	}
	tStarted := time.Now()
	var tAllUp time.Time
	for _, r := range cl.reps {
		tAllUp = cl.lb.waitState(r.name, "UP", 60*time.Second)
	}
	run.mu.Lock()
	t.Logf("PostgreSQL stopped in %v while an answer streamed through %s (ended %q by the time it started again); PostgreSQL was down %v; haproxy marked every replica up %v after it accepted connections",
		tStopped.Sub(tStop).Round(time.Millisecond), finishing.replica, finishing.outcome, tStarted.Sub(tStop).Round(time.Millisecond), tAllUp.Sub(tStarted).Round(time.Millisecond))
	run.mu.Unlock()

	// Load after the faults, until every kind of request has succeeded.
	waitFor("every kind of request succeeding after the faults", 90*time.Second, func() bool {
		if run.ackedSince(tAllUp) < 5 {
			return false
		}
		for _, k := range []string{"sign-in", "read me", "search", "chat", "contested booking"} {
			if run.firstOK(k, tAllUp).IsZero() {
				return false
			}
		}
		return true
	})
	stopLoad()
	runEnd := time.Now()
	windows := []window{
		{"steady", runStart, tKill}, {"replica killed", tKill, tUp}, {"between", tUp, tStop},
		{"postgres restart", tStop, tAllUp}, {"after", tAllUp, runEnd},
	}

	// The figures: requests, what clients saw in each window, recovery.
	run.mu.Lock()
	requests := slices.Clone(run.requests)
	bookings := slices.Clone(run.bookings)
	chats := slices.Clone(run.chats)
	run.mu.Unlock()
	t.Logf("%d requests through haproxy in %v: %d bookings tried, %d chats", len(requests), runEnd.Sub(runStart).Round(time.Second), len(bookings), len(chats))
	for _, w := range windows {
		tally := map[string]int{}
		total, failed := 0, 0
		for _, r := range requests {
			if r.start.Before(w.from) || !r.start.Before(w.to) {
				continue
			}
			total++
			if !r.ok {
				failed++
				tally[r.kind+": "+r.outcome]++
			}
		}
		var parts []string
		for k, n := range tally {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, n))
		}
		sort.Strings(parts)
		t.Logf("window %-16s %6v: %d requests, %d not successful: %s", w.name, w.to.Sub(w.from).Round(100*time.Millisecond), total, failed, strings.Join(parts, "; "))
	}
	for _, f := range []struct {
		fault string
		at    time.Time
	}{{"replica kill", tKill}, {"postgres back", tStarted}} {
		var parts []string
		for _, k := range []string{"booking", "contested booking", "sign-in", "read me", "search", "chat"} {
			if ok := run.firstOK(k, f.at); !ok.IsZero() {
				parts = append(parts, fmt.Sprintf("%s %v", k, ok.Sub(f.at).Round(time.Millisecond)))
			} else {
				parts = append(parts, k+" never")
			}
		}
		t.Logf("first success through haproxy after %s: %s", f.fault, strings.Join(parts, ", "))
	}
	if served := run.firstServedBy(victim.name, tRestart); !served.IsZero() {
		t.Logf("the restarted %s answered its first request %v after its restart (%v after the kill)", victim.name,
			served.Sub(tRestart).Round(time.Millisecond), served.Sub(tKill).Round(time.Millisecond))
	} else {
		t.Errorf("the restarted %s answered no request through haproxy", victim.name)
	}

	// Bookings: refusals were clear, every acknowledged booking exists
	// once, nothing refused exists, no doctor is double-booked.
	for _, r := range requests {
		if !strings.Contains(r.kind, "booking") || r.ok {
			continue
		}
		switch {
		case strings.HasPrefix(r.outcome, "no answer"):
			t.Errorf("a booking through haproxy got no HTTP answer (%s) at %v", r.outcome, r.start.Sub(runStart).Round(time.Millisecond))
		case strings.HasPrefix(r.outcome, "500"):
			t.Errorf("a booking was answered %s at %v: a fault must be a clear 502/503, not an internal error", r.outcome, r.start.Sub(runStart).Round(time.Millisecond))
		case strings.HasPrefix(r.outcome, "4") && r.outcome != "409 conflict":
			t.Errorf("a booking was refused %s", r.outcome)
		}
	}
	type slotKey struct{ doctor, patient, start string }
	stored := map[string]apptState{}
	bySlot := map[slotKey][]string{}
	for _, d := range docs {
		var list struct {
			Appointments []domain.Appointment `json:"appointments"`
		}
		admin.must(t, 200, "GET", "/api/v1/appointments?limit=1000&doctor_id="+d.id, nil, &list)
		if len(list.Appointments) == 1000 {
			t.Fatalf("doctor %s has 1000 appointments or more: the check reads one page of 1000", d.id)
		}
		for _, a := range list.Appointments {
			if _, dup := stored[a.ID]; dup {
				t.Errorf("appointment %s listed twice", a.ID)
			}
			start := a.Start.UTC().Format(time.RFC3339)
			stored[a.ID] = apptState{Doctor: a.DoctorID, Status: a.Status, Start: start, End: a.End.UTC().Format(time.RFC3339)}
			k := slotKey{a.DoctorID, a.PatientID, start}
			bySlot[k] = append(bySlot[k], a.ID)
		}
	}
	checkNoOverlap(t, "after the faults", stored)
	acked, unknown, refused, replayed := 0, 0, 0, 0
	for _, b := range bookings {
		k := slotKey{b.doctorID, b.patientID, b.start.UTC().Format(time.RFC3339)}
		switch {
		case b.id != "":
			acked++
			if b.replayed {
				replayed++
			}
			if ids := bySlot[k]; len(ids) != 1 || ids[0] != b.id {
				t.Errorf("booking %s (%s) was acknowledged as %s; stored as %v", b.key, b.start.Format(time.RFC3339), b.id, ids)
			} else if !domain.Blocks(stored[b.id].Status) {
				t.Errorf("acknowledged booking %s is %s", b.id, stored[b.id].Status)
			}
		case b.final >= 400 && b.final < 500:
			refused++
			if ids := bySlot[k]; len(ids) != 0 {
				t.Errorf("booking %s was refused (%s) yet stored as %v", b.key, b.finalOf, ids)
			}
		default:
			unknown++
			if ids := bySlot[k]; len(ids) > 1 {
				t.Errorf("booking %s, unanswered (%s), stored %d times: %v", b.key, b.finalOf, len(ids), ids)
			}
		}
		delete(bySlot, k)
	}
	for k, ids := range bySlot {
		t.Errorf("appointments %v (%+v) stored for no booking the clients made", ids, k)
	}
	t.Logf("bookings: %d acknowledged (%d by a replay of an earlier attempt), %d refused as taken, %d left unanswered after retries; %d stored",
		acked, replayed, refused, unknown, len(stored))

	// The answers cut by the kill are finished by a surviving replica;
	// answers that streamed to the end are stored complete.
	var cut []*chatTry
	run.mu.Lock()
	for _, c := range cutCandidates {
		if c.outcome != "done" {
			cut = append(cut, c)
		}
	}
	run.mu.Unlock()
	if len(cut) == 0 {
		t.Errorf("no answer streaming on %s was cut by the kill", victim.name)
	}
	patientCallers := map[string]*caller{}
	callerFor := func(email string) *caller {
		if c := patientCallers[email]; c != nil {
			return c
		}
		patientCallers[email] = cl.signIn(t, lb, email)
		return patientCallers[email]
	}
	answerStatus := func(c *chatTry) string {
		var v struct {
			Messages []domain.Message `json:"messages"`
		}
		a := callerFor(c.patientEmail).call("GET", "/api/v1/conversations/"+c.conv, nil)
		if a.status != 200 || json.Unmarshal(a.body, &v) != nil {
			return "unreadable: " + a.String()
		}
		for _, m := range v.Messages {
			if m.Role == domain.RoleAssistant {
				return m.Status
			}
		}
		return "no answer stored"
	}
	for _, c := range cut {
		deadline := time.Now().Add(90 * time.Second)
		st := answerStatus(c)
		for ; st != domain.MessageComplete && time.Now().Before(deadline); st = answerStatus(c) {
			time.Sleep(200 * time.Millisecond)
		}
		if st != domain.MessageComplete {
			t.Errorf("the answer in conversation %s, cut by the kill of %s after %d pieces, is %q 90 s later, want %q (finished by a surviving replica)",
				c.conv, victim.name, c.deltas, st, domain.MessageComplete)
		}
	}
	// Every other answer ends stored in a final state; one that streamed
	// to the end (the client was told it is done) is stored complete.
	streamedToEnd, done := 0, 0
	settleBy := time.Now().Add(60 * time.Second)
	for _, c := range chats {
		if c.outcome == "" || slices.Contains(cut, c) {
			continue
		}
		st := answerStatus(c)
		for ; st == domain.MessageStreaming && time.Now().Before(settleBy); st = answerStatus(c) {
			time.Sleep(200 * time.Millisecond)
		}
		when := fmt.Sprintf("from %v to %v into the run", c.start.Sub(runStart).Round(time.Millisecond), c.end.Sub(runStart).Round(time.Millisecond))
		switch {
		case c.outcome == "done" && st != domain.MessageComplete:
			t.Errorf("conversation %s: the answer streamed to the end through %s (%s) but is stored %q", c.conv, c.replica, when, st)
		case c.outcome == "done":
			streamedToEnd++
		case st == domain.MessageStreaming:
			t.Errorf("conversation %s: the stream through %s ended %q (%s) yet the answer is still stored %q", c.conv, c.replica, c.outcome, when, st)
		}
		if c.outcome == "done" {
			done++
		}
	}
	outcomes := map[string]int{}
	for _, c := range chats {
		outcomes[c.outcome]++
	}
	t.Logf("chats: %v; %d cut by the kill; %d of %d streamed to the end stored complete", outcomes, len(cut), streamedToEnd, done)

	// Each live client heard of every booking made while it was connected
	// and not told to resync: a connection counts from the server's first
	// answer to when it was cut (or told to resync), back to the fault
	// that caused it; a booking counts when its request was sent after the
	// connection began and answered 2 s before it ended. A booking first
	// acknowledged by a replay may have been made by the killed replica
	// before it could announce it, and does not count.
	stopWatching()
	watching.Wait()
	run.mu.Lock()
	faults := slices.Clone(run.faults)
	run.mu.Unlock()
	const grace = 2 * time.Second
	for _, w := range watchers {
		w.mu.Lock()
		var missing []string
		for _, seg := range w.segs {
			end := runEnd.Add(time.Hour) // open when the run ended: everything counts
			if seg.ended != "" {
				end = seg.end
				for _, f := range faults { // ascending: the latest fault shortly before the end
					if !f.After(seg.end) && seg.end.Sub(f) < 30*time.Second {
						end = f
					}
				}
			}
			for _, b := range bookings {
				if b.id == "" || b.replayed || b.sent.Before(seg.start) || b.acked.Add(grace).After(end) {
					continue
				}
				if _, ok := w.got[b.id]; !ok {
					missing = append(missing, fmt.Sprintf("%s (sent %v after the connection to %s began)", b.id, b.sent.Sub(seg.start).Round(time.Millisecond), seg.replica))
				}
			}
		}
		var ends []string
		for _, seg := range w.segs {
			if seg.ended != "" {
				ends = append(ends, fmt.Sprintf("%s at %v", seg.ended, seg.end.Sub(runStart).Round(time.Millisecond)))
			}
		}
		t.Logf("live client %s: %d connections, %d failed dials, ends: %v; heard %d booking events", w.name, len(w.segs), w.dials, ends, len(w.got))
		if len(missing) > 0 {
			t.Errorf("live client %s missed %d bookings made while it was connected: %v", w.name, len(missing), missing[:min(len(missing), 10)])
		}
		w.mu.Unlock()
	}

	// Bookings made after the kill are e-mailed: the notification worker
	// runs again on the replicas left. Not those made shortly before
	// PostgreSQL stopped: a worker may have sent their e-mail and failed to
	// mark it sent, and then it waits for its claim to lapse (2 minutes).
	type want struct{ patient, appt string }
	var mailed []want
	for _, b := range bookings {
		if b.id == "" || b.sent.Before(tKill.Add(2*time.Second)) || (b.sent.After(tStop.Add(-5*time.Second)) && b.sent.Before(tAllUp.Add(2*time.Second))) {
			continue
		}
		for _, p := range pats {
			if p.id == b.patientID {
				mailed = append(mailed, want{p.email, b.id})
			}
		}
	}
	sentFor := func(w want) string {
		var list struct {
			Notifications []domain.Notification `json:"notifications"`
		}
		if a := callerFor(w.patient).call("GET", "/api/v1/notifications", nil); a.status != 200 || json.Unmarshal(a.body, &list) != nil {
			return "unreadable"
		}
		for _, n := range list.Notifications {
			if n.AppointmentID == w.appt && n.Kind == domain.NotifyBooked {
				return n.EmailStatus
			}
		}
		return "no notification"
	}
	deadline := time.Now().Add(90 * time.Second)
	for _, w := range mailed {
		st := sentFor(w)
		for ; st != domain.EmailSent && time.Now().Before(deadline); st = sentFor(w) {
			time.Sleep(200 * time.Millisecond)
		}
		if st != domain.EmailSent {
			t.Errorf("the e-mail to %s about booking %s, made after the kill, is %q, want %q", w.patient, w.appt, st, domain.EmailSent)
			break
		}
	}
	dups := 0
	for _, n := range mail.copies() {
		if n > 1 {
			dups++
		}
	}
	t.Logf("e-mails: %d bookings made after the kill checked sent; %d appointment e-mails received, %d of all e-mails more than once", len(mailed), mail.appointmentMails(), dups)

	var rep struct {
		OK      bool   `json:"ok"`
		Events  int64  `json:"events"`
		Problem string `json:"problem"`
	}
	admin.must(t, 200, "GET", "/api/v1/audit/verify", nil, &rep)
	if !rep.OK {
		t.Errorf("the audit chain does not verify after the faults: %s", rep.Problem)
	}
	t.Logf("audit chain verified: %d events", rep.Events)
}
