package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/internal/proccpu"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/sync/node"
	"github.com/healthhub/healthhub/backend/sync/upstream"
)

// The sync scenario: an upstream HealthHub on the engine measured, and
// o.SyncNodes workstations (SQLite, each in its own data folder) enrolled
// with it by an admin's one-time codes, as `healthhubd sync enroll` does.
// Each node's front desk books at a fixed rate, through the portal as the
// HTTP handler does; each booking is pending locally, queued in the outbox
// and pushed by the node's sync loop, which a queued change starts at once.
// The upstream applies each op once; the node then marks the booking
// booked, and a front desk's live connection to the node hears of it. The
// figures are the ops applied per second, the lag from a booking's local
// commit to its confirmation at its node, and the CPU the whole process
// (upstream, nodes and load together) spent per op applied. Afterwards
// every queue must drain, every op be answered once, and the upstream hold
// no overlapping bookings.
//
// The upstream's goroutines carry the pprof label sync=upstream, the nodes'
// sync=node, the front desks' sync=desk: a CPU profile of the scenario
// (go test -cpuprofile) splits by them with -tagfocus.

const (
	// syncDoctors see patients all day every day, in 30-minute slots.
	syncDoctors     = 3
	syncPatients    = 300
	syncSlotsPerDay = 47 // 00:00–23:30
	// Plain bookings take slots from tomorrow on, the nodes' in turn, so no
	// two nodes aim at the same one; races take slots from syncRaceDay on.
	syncRaceDay = 600
	syncDays    = 698
	// syncInterval is the nodes' timer between rounds; a queued booking
	// starts a round at once, as in production.
	syncInterval = 50 * time.Millisecond
	// syncSetupTimeout bounds each node's first pull (the doctors, their
	// hours and the patients); syncDrainTimeout the drain after the window.
	syncSetupTimeout = 2 * time.Minute
	syncDrainTimeout = 2 * time.Minute
	// maxSyncNodes bounds Options.SyncNodes.
	maxSyncNodes = 64
)

// SyncResult is the sync scenario's outcome on one upstream engine.
type SyncResult struct {
	Engine string
	Nodes  int
	// Target is the booking rate asked of all the nodes together, per second.
	Target float64
	Window time.Duration
	// Offered counts the bookings started in the window, Committed those the
	// nodes made (pending, queued), Refused those a node refused itself as
	// taken (it had pulled the other node's booking of a raced slot first),
	// and Failed those that failed otherwise, FirstError naming one.
	Offered, Committed, Refused, Failed int64
	FirstError                          string
	// BookP50 and BookP99 are the local bookings' latencies in the window.
	BookP50, BookP99 time.Duration
	// Applied counts the ops answered applied in the window, over all the
	// nodes; Rounds the nodes' sync rounds in it, and FailedRounds those of
	// the whole run that failed (to be retried).
	Applied, Rounds, FailedRounds int64
	// Lag is from a booking's local commit (Book returned) to its node's
	// live event that the upstream applied it, for the bookings of the
	// window that were applied; Lags counts them.
	LagP50, LagP99, LagMax time.Duration
	Lags                   int
	// Over the whole run: the ops queued (bookings committed) and their
	// answers by outcome.
	Queued, AnsweredApplied, Conflicts, Rejected int64
	// Unconfirmed counts applied bookings whose live event no front desk
	// saw; Disconnects the front desks' live connections a node ended.
	Unconfirmed, Disconnects int
	// CPU is the process's CPU time in the window (the upstream, the nodes
	// and the load together); CPUKnown is false where it cannot be read.
	CPU      time.Duration
	CPUKnown bool
	// Drain is how long after the window every node's queue took to empty.
	Drain time.Duration
	// The upstream's appointments after the drain: those holding time, the
	// cancelled ones (lost races), and how many overlap an earlier one.
	Booked, Cancelled, Overlaps int
	// Exhausted is set when a node ran out of slots to book.
	Exhausted bool
	// Problems are the checks that failed; the scenario then fails.
	Problems []string
}

