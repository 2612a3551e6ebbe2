package live

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/healthhub/healthhub/backend/domain"
)

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger(w *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newTestHub(t testing.TB, opts Options) *Hub {
	t.Helper()
	h, err := NewHub(opts, time.Now, testLogger(&logBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// serve starts a server whose handler has authenticated the caller as the
// principal named by the "as" query parameter.
func serve(t testing.TB, h *Hub, principals map[string]*domain.Principal) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(principalHandler(h, principals))
	t.Cleanup(srv.Close)
	return srv
}

func principalHandler(h *Hub, principals map[string]*domain.Principal) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principals[r.URL.Query().Get("as")]
		if p == nil {
			http.Error(w, "unknown principal", http.StatusUnauthorized)
			return
		}
		h.ServeWS(w, r, p, nil)
	})
}

func wsURL(srv *httptest.Server, as string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/live?as=" + as
}

func dial(t testing.TB, srv *httptest.Server, as string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(srv, as), opts)
	if err != nil {
		t.Fatalf("dial as %s: %v", as, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// waitConnected waits until the hub has registered n clients.
func waitConnected(t testing.TB, h *Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for h.Connected() != n {
		if time.Now().After(deadline) {
			t.Fatalf("hub has %d clients, want %d", h.Connected(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readRaw reads one text message.
func readRaw(t testing.TB, c *websocket.Conn, timeout time.Duration) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("message type %v, want text", typ)
	}
	return b
}

func readEvent(t testing.TB, c *websocket.Conn, timeout time.Duration) wireEvent {
	t.Helper()
	var e wireEvent
	if err := json.Unmarshal(readRaw(t, c, timeout), &e); err != nil {
		t.Fatalf("decode event: %v", err)
	}
	return e
}

func publish(t testing.TB, h *Hub, e domain.Event) {
	t.Helper()
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	if err := h.Publish(context.Background(), e); err != nil {
		t.Fatalf("publish %s: %v", e.ID, err)
	}
}

// readUntil reads events until one with id stop arrives, and returns the ids
// of all of them, stop included.
func readUntil(t testing.TB, c *websocket.Conn, stop string) []string {
	t.Helper()
	var ids []string
	for {
		e := readEvent(t, c, 60*time.Second)
		ids = append(ids, e.ID)
		if e.ID == stop {
			return ids
		}
	}
}
