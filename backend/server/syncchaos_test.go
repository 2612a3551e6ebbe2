package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	_ "github.com/jackc/pgx/v5/stdlib" // to read a PostgreSQL node's outbox
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/server"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/storetest"
	"github.com/healthhub/healthhub/backend/sync/auditship"
	"github.com/healthhub/healthhub/backend/sync/upstream"
)

// chaosNode is a workstation process under faults: its proxy to the
// upstream is cut, slowed, reset and truncated, and the process itself is
// killed and restarted on the same data folder.
type chaosNode struct {
	name    string
	offset  time.Duration // how wrong its clock is
	vars    map[string]string
	dataDir string
	dbURL   string // "" for SQLite in dataDir
	proxy   *faultProxy
	// up is the database of the server it syncs with.
	upURL, upDir string
	// top: its upstream is the top of the tree, whose decisions the
	// linearizability check reads.
	top bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	url    string
	token  string
	userID string
	cut    bool // the proxy is stopped
}

func (n *chaosNode) client(t *testing.T) *client {
	n.mu.Lock()
	defer n.mu.Unlock()
	return &client{t: t, base: n.url, token: n.token}
}

// chaosFigures are what the run did, for its log and the closing note.
type chaosFigures struct {
	requests sync.Map // "action status" → *atomic.Int64
	faults   sync.Map // kind → *atomic.Int64
}