// AppliedRate is ops applied per second over the window.
func (r SyncResult) AppliedRate() float64 { return rate(r.Applied, r.Window) }

// OfferedRate is bookings started per second over the window.
func (r SyncResult) OfferedRate() float64 { return rate(r.Offered, r.Window) }

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// syncNode is one workstation of the scenario.
type syncNode struct {
	i     int
	h     *harness
	db    *database
	token string
	desk  context.Context // the front desk's, as the HTTP handler makes it
	// seen is when each appointment's first appointment.changed or
	// sync.conflict event reached the front desk's live connection.
	mu          sync.Mutex
	seen        map[string]time.Time
	disconnects int
	// bookings the front desk made.
	bookings []syncBooking
}

type syncBooking struct {
	id       string
	start    time.Time // Book called
	commit   time.Time // Book returned
	inWindow bool
}

// BenchSync runs the sync scenario with the upstream on e.
func BenchSync(ctx context.Context, e Engine, o Options) (res SyncResult, err error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return SyncResult{}, err
	}
	res = SyncResult{Engine: e.Name, Nodes: o.SyncNodes, Target: float64(o.SyncNodes) * o.SyncRate, Window: o.Duration}
	// Each server keeps a few connections, and each node a few files.
	if err := ensureOpenFiles(uint64(64*(o.SyncNodes+1) + 256)); err != nil {
		return res, fmt.Errorf("%s sync: %w", e.Name, err)
	}
	db, err := e.fresh(ctx, o.TempDir)
	if err != nil {
		return res, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer func() {
		if cerr := db.Close(ctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", e.Name, cerr))
		}
	}()
	if err := benchSync(ctx, db, o, &res); err != nil {
		return res, fmt.Errorf("%s sync: %w", e.Name, err)
	}
	return res, nil
}

