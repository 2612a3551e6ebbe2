package live

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/storetest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgSchema returns the URL of a fresh schema and a notification channel of
// this test's own, or skips when no PostgreSQL is configured (outside CI).
func pgSchema(t *testing.T) (dbURL, channel string) {
	t.Helper()
	if os.Getenv(storetest.EnvPostgresURL) == "" && os.Getenv("CI") != "true" {
		t.Skipf("%s is not set", storetest.EnvPostgresURL)
	}
	dbURL = storetest.NewPostgresSchema(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return dbURL, "live_" + u.Query().Get("search_path")
}

func newPool(t *testing.T, dbURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// process is one server process: its own pool, bridge and hub.
type process struct {
	pool   *pgxpool.Pool
	bridge *PGBridge
	hub    *Hub
	logs   *logBuffer
}

func startProcess(t *testing.T, dbURL, channel string) *process {
	t.Helper()
	p := &process{pool: newPool(t, dbURL), logs: &logBuffer{}}
	var err error
	if p.bridge, err = NewPGBridge(p.pool, channel, testLogger(p.logs)); err != nil {
		t.Fatal(err)
	}
	p.bridge.minBackoff = 50 * time.Millisecond
	if p.hub, err = NewHub(Options{Bridge: p.bridge}, time.Now, testLogger(p.logs)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.hub.Close)
	waitListening(t, p.bridge, 0)
	return p
}

// waitListening waits for a listening connection other than the one with
// process id old.
func waitListening(t *testing.T, b *PGBridge, old uint32) uint32 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if pid := b.ListenerPID(); pid != 0 && pid != old {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge is not listening (pid %d, old %d)", b.ListenerPID(), old)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPGBridgeAcrossProcesses(t *testing.T) {
	dbURL, channel := pgSchema(t)
	procA, procB := startProcess(t, dbURL, channel), startProcess(t, dbURL, channel)
	srvA, srvB := serve(t, procA.hub, everyone), serve(t, procB.hub, everyone)
	onA, onB, doctorOnB := dial(t, srvA, "a", nil), dial(t, srvB, "a", nil), dial(t, srvB, "b", nil)
	waitConnected(t, procA.hub, 1)
	waitConnected(t, procB.hub, 2)

	publish(t, procA.hub, domain.Event{Type: domain.EventAppointmentBooked, ID: "from-a", Data: json.RawMessage(`{"n":1}`), UserIDs: []string{patientA.UserID}})
	if e := readEvent(t, onB, 60*time.Second); e.ID != "from-a" || string(e.Data) != `{"n":1}` || e.Type != domain.EventAppointmentBooked {
		t.Fatalf("client on B received %+v, want the event published on A", e)
	}
	publish(t, procB.hub, domain.Event{Type: domain.EventAppointmentChanged, ID: "from-b", UserIDs: []string{patientA.UserID}})
	publish(t, procA.hub, domain.Event{Type: domain.EventNotification, ID: "for-doctor", UserIDs: []string{doctorB.UserID}})

	// A's own notification comes back to A before B's does; it must not be
	// delivered a second time.
	if got := readUntil(t, onA, "from-b"); !slices.Equal(got, []string{"from-a", "from-b"}) {
		t.Errorf("client on A received %v, want [from-a from-b]", got)
	}
	if got := readUntil(t, onB, "from-b"); !slices.Equal(got, []string{"from-b"}) {
		t.Errorf("client on B received %v after from-a, want [from-b]", got)
	}
	if got := readUntil(t, doctorOnB, "for-doctor"); !slices.Equal(got, []string{"for-doctor"}) {
		t.Errorf("doctor on B received %v, want only [for-doctor]", got)
	}
}

func TestPGBridgeReconnects(t *testing.T) {
	dbURL, channel := pgSchema(t)
	procA, procB := startProcess(t, dbURL, channel), startProcess(t, dbURL, channel)
	c := dial(t, serve(t, procB.hub, everyone), "s", nil)
	waitConnected(t, procB.hub, 1)

	pid := procB.bridge.ListenerPID()
	var app string
	if err := procA.pool.QueryRow(context.Background(), `SELECT application_name FROM pg_stat_activity WHERE pid = $1`, int64(pid)).Scan(&app); err != nil {
		t.Fatalf("find the listener in pg_stat_activity: %v", err)
	}
	if app != ListenerApplicationName {
		t.Errorf("listener application_name %q, want %q", app, ListenerApplicationName)
	}
	var killed bool
	if err := procA.pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, int64(pid)).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate the listener: %v %v", killed, err)
	}
	newPID := waitListening(t, procB.bridge, pid)
	t.Logf("listener %d terminated, listening again as %d", pid, newPID)

	// Events may have been missed meanwhile: the client is told to reload.
	if e := readEvent(t, c, 60*time.Second); e.Type != TypeResync {
		t.Fatalf("after the reconnect the client received %+v, want %s", e, TypeResync)
	}
	publish(t, procA.hub, domain.Event{Type: domain.EventAppointmentBooked, ID: "after-restart", Roles: []domain.Role{domain.RoleStaff}})
	if e := readEvent(t, c, 60*time.Second); e.ID != "after-restart" {
		t.Fatalf("client on B received %+v, want the event published after the reconnect", e)
	}
	if logs := procB.logs.String(); !strings.Contains(logs, "lost the PostgreSQL listening connection") || !strings.Contains(logs, "listening to other server processes again") {
		t.Errorf("the outage and the recovery are not logged:\n%s", logs)
	}
}

func TestPGBridgeRefusesLargeEvents(t *testing.T) {
	dbURL, channel := pgSchema(t)
	b, err := NewPGBridge(newPool(t, dbURL), channel, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := json.RawMessage(`"` + strings.Repeat("é", 4000) + `"`)
	err = b.Send(context.Background(), domain.Event{Type: domain.EventNotification, ID: "big", Data: big})
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("Send of a %d-byte event: %v, want ErrEventTooLarge", len(big), err)
	}
	if err := b.Send(context.Background(), domain.Event{Type: domain.EventNotification, ID: "fits", Data: json.RawMessage(`"` + strings.Repeat("x", MaxEventSize-200) + `"`)}); err != nil {
		t.Fatalf("Send of an event within MaxEventSize: %v", err)
	}
}

func TestPGBridgeChannelName(t *testing.T) {
	for _, ch := range []string{"", "Live", "live-events", "live;drop", `live"x`, "1live", strings.Repeat("a", 64), "liveé"} {
		if _, err := NewPGBridge(nil, ch, nil); err == nil || !strings.Contains(err.Error(), "channel") {
			t.Errorf("channel %q: %v, want refused", ch, err)
		}
	}
	for _, ch := range []string{"healthhub_live", "live_hh_test_0a1b", "_x"} {
		if err := validChannel(ch); err != nil {
			t.Errorf("channel %q refused: %v", ch, err)
		}
	}
}