func (f *chaosFigures) count(m *sync.Map, key string) {
	v, _ := m.LoadOrStore(key, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (f *chaosFigures) dump(m *sync.Map) string {
	var parts []string
	m.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// rawDo is a request that may fail (the node may be down): it returns the
// status, or 0 when there was no answer.
func rawDo(c *client, method, path string, in, out any) int {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	hc := &http.Client{Timeout: 20 * time.Second}
	res, err := hc.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		_ = json.Unmarshal(raw, out)
	}
	return res.StatusCode
}

// TestRandomizedFaultRunConverges is the bounded randomized run: three
// workstation nodes (clocks right, 10 minutes fast, 10 minutes slow) book,
// move and cancel against two doctors with few slots while their links to
// the upstream are partitioned, slowed, reset, stalled and cut mid-body and
// the nodes are killed (SIGKILL) and restarted. After healing,
// every queue drains, every node equals the upstream, no doctor holds two
// overlapping appointments anywhere, every op has exactly one outcome and
// no acknowledged booking is lost, replaying every op changes nothing, each
// node's audit log at the upstream equals its own and its checkpoint
// verifies, and the per-slot history of the upstream's decisions is
// linearizable. HEALTHHUB_SYNC_SEED repeats a run's schedule of actions and
// faults; HEALTHHUB_SYNC_CHAOS sets its length per engine (default 45s).
func TestRandomizedFaultRunConverges(t *testing.T) {
	length := 45 * time.Second
	if v := os.Getenv("HEALTHHUB_SYNC_CHAOS"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("HEALTHHUB_SYNC_CHAOS: %v", err)
		}
		length = d
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("HEALTHHUB_SYNC_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("HEALTHHUB_SYNC_SEED: %v", err)
		}
		seed = s
	}
	t.Logf("seed %d (HEALTHHUB_SYNC_SEED=%d repeats this schedule)", seed, seed)
	for _, eng := range storetest.Engines(t) {
		t.Run("upstream-"+eng.Name, func(t *testing.T) { chaosRun(t, eng, false, seed, length) })
	}
	// Two hops: a clinic server on PostgreSQL between two workstations and
	// the hosted service, a third workstation on the hosted service.
	for _, eng := range storetest.Engines(t) {
		if eng.Name == "postgres" {
			t.Run("two-hops-postgres", func(t *testing.T) { chaosRun(t, eng, true, seed, length) })
		}
	}
}

func chaosRun(t *testing.T, eng storetest.Engine, twoHops bool, seed uint64, length time.Duration) {
	dbURL, upDir := eng.URL(t)
	cfg := server.Config{DataDir: upDir, DatabaseURL: dbURL, KeyringFile: filepath.Join(upDir, "keyring.json"),
		Argon2Memory: 64, LoginPerIP: -1, LoginPerAccount: -1, IdleTimeout: time.Hour, LogFormat: "text", LogLevel: "error"}
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	sys, err := server.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		email string
		role  domain.Role
	}{{"admin@clinic.example", domain.RoleAdmin}, {"desk@clinic.example", domain.RoleStaff}} {
		if _, err := sys.Auth.CreateUser(ctx, newAccount(a.email, a.role)); err != nil {
			t.Fatal(err)
		}
	}
	var weekly []domain.WeeklyHours
	for day := range 7 {
		weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "00:00", End: "23:59"})
	}
	var doctors []string
	for i := range 2 {
		d, err := sys.Portal.CreateDoctor(ctx, portal.NewDoctor{Email: fmt.Sprintf("dr%d@clinic.example", i), Password: "correct horse battery",
			Name: fmt.Sprintf("Dr Chaos %d", i), Specialization: "GP"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sys.Portal.SetAvailability(ctx, d.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 60, Weekly: weekly}); err != nil {
			t.Fatal(err)
		}
		doctors = append(doctors, d.ID)
	}
	var patients []string
	for i := range 3 {
		name, dob := fmt.Sprintf("Pat Chaos %d", i), "1980-01-01"
		p, err := sys.Portal.CreatePatient(ctx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &dob}}, false)
		if err != nil {
			t.Fatal(err)
		}
		patients = append(patients, p.ID)
	}
	sys.Close()
	_, upURL := startChild(t, map[string]string{"HEALTHHUB_DATA_DIR": upDir, "HEALTHHUB_DATABASE_URL": dbURL, "HEALTHHUB_ARGON2_MEMORY_KIB": "64",
		"HEALTHHUB_ADDR": "127.0.0.1:0", "HEALTHHUB_LOG_LEVEL": "error"})
	upAdmin := &client{t: t, base: upURL, token: httpLogin(t, upURL, "admin@clinic.example")}
	upDesk := &client{t: t, base: upURL, token: httpLogin(t, upURL, "desk@clinic.example")}

	// Six half-hour slots per doctor, two days ahead.
	base := time.Now().UTC().Truncate(24 * time.Hour).Add(48*time.Hour + 10*time.Hour)
	const slots = 6
	slotStart := func(k int) time.Time { return base.Add(time.Duration(k) * 30 * time.Minute) }

	var nodes []*chaosNode
	// enroll makes a node: a front desk and an admin, enrolled with the
	// server at upURL (admin: that server's admin) through a fault proxy.
	enroll := func(name string, i int, admin *client, upURL, upDBURL, upDataDir, dbURL string, top bool) *chaosNode {
		var code struct {
			Code string `json:"code"`
		}
		if st := admin.do("POST", "/api/v1/sync/enrollments", map[string]any{"name": name}, &code); st != 201 {
			t.Fatalf("enrolment code: %d", st)
		}
		// One clock is right, one 10 minutes fast, one 10 minutes slow.
		n := &chaosNode{name: name, proxy: newFaultProxy(t, name, upURL), vars: testEnv(t, dbURL), dbURL: dbURL,
			offset: []time.Duration{0, 10 * time.Minute, -10 * time.Minute}[i%3], upURL: upDBURL, upDir: upDataDir, top: top}
		n.dataDir = n.vars["HEALTHHUB_DATA_DIR"]
		n.vars["HEALTHHUB_CLOCK_OFFSET"] = n.offset.String()
		n.vars["HEALTHHUB_SYNC_INTERVAL"] = "200ms"
		n.vars["HEALTHHUB_LOG_LEVEL"] = "error"
		// A fixed port, so that its own nodes find it again after a restart.
		n.vars["HEALTHHUB_ADDR"] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		for _, role := range []string{"staff", "admin"} {
			email := "desk@" + name + ".example"
			if role == "admin" {
				email = "admin@" + name + ".example"
			}
			if out, err := run(t, n.vars, "correct horse battery", "user", "create", "--email", email, "--role", role, "--password-stdin"); err != nil {
				t.Fatalf("node account: %v %s", err, out)
			}
		}
		if out, err := run(t, n.vars, "", "sync", "enroll", "--upstream", n.proxy.URL(), "--code", code.Code, "--name", name); err != nil {
			t.Fatalf("enrol %s: %v %s", name, err, out)
		}
		n.cmd, n.url = startChild(t, n.vars)
		n.token = httpLogin(t, n.url, "desk@"+name+".example")
		var me struct {
			ID string `json:"id"`
		}
		n.client(t).do("GET", "/api/v1/me", nil, &me)
		n.userID = me.ID
		nodes = append(nodes, n)
		return n
	}
	if twoHops {
		clinic := enroll("clinic", 0, upAdmin, upURL, dbURL, upDir, storetest.NewPostgresSchema(t), true)
		clinicAdmin := &client{t: t, base: clinic.url, token: httpLogin(t, clinic.url, "admin@clinic.example")}
		enroll("ws-0", 1, clinicAdmin, clinic.url, clinic.dbURL, clinic.dataDir, "", false)
		enroll("ws-1", 2, clinicAdmin, clinic.url, clinic.dbURL, clinic.dataDir, "", false)
		enroll("ws-2", 0, upAdmin, upURL, dbURL, upDir, "", true)
	} else {
		for i := range 3 {
			enroll(fmt.Sprintf("ws-%d", i), i, upAdmin, upURL, dbURL, upDir, "", true)
		}
	}
	for _, n := range nodes {
		eventually(t, n.name+" pulls the clinic", func() bool {
			c := n.client(t)
			for _, p := range patients {
				if c.do("GET", "/api/v1/patients/"+p, nil, &struct{}{}) != 200 {
					return false
				}
			}
			var free struct {
				Slots []any `json:"slots"`
			}
			for _, d := range doctors {
				st := c.do("GET", fmt.Sprintf("/api/v1/doctors/%s/slots?from=%s&to=%s", d, base.Format(time.RFC3339), base.Add(3*time.Hour).Format(time.RFC3339)), nil, &free)
				if st != 200 || len(free.Slots) == 0 {
					return false
				}
			}
			return true
		})
	}

	figures := &chaosFigures{}
	var acknowledged sync.Map // appointment id → node, for bookings answered 201
	deadline := time.Now().Add(length)
	var wg sync.WaitGroup
	for i, n := range nodes {
		work := rand.New(rand.NewPCG(seed, uint64(2*i)))
		faults := rand.New(rand.NewPCG(seed, uint64(2*i+1)))
		wg.Go(func() { chaosWorker(t, n, work, deadline, doctors, patients, slots, slotStart, figures, &acknowledged) })
		wg.Go(func() { chaosFaults(t, n, faults, deadline, figures) })
	}
	wg.Wait()

	// Heal everything.
	for _, n := range nodes {
		n.proxy.proxy.Toxics.ResetToxics(context.Background())
		n.mu.Lock()
		if n.cut {
			n.proxy.heal()
			n.cut = false
		}
		n.mu.Unlock()
	}
	healed := time.Now()
	t.Logf("requests: %s", figures.dump(&figures.requests))
	t.Logf("faults injected: %s", figures.dump(&figures.faults))

	list := func(c *client) map[string]apptState {
		m := map[string]apptState{}
		for _, d := range doctors {
			var out struct {
				Appointments []appt `json:"appointments"`
			}
			if st := rawDo(c, "GET", "/api/v1/appointments?doctor_id="+d, nil, &out); st != 200 {
				return nil
			}
			for _, a := range out.Appointments {
				m[a.ID] = apptState{a.DoctorID, a.Status, a.Start, a.End}
			}
		}
		return m
	}
	var want map[string]apptState
	defer func() {
		if !t.Failed() {
			return
		}
		// What each node shows, to tell a wedged queue from a missed change.
		up := list(upDesk)
		for _, n := range nodes {
			var st map[string]any
			rawDo(n.client(t), "GET", "/api/v1/sync/status", nil, &st)
			t.Logf("%s status: %v", n.name, st)
			got := list(n.client(t))
			for id, w := range up {
				if got[id] != w {
					t.Logf("%s: %s is %+v here, %+v upstream", n.name, id, got[id], w)
				}
			}
			for id, g := range got {
				if _, ok := up[id]; !ok {
					t.Logf("%s: %s is %+v here, not upstream", n.name, id, g)
				}
			}
		}
	}()
	eventually(t, "every queue drains and every node equals the upstream", func() bool {
		for _, n := range nodes {
			var st syncStatus
			if rawDo(n.client(t), "GET", "/api/v1/sync/status", nil, &st) != 200 || st.Queued != 0 || st.State != "ok" {
				return false
			}
		}
		want = list(upDesk)
		if want == nil {
			return false
		}
		for _, n := range nodes {
			got := list(n.client(t))
			if len(got) != len(want) {
				return false
			}
			for id, w := range want {
				if got[id] != w {
					return false
				}
			}
		}
		return true
	})
	converged := time.Since(healed)

	// No doctor holds two overlapping appointments, anywhere.
	checkNoOverlap(t, "upstream", want)
	for _, n := range nodes {
		checkNoOverlap(t, n.name, list(n.client(t)))
	}

	// Every booking a node answered 201 exists upstream.
	lost := 0
	acknowledged.Range(func(id, _ any) bool {
		if _, ok := want[id.(string)]; !ok {
			lost++
		}
		return true
	})
	if lost > 0 {
		t.Errorf("%d acknowledged bookings are missing upstream", lost)
	}

	// Every op, read from each node's outbox, has exactly one outcome, the
	// same at the node and the upstream; replaying all of them changes
	// nothing; the audit logs match.
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var history []porcupine.Operation
	var totalOps, conflicts, rejected int
	for _, n := range nodes {
		upDB, err := store.Open(context.Background(), n.upURL, n.upDir)
		if err != nil {
			t.Fatal(err)
		}
		upLog := audit.NewLog(upDB, time.Now, logger)
		svc := upstream.New(upDB, nil, upLog, time.Now, logger)
		ops, nodeID := readOutbox(t, n)
		totalOps += len(ops)
		node, err := upDB.SyncNodeByID(context.Background(), nodeID)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range ops {
			res, err := upDB.SyncOpResult(context.Background(), o.op.ID)
			if err != nil {
				t.Fatalf("%s: op %s has no outcome upstream: %v", n.name, o.op.ID, err)
			}
			if res.NodeID != nodeID || res.Outcome != o.outcome {
				t.Fatalf("%s: op %s: upstream %s (%s), node %s", n.name, o.op.ID, res.Outcome, res.NodeID, o.outcome)
			}
			switch res.Outcome {
			case domain.OutcomeConflict:
				conflicts++
			case domain.OutcomeRejected:
				rejected++
			}
		}
		if n.top {
			history = append(history, slotHistory(n, ops, upDB)...)
		}

		before := snapshot(t, upDB)
		pctx := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: "node:" + nodeID, Role: domain.RoleNode})
		for i := 0; i < len(ops); i += 200 {
			var batch []*domain.SyncOp
			for _, o := range ops[i:min(len(ops), i+200)] {
				batch = append(batch, o.op)
			}
			again, err := svc.Apply(pctx, node, upstream.Push{Ops: batch})
			if err != nil {
				t.Fatalf("%s: replay: %v", n.name, err)
			}
			for j, r := range again.Results {
				if r.Outcome != ops[i+j].outcome {
					t.Fatalf("%s: replayed op %s answered %s, first %s", n.name, r.OpID, r.Outcome, ops[i+j].outcome)
				}
			}
		}
		if after := snapshot(t, upDB); after != before {
			t.Fatalf("%s: replaying its ops changed the upstream", n.name)
		}
		checkShippedAudit(t, n, node, upDB)
		upLog.Close()
		upDB.Close()
	}

	// The upstream's decisions per slot are linearizable: a booking or move
	// into a slot was applied only when it was free and refused as taken
	// only when it was held.
	model := porcupine.Model{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			by := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range h {
				k := op.Input.(slotOp).slot
				if _, ok := by[k]; !ok {
					keys = append(keys, k)
				}
				by[k] = append(by[k], op)
			}
			var out [][]porcupine.Operation
			for _, k := range keys {
				out = append(out, by[k])
			}
			return out
		},
		Init: func() any { return "" },
		Step: func(st, in, out any) (bool, any) {
			holder, op, res := st.(string), in.(slotOp), out.(string)
			switch {
			case op.kind == "claim" && res == "applied":
				return holder == "", op.id
			case op.kind == "claim":
				return holder != "" && holder != op.id, holder
			default: // release, applied
				return holder == op.id, ""
			}
		},
		DescribeOperation: func(in, out any) string {
			op := in.(slotOp)
			return fmt.Sprintf("%s %s %s → %s", op.kind, op.id, op.slot, out)
		},
	}
	if res := porcupine.CheckOperationsTimeout(model, history, time.Minute); res != porcupine.Ok {
		t.Fatalf("the per-slot booking history (%d operations) is not linearizable: %v", len(history), res)
	}
	t.Logf("ops %d (conflicts %d, rejected %d), slot history %d operations, appointments %d, converged %.1f s after the last heal",
		totalOps, conflicts, rejected, len(history), len(want), converged.Seconds())
}