func benchSync(ctx context.Context, db *database, o Options, res *SyncResult) (err error) {
	var up *harness
	pprof.Do(ctx, pprof.Labels("sync", "upstream"), func(ctx context.Context) {
		up, err = startServer(ctx, db, o, 64)
	})
	if err != nil {
		return err
	}
	// The upstream stops first, finishing the requests in flight; the
	// nodes then find it gone, as when it is offline.
	nodes := make([]*syncNode, 0, o.SyncNodes)
	defer func() {
		err = errors.Join(err, up.close())
		for _, n := range nodes {
			err = errors.Join(err, n.h.close(), n.db.Close(context.WithoutCancel(ctx)))
		}
	}()
	doctors, patients, admin, err := seedSyncUpstream(ctx, up)
	if err != nil {
		return err
	}

	for i := range o.SyncNodes {
		n, err := startSyncNode(ctx, o, i, up, admin)
		if n != nil {
			nodes = append(nodes, n)
		}
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
	}
	// Every node has pulled the doctors, their hours and the patients.
	for _, n := range nodes {
		if err := n.awaitReference(ctx, doctors, patients[len(patients)-1]); err != nil {
			return fmt.Errorf("node %d: %w", n.i, err)
		}
	}
	watchCtx, stopWatching := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	defer func() { stopWatching(); watchers.Wait() }()
	for _, n := range nodes {
		ready := make(chan error, 1)
		watchers.Go(func() {
			pprof.Do(watchCtx, pprof.Labels("sync", "desk"), func(ctx context.Context) { n.watch(ctx, ready) })
		})
		if err := <-ready; err != nil {
			return fmt.Errorf("node %d live connection: %w", n.i, err)
		}
	}

	// The load: node i's j-th booking at t0 + j/rate, for the warm-up and
	// the window.
	t0 := time.Now().Add(50 * time.Millisecond)
	start := t0.Add(o.Warmup)
	end := start.Add(o.Duration)
	every := time.Duration(float64(time.Second) / o.SyncRate)
	raceEvery := 0
	if o.SyncRaceShare > 0 {
		raceEvery = max(1, int(1/o.SyncRaceShare+0.5))
	}
	slots := newSyncSlots(time.Now(), o.SyncNodes, doctors, patients)
	var offered, committed, refused, failed atomic.Int64
	var exhausted atomic.Bool
	var firstErr atomic.Pointer[string]
	bookLat := make([][]time.Duration, len(nodes))
	var desks sync.WaitGroup
	for k, n := range nodes {
		desks.Go(func() {
			pprof.Do(ctx, pprof.Labels("sync", "desk"), func(context.Context) {
				plain, races := 0, 0
				for j := 0; ctx.Err() == nil; j++ {
					at := t0.Add(time.Duration(j) * every)
					if !at.Before(end) {
						return
					}
					if !sleepUntil(ctx, at) {
						return
					}
					var req portal.BookRequest
					var ok bool
					if raceEvery > 0 && (j+1)%raceEvery == 0 {
						req, ok = slots.race(n.i, races)
						races++
					} else {
						req, ok = slots.plain(n.i, plain)
						plain++
					}
					if !ok {
						exhausted.Store(true)
						return
					}
					b := syncBooking{start: time.Now()}
					b.inWindow = !b.start.Before(start) && b.start.Before(end)
					if b.inWindow {
						offered.Add(1)
					}
					booked, err := n.h.sys.Portal.Book(n.desk, req, "")
					b.commit = time.Now()
					switch {
					case err == nil:
						b.id = booked.Appointment.ID
						n.bookings = append(n.bookings, b)
						if b.inWindow {
							committed.Add(1)
							bookLat[k] = append(bookLat[k], b.commit.Sub(b.start))
						}
					case domain.IsCode(err, domain.ECONFLICT):
						refused.Add(1)
					default:
						if ctx.Err() != nil {
							return
						}
						failed.Add(1)
						msg := err.Error()
						firstErr.CompareAndSwap(nil, &msg)
					}
				}
			})
		})
	}

	// The window's counts and CPU, taken at its edges.
	counts := func() (applied, rounds int64) {
		for _, n := range nodes {
			c := n.h.sys.Node.Counts()
			applied += c.Applied
			rounds += c.Rounds
		}
		return applied, rounds
	}
	sleepUntil(ctx, start)
	applied0, rounds0 := counts()
	cpu0, cpuOK0 := proccpu.Of(0)
	sleepUntil(ctx, end)
	applied1, rounds1 := counts()
	cpu1, cpuOK1 := proccpu.Of(0)
	res.Applied, res.Rounds = applied1-applied0, rounds1-rounds0
	res.CPU, res.CPUKnown = cpu1-cpu0, cpuOK0 && cpuOK1
	desks.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	res.Offered, res.Committed, res.Refused, res.Failed = offered.Load(), committed.Load(), refused.Load(), failed.Load()
	res.Exhausted = exhausted.Load()
	if p := firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	all := slices.Concat(bookLat...)
	slices.Sort(all)
	res.BookP50, res.BookP99 = percentile(all, 0.50), percentile(all, 0.99)

	// Drain: every queue empties, and every booking is answered.
	drained := time.Now()
	for _, n := range nodes {
		res.Queued += int64(len(n.bookings))
	}
	for deadline := drained.Add(syncDrainTimeout); ; {
		queued := 0
		for _, n := range nodes {
			q, _, err := n.h.sys.Store.OutboxStats(ctx)
			if err != nil {
				return fmt.Errorf("node %d outbox: %w", n.i, err)
			}
			queued += q
		}
		var answered int64
		for _, n := range nodes {
			c := n.h.sys.Node.Counts()
			answered += c.Applied + c.Conflicts + c.Rejected
		}
		if queued == 0 && answered >= res.Queued {
			break
		}
		if time.Now().After(deadline) {
			res.Problems = append(res.Problems, fmt.Sprintf("the queues did not drain: %d ops still queued, %d of %d answered %s after the window",
				queued, answered, res.Queued, syncDrainTimeout))
			return errors.New(strings.Join(res.Problems, "; "))
		}
		if !sleepUntil(ctx, time.Now().Add(10*time.Millisecond)) {
			return ctx.Err()
		}
	}
	res.Drain = time.Since(drained)
	for _, n := range nodes {
		c := n.h.sys.Node.Counts()
		res.AnsweredApplied += c.Applied
		res.Conflicts += c.Conflicts
		res.Rejected += c.Rejected
		res.FailedRounds += c.Failures
	}

	// The live events of the last answers may still be on their way.
	lags, unconfirmed := collectLags(ctx, nodes, res.AnsweredApplied)
	slices.Sort(lags)
	res.Lags, res.Unconfirmed = len(lags), unconfirmed
	res.LagP50, res.LagP99 = percentile(lags, 0.50), percentile(lags, 0.99)
	if len(lags) > 0 {
		res.LagMax = lags[len(lags)-1]
	}
	for _, n := range nodes {
		n.mu.Lock()
		res.Disconnects += n.disconnects
		n.mu.Unlock()
	}

	// The upstream's schedule: no overlap, and as many held as applied.
	for _, d := range doctors {
		list, err := doctorAppointments(ctx, up.sys.Store, d)
		if err != nil {
			return err
		}
		held, overlaps := countOverlaps(list)
		res.Booked += held
		res.Overlaps += overlaps
		for _, a := range list {
			if a.Status == domain.StatusCancelled {
				res.Cancelled++
			}
		}
	}
	if res.Overlaps > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d overlapping booked appointments upstream", res.Overlaps))
	}
	if answered := res.AnsweredApplied + res.Conflicts + res.Rejected; answered != res.Queued {
		res.Problems = append(res.Problems, fmt.Sprintf("%d answers for %d ops queued", answered, res.Queued))
	}
	if int64(res.Booked) != res.AnsweredApplied {
		res.Problems = append(res.Problems, fmt.Sprintf("the upstream holds %d appointments for %d ops answered applied", res.Booked, res.AnsweredApplied))
	}
	if int64(res.Cancelled) != res.Conflicts {
		res.Problems = append(res.Problems, fmt.Sprintf("the upstream keeps %d lost bookings for %d conflicts answered", res.Cancelled, res.Conflicts))
	}
	if len(res.Problems) > 0 {
		return errors.New(strings.Join(res.Problems, "; "))
	}
	return nil
}

