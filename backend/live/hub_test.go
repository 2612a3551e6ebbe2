package live

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/healthhub/healthhub/backend/domain"
)

var (
	patientA = &domain.Principal{UserID: "patient-a", Role: domain.RolePatient}
	patientC = &domain.Principal{UserID: "patient-c", Role: domain.RolePatient}
	doctorB  = &domain.Principal{UserID: "doctor-b", Role: domain.RoleDoctor}
	staff1   = &domain.Principal{UserID: "staff-1", Role: domain.RoleStaff}
)

var everyone = map[string]*domain.Principal{"a": patientA, "c": patientC, "b": doctorB, "s": staff1}

func TestAudienceFiltering(t *testing.T) {
	h := newTestHub(t, Options{})
	srv := serve(t, h, everyone)
	a, c, b, s := dial(t, srv, "a", nil), dial(t, srv, "c", nil), dial(t, srv, "b", nil), dial(t, srv, "s", nil)
	waitConnected(t, h, 4)

	data := json.RawMessage(`{"appointment_id":"ap1"}`)
	publish(t, h, domain.Event{Type: domain.EventAppointmentBooked, ID: "booked-a", Data: data,
		UserIDs: []string{patientA.UserID}, Roles: []domain.Role{domain.RoleStaff, domain.RoleAdmin}})
	publish(t, h, domain.Event{Type: domain.EventNotification, ID: "note-a", UserIDs: []string{patientA.UserID}})
	publish(t, h, domain.Event{Type: domain.EventNotification, ID: "note-b", UserIDs: []string{doctorB.UserID}})
	publish(t, h, domain.Event{Type: domain.EventIngestion, ID: "staff-only", Roles: []domain.Role{domain.RoleStaff}})
	publish(t, h, domain.Event{Type: domain.EventAppointmentChanged, ID: "end",
		UserIDs: []string{patientA.UserID, patientC.UserID, doctorB.UserID, staff1.UserID}})

	for _, tc := range []struct {
		name string
		conn *websocket.Conn
		want []string
	}{
		{"patient A", a, []string{"booked-a", "note-a", "end"}},
		{"patient C", c, []string{"end"}},
		{"doctor B", b, []string{"note-b", "end"}},
		{"staff", s, []string{"booked-a", "staff-only", "end"}},
	} {
		if got := readUntil(t, tc.conn, "end"); !slices.Equal(got, tc.want) {
			t.Errorf("%s received %v, want %v", tc.name, got, tc.want)
		}
	}

	// What a client receives carries no audience.
	publish(t, h, domain.Event{Type: domain.EventAppointmentBooked, ID: "shape", At: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		Data: data, UserIDs: []string{patientA.UserID}, Roles: []domain.Role{domain.RolePatient}})
	raw := readRaw(t, a, 60*time.Second)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"at", "data", "id", "type"}; !slices.Equal(keys, want) {
		t.Errorf("client message has fields %v, want %v: %s", keys, want, raw)
	}
	if strings.Contains(string(raw), patientA.UserID) || strings.Contains(string(raw), "roles") {
		t.Errorf("client message leaks the audience: %s", raw)
	}
	if want := `{"type":"appointment.booked","id":"shape","at":"2030-01-02T03:04:05Z","data":{"appointment_id":"ap1"}}`; string(raw) != want {
		t.Errorf("client message\n got %s\nwant %s", raw, want)
	}
}