// chaosWorker is one front desk: it books, moves and cancels its own
// bookings until the deadline, through the node's API.
func chaosWorker(t *testing.T, n *chaosNode, r *rand.Rand, deadline time.Time, doctors, patients []string, slots int,
	slotStart func(int) time.Time, f *chaosFigures, acknowledged *sync.Map) {
	var mine []string
	for i := 0; time.Now().Before(deadline); i++ {
		time.Sleep(time.Duration(30+r.IntN(120)) * time.Millisecond) // pacing of the front desk, not synchronisation
		c := n.client(t)
		if i%8 == 0 {
			// Each desk changes only its own bookings, so that the history
			// of an appointment is one node's.
			mine = mine[:0]
			for _, d := range doctors {
				var out struct {
					Appointments []struct {
						ID        string `json:"id"`
						Status    string `json:"status"`
						CreatedBy string `json:"created_by"`
					} `json:"appointments"`
				}
				if rawDo(c, "GET", "/api/v1/appointments?doctor_id="+d, nil, &out) == 200 {
					for _, a := range out.Appointments {
						if domain.Blocks(a.Status) && a.CreatedBy == n.userID {
							mine = append(mine, a.ID)
						}
					}
				}
			}
		}
		k := r.IntN(slots)
		start := slotStart(k)
		body := map[string]any{"start": start.Format(time.RFC3339), "end": start.Add(30 * time.Minute).Format(time.RFC3339)}
		switch x := r.IntN(100); {
		case x < 55 || len(mine) == 0:
			body["doctor_id"], body["patient_id"], body["reason"] = doctors[r.IntN(len(doctors))], patients[r.IntN(len(patients))], "chaos"
			var out appt
			st := rawDo(c, "POST", "/api/v1/appointments", body, &out)
			f.count(&f.requests, fmt.Sprintf("book:%d", st))
			if st == 201 {
				acknowledged.Store(out.ID, n.name)
				mine = append(mine, out.ID)
			}
		case x < 80:
			st := rawDo(c, "POST", "/api/v1/appointments/"+mine[r.IntN(len(mine))]+"/reschedule", body, nil)
			f.count(&f.requests, fmt.Sprintf("move:%d", st))
		default:
			j := r.IntN(len(mine))
			st := rawDo(c, "POST", "/api/v1/appointments/"+mine[j]+"/cancel", map[string]string{"reason": "chaos"}, nil)
			f.count(&f.requests, fmt.Sprintf("cancel:%d", st))
			mine = append(mine[:j], mine[j+1:]...)
		}
	}
}