// seedSyncUpstream makes the upstream's admin, doctors with hours all day
// for 700 days, and patients; it returns the admin's context.
func seedSyncUpstream(ctx context.Context, up *harness) (doctors, patients []string, admin context.Context, err error) {
	sysCtx := domain.WithPrincipal(ctx, domain.System)
	const adminEmail = "sync.admin@example.org"
	password := rand.Text()
	if _, err := up.sys.Auth.CreateUser(sysCtx, auth.NewAccount{Email: adminEmail, Password: password, Name: "Sync Admin", Role: domain.RoleAdmin}); err != nil {
		return nil, nil, nil, fmt.Errorf("create admin: %w", err)
	}
	admin, _, err = signIn(ctx, up, adminEmail, password)
	if err != nil {
		return nil, nil, nil, err
	}
	weekly := make([]domain.WeeklyHours, 0, 7)
	for day := range 7 {
		weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "00:00", End: "23:30"})
	}
	for i := range syncDoctors {
		d, err := up.sys.Portal.CreateDoctor(sysCtx, portal.NewDoctor{Email: fmt.Sprintf("sync.doctor%d@example.org", i), Password: rand.Text(),
			Name: fmt.Sprintf("Sync Doctor %d", i), Specialization: "General practice"})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("create doctor: %w", err)
		}
		if _, err := up.sys.Portal.SetAvailability(sysCtx, d.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 700, Weekly: weekly}); err != nil {
			return nil, nil, nil, fmt.Errorf("set availability: %w", err)
		}
		doctors = append(doctors, d.ID)
	}
	for i := range syncPatients {
		name, born := fmt.Sprintf("Sync Patient %d", i), "1980-01-01"
		p, err := up.sys.Portal.CreatePatient(sysCtx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &born}}, false)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("create patient: %w", err)
		}
		patients = append(patients, p.ID)
	}
	return doctors, patients, admin, nil
}