func TestPingPong(t *testing.T) {
	h := newTestHub(t, Options{PingInterval: 20 * time.Millisecond})
	srv := serve(t, h, everyone)

	var pings atomic.Int32
	c := dial(t, srv, "a", &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		pings.Add(1)
		return true
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 3 {
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if got := string(readRaw(t, c, 60*time.Second)); got != `{"type":"pong"}` {
			t.Fatalf("answer %d to ping: %s, want {\"type\":\"pong\"}", i, got)
		}
	}
	// Other messages are ignored, the connection stays open.
	for _, m := range []string{`not json`, `{"type":"subscribe"}`} {
		if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if got := string(readRaw(t, c, 60*time.Second)); got != `{"type":"pong"}` {
		t.Fatalf("after ignored messages: %s", got)
	}

	// The server pings at PingInterval; the client answers while reading.
	readCtx, stopReading := context.WithCancel(context.Background())
	go c.Read(readCtx)
	deadline := time.Now().Add(60 * time.Second)
	for pings.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stopReading()
	if n := pings.Load(); n < 3 {
		t.Fatalf("received %d WebSocket pings from the server, want at least 3", n)
	}
}

// smallBuffers shrinks the kernel buffers of accepted connections, so that a
// client that stops reading blocks the server's writes after a few KiB.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

func TestSlowClientIsDisconnectedWithoutBlockingPublish(t *testing.T) {
	h := newTestHub(t, Options{QueueSize: 16, CloseTimeout: 300 * time.Millisecond})
	srv := httptest.NewUnstartedServer(principalHandler(h, everyone))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)

	dialer := &net.Dialer{}
	slowClient := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		return c, err
	}}}
	slow := dial(t, srv, "a", &websocket.DialOptions{HTTPClient: slowClient})
	other := dial(t, serve(t, h, everyone), "b", nil)
	waitConnected(t, h, 2)

	// The slow client never reads. Publishing must go on at full speed.
	data := json.RawMessage(`"` + strings.Repeat("x", 1000) + `"`)
	var worst time.Duration
	published := 0
	for ; published < 5000 && h.Connected() == 2; published++ {
		start := time.Now()
		publish(t, h, domain.Event{Type: domain.EventNotification, ID: "n", Data: data, UserIDs: []string{patientA.UserID}})
		worst = max(worst, time.Since(start))
	}
	t.Logf("published %d events; slowest Publish took %v", published, worst)
	// A Publish that waited for the slow client would take until the write
	// timed out (10 s); scheduling on a loaded machine stays well below 2 s.
	if worst > 2*time.Second {
		t.Errorf("a Publish took %v: a slow client must not hold publishers up", worst)
	}
	waitConnected(t, h, 1)

	// The slow client's connection is over: after what was buffered, it gets
	// the close frame (1013) or, if its buffers never drained, an abrupt end.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var err error
	for err == nil {
		_, _, err = slow.Read(ctx)
	}
	if ctx.Err() != nil {
		t.Fatalf("slow client still connected: %v", err)
	}
	if code := websocket.CloseStatus(err); code != -1 && code != websocket.StatusTryAgainLater {
		t.Errorf("slow client closed with %v, want %v", code, websocket.StatusTryAgainLater)
	}
	t.Logf("slow client's connection ended with: %v", err)

	// Everyone else is still served.
	publish(t, h, domain.Event{Type: domain.EventNotification, ID: "still-here", UserIDs: []string{doctorB.UserID}})
	if e := readEvent(t, other, 60*time.Second); e.ID != "still-here" {
		t.Errorf("other client received %q", e.ID)
	}
}