// chaosFaults injects one fault at a time on the node's link or process
// until the deadline.
func chaosFaults(t *testing.T, n *chaosNode, r *rand.Rand, deadline time.Time, f *chaosFigures) {
	hold := func(lo, hi int) { time.Sleep(time.Duration(lo+r.IntN(hi-lo)) * time.Millisecond) } // how long a fault lasts
	for time.Now().Before(deadline) {
		hold(200, 1500)
		kind := []string{"partition", "latency", "reset", "cut", "stall", "kill"}[r.IntN(6)]
		f.count(&f.faults, kind)
		switch kind {
		case "partition":
			n.mu.Lock()
			n.proxy.partition()
			n.cut = true
			n.mu.Unlock()
			hold(500, 3000)
			n.mu.Lock()
			n.proxy.heal()
			n.cut = false
			n.mu.Unlock()
		case "latency":
			n.proxy.toxic(fmt.Sprintf(`{"name":"f","type":"latency","stream":"downstream","attributes":{"latency":%d,"jitter":50}}`, 100+r.IntN(300)))
			hold(1000, 3000)
			n.proxy.remove("f")
		case "reset":
			n.proxy.toxic(fmt.Sprintf(`{"name":"f","type":"reset_peer","stream":"upstream","attributes":{"timeout":%d}}`, r.IntN(200)))
			hold(300, 1500)
			n.proxy.remove("f")
		case "cut":
			n.proxy.toxic(fmt.Sprintf(`{"name":"f","type":"limit_data","stream":"%s","attributes":{"bytes":%d}}`,
				[]string{"upstream", "downstream"}[r.IntN(2)], 100+r.IntN(2000)))
			hold(500, 2000)
			n.proxy.remove("f")
		case "stall":
			// A one-way partition: requests, or only their answers, stop
			// getting through, then the connection drops.
			n.proxy.toxic(fmt.Sprintf(`{"name":"f","type":"timeout","stream":"%s","attributes":{"timeout":500}}`, []string{"upstream", "downstream"}[r.IntN(2)]))
			hold(500, 2000)
			n.proxy.remove("f")
		case "kill":
			n.mu.Lock()
			n.cmd.Process.Kill()
			n.cmd.Wait()
			n.mu.Unlock()
			hold(300, 2000)
			cmd, url := startChild(t, n.vars)
			n.mu.Lock()
			n.cmd, n.url = cmd, url
			n.mu.Unlock()
		}
	}
}