// signIn signs an account in over HTTP and returns a context carrying its
// principal, as the API's authentication makes it, and the access token.
func signIn(ctx context.Context, h *harness, email, password string) (context.Context, string, error) {
	token, err := h.login(ctx, email, password)
	if err != nil {
		return nil, "", err
	}
	p, err := h.sys.Auth.Authenticate(ctx, token)
	if err != nil {
		return nil, "", fmt.Errorf("authenticate: %w", err)
	}
	ctx = domain.WithRequestMeta(ctx, domain.RequestMeta{SourceIP: "127.0.0.1"})
	return domain.WithPrincipal(ctx, p), token, nil
}

// startSyncNode opens a node on a fresh SQLite database with a front desk
// account, and enrols it with the upstream by a code the admin made there.
func startSyncNode(ctx context.Context, o Options, i int, up *harness, admin context.Context) (*syncNode, error) {
	db, err := Engine{Name: "sqlite"}.fresh(ctx, o.TempDir)
	if err != nil {
		return nil, err
	}
	var h *harness
	pprof.Do(ctx, pprof.Labels("sync", "node"), func(ctx context.Context) {
		h, err = startServerWith(ctx, db, o, 4, func(c *serverConfig) { c.SyncInterval = syncInterval })
	})
	if err != nil {
		return nil, errors.Join(err, db.Close(ctx))
	}
	n := &syncNode{i: i, h: h, db: db, seen: map[string]time.Time{}}
	sysCtx := domain.WithPrincipal(ctx, domain.System)
	email, password := fmt.Sprintf("desk@node%d.example.org", i), rand.Text()
	if _, err := h.sys.Auth.CreateUser(sysCtx, auth.NewAccount{Email: email, Password: password, Name: fmt.Sprintf("Front Desk %d", i), Role: domain.RoleStaff}); err != nil {
		return n, fmt.Errorf("create front desk account: %w", err)
	}
	if n.desk, n.token, err = signIn(ctx, h, email, password); err != nil {
		return n, err
	}
	name := "bench-node-" + strconv.Itoa(i)
	code, err := up.sys.Upstream.CreateEnrollment(admin, upstream.NewEnrollment{Name: name})
	if err != nil {
		return n, fmt.Errorf("enrolment code: %w", err)
	}
	if _, err := h.sys.Node.Enroll(sysCtx, node.EnrollOptions{Upstream: up.base, Code: code.Code, Name: name}); err != nil {
		return n, fmt.Errorf("enrol: %w", err)
	}
	return n, nil
}

// awaitReference waits until the node has pulled every doctor's hours and
// the last patient made.
func (n *syncNode) awaitReference(ctx context.Context, doctors []string, lastPatient string) error {
	deadline := time.Now().Add(syncSetupTimeout)
	for {
		ready := true
		for _, d := range doctors {
			if av, err := n.h.sys.Store.Availability(ctx, d); err != nil || len(av.Weekly) == 0 {
				ready = false
				break
			}
		}
		if ready {
			if _, err := n.h.sys.Store.PatientByID(ctx, lastPatient); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			st, _ := n.h.sys.Node.Status(ctx)
			detail := ""
			if st != nil {
				detail = fmt.Sprintf(" (state %s, last error %q)", st.State, st.LastError)
			}
			return fmt.Errorf("the doctors' hours and the patients were not pulled within %s%s", syncSetupTimeout, detail)
		}
		if !sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
			return ctx.Err()
		}
	}
}

