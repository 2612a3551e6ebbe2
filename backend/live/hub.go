// Package live pushes events to connected clients over WebSocket as they
// happen: new and changed appointments, notifications, ingestion progress.
//
// A Hub holds this process's connections. With several server processes on
// one PostgreSQL database, a PGBridge carries every event to the other
// processes' hubs through LISTEN/NOTIFY.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/healthhub/healthhub/backend/domain"
)

// MaxEventSize bounds the JSON encoding of an event, audience included. It
// keeps every event within what PostgreSQL NOTIFY can carry (less than 8000
// bytes with the bridge's envelope), and applies with or without a bridge so
// that an event which works on one engine works on the other.
const MaxEventSize = 7 << 10

// TypeResync is sent to every client when events may have been missed (the
// connection between server processes was lost for a while): the client
// should reload what it shows.
const TypeResync = "live.resync"

// Close codes and reasons. Clients reconnect after any of them.
const (
	reasonSlow     = "too slow to receive updates"
	reasonShutdown = "server shutting down"
	reasonExpired  = "reauthentication required"
)

var (
	// ErrClosed is returned by Publish after Close.
	ErrClosed = errors.New("live hub closed")
	// ErrEventTooLarge is returned for events larger than MaxEventSize.
	ErrEventTooLarge = errors.New("live event too large")
)

// Bridge carries events between the hubs of several server processes.
type Bridge interface {
	// Send hands e to the other processes.
	Send(ctx context.Context, e domain.Event) error
	// Listen passes events from other processes to deliver until ctx is
	// done, and calls missed when events may have been lost (after the
	// bridge reconnects).
	Listen(ctx context.Context, deliver func(domain.Event), missed func()) error
}

// Options configures a Hub. Zero values take the defaults shown.
type Options struct {
	// AllowedOrigins are the web origins, besides the server's own host, whose
	// pages may open a connection: host patterns matched with path.Match, or
	// "scheme://host" patterns. Requests without an Origin header (clients
	// that are not browsers) are accepted: they carry no ambient credentials.
	AllowedOrigins []string
	// Bridge, when set, carries events to and from other server processes.
	// A bridge serves one hub.
	Bridge Bridge
	// QueueSize is how many events may wait for one client (64). A client
	// that falls this far behind is disconnected.
	QueueSize int
	// PingInterval is how often clients are pinged (30 s).
	PingInterval time.Duration
	// WriteTimeout bounds one write and the wait for a pong (10 s).
	WriteTimeout time.Duration
	// CloseTimeout bounds the close handshake of a connection being ended by
	// the server (5 s); it is dropped after that.
	CloseTimeout time.Duration
	// MaxLifetime ends a connection after this long so the client comes back
	// with a fresh access token: a disabled account or changed role does not
	// keep receiving events on an old connection (15 min, the access token
	// lifetime; up to a tenth earlier, so that clients which connected
	// together do not all come back at once). Negative means no limit.
	MaxLifetime time.Duration
}

// MessageHandler receives a client's messages other than pings ({"type": …}
// JSON objects), such as chat requests. It must not block: work it starts
// sends its replies with send, which waits while the client's queue is full
// and reports false once the connection is over.
type MessageHandler func(ctx context.Context, p *domain.Principal, msg []byte, send func([]byte) bool)

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 64
	}
	def(&o.PingInterval, 30*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.CloseTimeout, 5*time.Second)
	def(&o.MaxLifetime, 15*time.Minute)
}

// Hub is the registry of this process's connected clients. It implements
// domain.Publisher.
type Hub struct {
	opts   Options
	now    func() time.Time
	logger *slog.Logger

	mu      sync.RWMutex
	clients map[*client]struct{}
	closed  bool
	conns   sync.WaitGroup // ServeWS calls in progress

	closeOnce  sync.Once
	stopBridge context.CancelFunc
	bridgeDone chan struct{}
}

var _ domain.Publisher = (*Hub)(nil)