type apptState struct{ Doctor, Status, Start, End string }

func checkNoOverlap(t *testing.T, where string, m map[string]apptState) {
	t.Helper()
	type iv struct{ id, doctor, start, end string }
	var held []iv
	for id, a := range m {
		if domain.Blocks(a.Status) {
			held = append(held, iv{id, a.Doctor, a.Start, a.End})
		}
	}
	for i := range held {
		for j := range i {
			if held[i].doctor == held[j].doctor && held[i].start < held[j].end && held[j].start < held[i].end {
				t.Errorf("%s: %s and %s overlap", where, held[i].id, held[j].id)
			}
		}
	}
}

type outboxOp struct {
	op       *domain.SyncOp
	outcome  string
	answered time.Time
}

// readOutbox reads the node's whole outbox and its node id from its
// database file, beside the running process.
func readOutbox(t *testing.T, n *chaosNode) ([]outboxOp, string) {
	t.Helper()
	driver, dsn, q := "sqlite", "file:"+filepath.Join(n.dataDir, store.SQLiteFile)+"?mode=ro&_pragma=busy_timeout(10000)",
		`SELECT payload, outcome, answered_at FROM sync_outbox ORDER BY seq`
	if n.dbURL != "" {
		driver, dsn = "pgx", n.dbURL
		q = `SELECT payload::text, outcome, COALESCE(to_char(answered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '') FROM sync_outbox ORDER BY seq`
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var nodeID string
	if err := db.QueryRow(`SELECT value FROM sync_values WHERE key = 'node_id'`).Scan(&nodeID); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxOp
	for rows.Next() {
		var payload, outcome, answered string
		if err := rows.Scan(&payload, &outcome, &answered); err != nil {
			t.Fatal(err)
		}
		var o outboxOp
		o.op, o.outcome = &domain.SyncOp{}, outcome
		if err := json.Unmarshal([]byte(payload), o.op); err != nil {
			t.Fatal(err)
		}
		if answered == "" {
			t.Fatalf("%s: op %s is unanswered after the queue drained", n.name, o.op.ID)
		}
		if o.answered, err = time.Parse(time.RFC3339Nano, answered); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out, nodeID
}

// slotOp is one decision of the upstream about one slot.
type slotOp struct {
	kind, id, slot string
}

// slotHistory turns a node's answered ops into per-slot claims and
// releases, each between the op's making and its answer's arrival.
func slotHistory(n *chaosNode, ops []outboxOp, upDB store.DB) []porcupine.Operation {
	var out []porcupine.Operation
	cur := map[string]string{} // appointment → the slot it holds upstream
	slotOf := func(a *domain.Appointment) string { return a.DoctorID + "|" + a.Start.UTC().Format(time.RFC3339) }
	// Both times are on the node's clock; the test knows how wrong it is.
	add := func(kind, id, slot, result string, o outboxOp) {
		out = append(out, porcupine.Operation{Input: slotOp{kind, id, slot}, Output: result,
			Call: o.op.CreatedAt.Add(-n.offset).UnixNano(), Return: o.answered.Add(-n.offset).UnixNano()})
	}
	for _, o := range ops {
		a := o.op.Appointment
		res, err := upDB.SyncOpResult(context.Background(), o.op.ID)
		if err != nil {
			continue
		}
		taken := o.outcome == domain.OutcomeConflict && strings.Contains(res.Reason, "Another booking took this time")
		held, holds := cur[a.ID]
		switch {
		case o.op.Kind == domain.OpBook && o.outcome == domain.OutcomeApplied && !domain.Blocks(a.Status):
			// A booking that lost one hop down, passed on as what it is.
		case o.op.Kind == domain.OpBook && o.outcome == domain.OutcomeApplied:
			add("claim", a.ID, slotOf(a), "applied", o)
			cur[a.ID] = slotOf(a)
		case o.op.Kind == domain.OpBook && taken:
			add("claim", a.ID, slotOf(a), "taken", o)
		case o.op.Kind == domain.OpUpdate && !domain.Blocks(a.Status) && o.outcome == domain.OutcomeApplied:
			if holds {
				add("release", a.ID, held, "applied", o)
				delete(cur, a.ID)
			}
		case o.op.Kind == domain.OpUpdate && domain.Blocks(a.Status) && holds && slotOf(a) != held:
			if o.outcome == domain.OutcomeApplied {
				add("release", a.ID, held, "applied", o)
				add("claim", a.ID, slotOf(a), "applied", o)
				cur[a.ID] = slotOf(a)
			} else if taken {
				add("claim", a.ID, slotOf(a), "taken", o)
			}
		}
	}
	return out
}

// snapshot is the upstream's appointments, to compare before and after a
// replay.
func snapshot(t *testing.T, db store.DB) string {
	t.Helper()
	list, err := db.ListAppointments(context.Background(), domain.AppointmentFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, a := range list {
		fmt.Fprintf(&b, "%s %s %s %s %s\n", a.ID, a.Status, a.Start, a.End, a.UpdatedAt)
	}
	return b.String()
}

// checkShippedAudit waits until the node has shipped its whole log, then
// compares the upstream's copy event by event and verifies the last
// checkpoint against the tree the upstream stores.
func checkShippedAudit(t *testing.T, n *chaosNode, node *domain.SyncNode, upDB store.DB) {
	t.Helper()
	eventually(t, n.name+" ships its whole audit log", func() bool {
		var st syncStatus
		return rawDo(n.client(t), "GET", "/api/v1/sync/status", nil, &st) == 200 && st.AuditShipped == st.AuditLocal
	})
	nodeDB, err := store.Open(context.Background(), n.dbURL, n.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer nodeDB.Close()
	ctx := context.Background()
	st, err := upDB.SyncAuditState(ctx, node.ID)
	if err != nil {
		t.Fatal(err)
	}
	local, err := nodeDB.ScanAudit(ctx, 0, int(st.Size)+1000)
	if err != nil {
		t.Fatal(err)
	}
	held, err := upDB.SyncAuditEvents(ctx, node.ID, 0, int(st.Size)+1000)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(held)) != st.Size || len(local) < len(held) {
		t.Fatalf("%s: upstream holds %d events (size %d), node has %d", n.name, len(held), st.Size, len(local))
	}
	for i, e := range held {
		if e.Hash != local[i].Hash || e.ComputeHash() != e.Hash {
			t.Fatalf("%s: event %d differs upstream", n.name, e.Seq)
		}
	}
	v, err := note.NewVerifier(node.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := auditship.Open(st.Checkpoint, v)
	if err != nil {
		t.Fatalf("%s: the last checkpoint does not verify: %v", n.name, err)
	}
	tree := auditship.LoadTree(st.Size, st.HeadHash, hashReader{ctx, upDB, node.ID})
	root, err := tree.Root()
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != st.Size || c.Root != root {
		t.Fatalf("%s: checkpoint %d %x, tree %d %x", n.name, c.Size, c.Root, st.Size, root)
	}
}

type hashReader struct {
	ctx  context.Context
	db   store.DB
	node string
}

func (h hashReader) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	got, err := h.db.SyncTreeHashes(h.ctx, h.node, idx)
	out := make([]tlog.Hash, len(got))
	for i, x := range got {
		out[i] = x
	}
	return out, err
}