// watch keeps the front desk's live connection to the node open until ctx
// ends, noting when each appointment's first appointment.changed event as
// booked arrived: the node's news that the upstream applied its booking. It reports on ready once first connected;
// when the node ends the connection (a client too slow for its queue), it
// counts it and connects again.
func (n *syncNode) watch(ctx context.Context, ready chan<- error) {
	url := strings.Replace(n.h.base, "http", "ws", 1) + "/api/v1/ws?access_token=" + n.token
	first := true
	defer func() {
		if first {
			ready <- ctx.Err()
		}
	}()
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		c, _, err := websocket.Dial(dctx, url, nil)
		cancel()
		if first {
			ready <- err
			first = false
			if err != nil {
				return
			}
		}
		if err != nil {
			if !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
				return
			}
			continue
		}
		c.SetReadLimit(1 << 20)
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				break
			}
			at := time.Now()
			// The appointment as it is now (or, from older nodes, the op's
			// result naming its outcome).
			var ev struct {
				Type string `json:"type"`
				ID   string `json:"id"`
				Data struct {
					Status  string `json:"status"`
					Outcome string `json:"outcome"`
				} `json:"data"`
			}
			if json.Unmarshal(b, &ev) != nil || ev.Type != domain.EventAppointmentChanged ||
				(ev.Data.Status != domain.StatusBooked && ev.Data.Outcome != domain.OutcomeApplied) {
				continue
			}
			n.mu.Lock()
			if _, ok := n.seen[ev.ID]; !ok {
				n.seen[ev.ID] = at
			}
			n.mu.Unlock()
		}
		c.CloseNow()
		if ctx.Err() == nil {
			n.mu.Lock()
			n.disconnects++
			n.mu.Unlock()
		}
	}
}

// collectLags waits (up to a few seconds) until the front desks have seen
// an event for as many of their bookings as were applied, then returns the
// lags of the window's bookings that were applied, and how many applied
// bookings no event was seen for. A booking that lost its race is not a
// lag.
func collectLags(ctx context.Context, nodes []*syncNode, applied int64) ([]time.Duration, int) {
	seenAll := func() bool {
		var seen int64
		for _, n := range nodes {
			n.mu.Lock()
			for _, b := range n.bookings {
				if _, ok := n.seen[b.id]; ok {
					seen++
				}
			}
			n.mu.Unlock()
		}
		return seen >= applied
	}
	for deadline := time.Now().Add(5 * time.Second); !seenAll() && time.Now().Before(deadline); {
		if !sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
			break
		}
	}
	var lags []time.Duration
	unconfirmed := 0
	for _, n := range nodes {
		for _, b := range n.bookings {
			a, err := n.h.sys.Store.AppointmentByID(ctx, b.id)
			if err != nil || a.Status != domain.StatusBooked {
				continue // lost its race (cancelled), or was not answered
			}
			n.mu.Lock()
			at, ok := n.seen[b.id]
			n.mu.Unlock()
			switch {
			case !ok:
				unconfirmed++
			case b.inWindow:
				// A round that started before Book returned can answer the
				// op before its caller hears of the commit.
				lags = append(lags, max(0, at.Sub(b.commit)))
			}
		}
	}
	return lags, unconfirmed
}

// syncSlots hands out the slots the nodes book: node i's k-th plain
// booking takes plain slot k·nodes + i, so no two nodes aim at the same
// one; the r-th race of node i takes the race slot of pair i/2, which its
// partner aims at at the same moment.
type syncSlots struct {
	day0     time.Time
	nodes    int
	doctors  []string
	patients []string
}

func newSyncSlots(now time.Time, nodes int, doctors, patients []string) syncSlots {
	return syncSlots{day0: now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour), nodes: nodes, doctors: doctors, patients: patients}
}