// NewHub returns a hub and, when opts.Bridge is set, starts listening to the
// other processes. Close stops it.
func NewHub(opts Options, now func() time.Time, logger *slog.Logger) (*Hub, error) {
	opts.defaults()
	for _, p := range opts.AllowedOrigins {
		if p == "" || p == "*" || p == "*://*" {
			return nil, fmt.Errorf("allowed origin %q would let any web page connect", p)
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("allowed origin %q: %w", p, err)
		}
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		opts: opts, now: now, logger: logger,
		clients:    make(map[*client]struct{}),
		bridgeDone: make(chan struct{}),
	}
	if opts.Bridge == nil {
		close(h.bridgeDone)
		return h, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stopBridge = cancel
	go func() {
		defer close(h.bridgeDone)
		if err := opts.Bridge.Listen(ctx, h.deliverRemote, h.resync); err != nil && ctx.Err() == nil {
			h.logger.Error("live: bridge stopped; events from other server processes will not arrive", "err", err)
		}
	}()
	return h, nil
}

// wireEvent is what a client receives: never the audience.
type wireEvent struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	At   time.Time       `json:"at"`
	Data json.RawMessage `json:"data,omitempty"`
}

func encodeForClients(e *domain.Event) ([]byte, error) {
	b, err := json.Marshal(wireEvent{Type: e.Type, ID: e.ID, At: e.At, Data: e.Data})
	if err != nil {
		return nil, fmt.Errorf("encode live event %s: %w", e.Type, err)
	}
	return b, nil
}

// Publish delivers e to this process's clients it is for and, with a bridge,
// hands it to the other processes. It never waits for a client: one whose
// queue is full is disconnected. Local clients receive the event even when
// the bridge fails; the error then says so.
func (h *Hub) Publish(ctx context.Context, e domain.Event) error {
	full, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode live event %s: %w", e.Type, err)
	}
	if len(full) > MaxEventSize {
		return fmt.Errorf("%w: %s event %s is %d bytes, the limit is %d", ErrEventTooLarge, e.Type, e.ID, len(full), MaxEventSize)
	}
	msg, err := encodeForClients(&e)
	if err != nil {
		return err
	}
	if !h.deliver(&e, msg) {
		return ErrClosed
	}
	if h.opts.Bridge != nil {
		if err := h.opts.Bridge.Send(ctx, e); err != nil {
			return fmt.Errorf("send %s event %s to other server processes: %w", e.Type, e.ID, err)
		}
	}
	return nil
}

// deliverRemote receives an event from another process.
func (h *Hub) deliverRemote(e domain.Event) {
	msg, err := encodeForClients(&e)
	if err != nil {
		h.logger.Warn("live: event from another server process dropped", "type", e.Type, "id", e.ID, "err", err)
		return
	}
	h.deliver(&e, msg)
}

// resync tells every client that events may have been missed.
func (h *Hub) resync() {
	msg, _ := json.Marshal(wireEvent{Type: TypeResync, At: h.now()})
	h.deliver(nil, msg)
}

// deliver queues msg for every client e is for (every client when e is nil)
// and reports false once the hub is closed. It does no I/O under the lock.
func (h *Hub) deliver(e *domain.Event, msg []byte) bool {
	var slow []*client
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		return false
	}
	for c := range h.clients {
		if e != nil && !e.For(c.userID, c.role) {
			continue
		}
		select {
		case c.send <- msg:
		default:
			slow = append(slow, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range slow {
		if c.end(websocket.StatusTryAgainLater, reasonSlow) {
			h.logger.Warn("live: client too slow, disconnected", "user_id", c.userID, "queue", h.opts.QueueSize)
		}
	}
	return true
}

// Connected returns the number of clients connected to this process.
func (h *Hub) Connected() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.clients)
}

func (h *Hub) register(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clients[c] = struct{}{}
	h.conns.Add(1)
	return true
}

func (h *Hub) unregister(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	h.conns.Done()
}

func (h *Hub) isClosed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}

// Close ends every connection with "going away", stops the bridge and waits
// for both; clients reconnect to another process or after the restart. Later
// connections are refused and Publish returns ErrClosed.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		clients := make([]*client, 0, len(h.clients))
		for c := range h.clients {
			clients = append(clients, c)
		}
		h.mu.Unlock()
		for _, c := range clients {
			c.end(websocket.StatusGoingAway, reasonShutdown)
		}
		if h.stopBridge != nil {
			h.stopBridge()
		}
	})
	h.conns.Wait()
	<-h.bridgeDone
}