func TestCloseDisconnectsClients(t *testing.T) {
	h := newTestHub(t, Options{})
	srv := serve(t, h, everyone)
	conns := []*websocket.Conn{dial(t, srv, "a", nil), dial(t, srv, "b", nil), dial(t, srv, "s", nil)}
	waitConnected(t, h, 3)

	errs := make(chan error, len(conns))
	for _, c := range conns {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, _, err := c.Read(ctx)
			errs <- err
		}()
	}
	start := time.Now()
	h.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	for range conns {
		if err := <-errs; websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("client read after Close: %v, want close status %v", err, websocket.StatusGoingAway)
		}
	}
	if n := h.Connected(); n != 0 {
		t.Errorf("%d clients still registered", n)
	}
	h.Close() // a second Close is harmless

	if err := h.Publish(context.Background(), domain.Event{Type: "x", ID: "late", UserIDs: []string{"a"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, wsURL(srv, "a"), nil)
	if err == nil {
		t.Fatal("connected to a closed hub")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial a closed hub: %v (response %v), want 503", err, resp)
	}
}

func TestOriginCheck(t *testing.T) {
	h := newTestHub(t, Options{AllowedOrigins: []string{"app.healthhub.example"}})
	srv := serve(t, h, everyone)
	try := func(origin string) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		hdr := http.Header{}
		if origin != "" {
			hdr.Set("Origin", origin)
		}
		c, resp, err := websocket.Dial(ctx, wsURL(srv, "a"), &websocket.DialOptions{HTTPHeader: hdr})
		if err == nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
		return resp, err
	}

	for _, origin := range []string{"https://evil.example", "https://app.healthhub.example.evil.example", "null"} {
		resp, err := try(origin)
		if err == nil {
			t.Errorf("Origin %s: connected, want refused", origin)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %s: %v, want 403", origin, err)
		}
	}
	for _, origin := range []string{"https://app.healthhub.example", srv.URL, ""} {
		if _, err := try(origin); err != nil {
			t.Errorf("Origin %q: %v, want accepted", origin, err)
		}
	}

	for _, bad := range []string{"*", "", "[", "*://*"} {
		if _, err := NewHub(Options{AllowedOrigins: []string{bad}}, time.Now, nil); err == nil {
			t.Errorf("NewHub accepted allowed origin %q", bad)
		}
	}
}

func TestEventTooLarge(t *testing.T) {
	h := newTestHub(t, Options{})
	srv := serve(t, h, everyone)
	a := dial(t, srv, "a", nil)
	waitConnected(t, h, 1)

	big := json.RawMessage(`"` + strings.Repeat("x", MaxEventSize) + `"`)
	err := h.Publish(context.Background(), domain.Event{Type: domain.EventNotification, ID: "big", Data: big, UserIDs: []string{patientA.UserID}})
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("Publish of a %d-byte event: %v, want ErrEventTooLarge", len(big), err)
	}
	t.Logf("error: %v", err)
	err = h.Publish(context.Background(), domain.Event{Type: domain.EventNotification, ID: "bad", Data: json.RawMessage(`{not json`), UserIDs: []string{patientA.UserID}})
	if err == nil {
		t.Fatal("Publish accepted data that is not JSON")
	}
	publish(t, h, domain.Event{Type: domain.EventNotification, ID: "small", UserIDs: []string{patientA.UserID}})
	if got := readUntil(t, a, "small"); !slices.Equal(got, []string{"small"}) {
		t.Errorf("received %v, want only the event that fits", got)
	}
}

func TestMaxLifetime(t *testing.T) {
	h := newTestHub(t, Options{MaxLifetime: 200 * time.Millisecond})
	c := dial(t, serve(t, h, everyone), "a", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, _, err := c.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != reasonExpired {
		t.Fatalf("after MaxLifetime: %v, want close %v %q", err, websocket.StatusPolicyViolation, reasonExpired)
	}
	waitConnected(t, h, 0)
}

func TestServeWSRefusesIncompletePrincipals(t *testing.T) {
	h := newTestHub(t, Options{})
	mfaPending := &domain.Principal{UserID: "staff-2", Role: domain.RoleStaff, MFAPending: true}
	srv := serve(t, h, map[string]*domain.Principal{"mfa": mfaPending})
	nobody := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeWS(w, r, nil, nil) }))
	defer nobody.Close()
	for _, tc := range []struct {
		url  string
		want int
	}{
		{"ws" + strings.TrimPrefix(nobody.URL, "http"), http.StatusUnauthorized},
		{wsURL(srv, "mfa"), http.StatusForbidden},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, resp, err := websocket.Dial(ctx, tc.url, nil)
		cancel()
		if err == nil || resp == nil || resp.StatusCode != tc.want {
			t.Errorf("dial %s: %v, want %d", tc.url, err, tc.want)
		}
	}
	if n := h.Connected(); n != 0 {
		t.Errorf("%d clients registered", n)
	}
}