// at is slot n of the days from day: the doctors side by side, then the
// half hours of each day.
func (s syncSlots) at(day, n int) portal.BookRequest {
	d := len(s.doctors)
	k := n / d
	start := s.day0.Add(time.Duration(day+k/syncSlotsPerDay)*24*time.Hour + time.Duration(k%syncSlotsPerDay)*30*time.Minute)
	return portal.BookRequest{DoctorID: s.doctors[n%d], Start: start, End: start.Add(30 * time.Minute), Reason: "sync benchmark"}
}

func (s syncSlots) plain(node, k int) (portal.BookRequest, bool) {
	n := k*s.nodes + node
	if n >= syncRaceDay*syncSlotsPerDay*len(s.doctors) {
		return portal.BookRequest{}, false
	}
	req := s.at(0, n)
	req.PatientID = s.patients[n%len(s.patients)]
	return req, true
}

func (s syncSlots) race(node, r int) (portal.BookRequest, bool) {
	pairs := max(1, s.nodes/2)
	n := r*pairs + min(node/2, pairs-1)
	if n >= (syncDays-syncRaceDay)*syncSlotsPerDay*len(s.doctors) {
		return portal.BookRequest{}, false
	}
	req := s.at(syncRaceDay, n)
	req.PatientID = s.patients[(n*2+node)%len(s.patients)]
	return req, true
}

// sleepUntil sleeps until t, and reports false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// writeSync writes the sync scenario's table row and its check.
func writeSync(w io.Writer, r SyncResult) {
	if r.Nodes == 0 || r.Window == 0 || (r.Offered == 0 && r.Queued == 0) {
		return
	}
	cpu := "n/a"
	if r.CPUKnown && r.Applied > 0 {
		cpu = fmt.Sprintf("%.2f", msf(r.CPU)/float64(r.Applied))
	}
	writeNote(w, r.Engine, "sync", "%5s %10s %10s %10s %10s %9s %7s %9s", "nodes", "offered/s", "applied/s", "lag p50", "lag p99", "conflicts", "rejects", "CPU ms/op")
	writeNote(w, r.Engine, "sync", "%5d %10.1f %10.1f %10s %10s %9d %7d %9s", r.Nodes, r.OfferedRate(), r.AppliedRate(), ms(r.LagP50), ms(r.LagP99),
		r.Conflicts, r.Rejected, cpu)
	writeNote(w, r.Engine, "sync detail", "target %.0f bookings/s; local Book p50 %s p99 %s; %d refused locally, %d failed; lag max %s over %d bookings; %.1f ops per round, %d rounds failed; CPU of the whole process (upstream, nodes, load)",
		r.Target, ms(r.BookP50), ms(r.BookP99), r.Refused, r.Failed, ms(r.LagMax), r.Lags, ratio(r.Applied, r.Rounds), r.FailedRounds)
	if r.FirstError != "" {
		writeNote(w, "", "", "first error: %s", r.FirstError)
	}
	if r.Unconfirmed > 0 || r.Disconnects > 0 {
		writeNote(w, r.Engine, "sync detail", "%d applied bookings without a live event at their node; %d live connections ended by a node", r.Unconfirmed, r.Disconnects)
	}
	if r.Exhausted {
		writeNote(w, r.Engine, "sync detail", "a node ran out of slots to book before the end")
	}
	if len(r.Problems) > 0 {
		writeNote(w, r.Engine, "sync check", "*** FAILED: %s ***", strings.Join(r.Problems, "; "))
	}
	if r.Drain > 0 {
		writeNote(w, r.Engine, "sync check", "overlapping booked appointments upstream: %d; %d ops queued, answered %d applied, %d conflicts, %d rejected; the upstream holds %d booked, %d lost races cancelled; every queue empty %s after the window",
			r.Overlaps, r.Queued, r.AnsweredApplied, r.Conflicts, r.Rejected, r.Booked, r.Cancelled, ms(r.Drain))
	}
}
