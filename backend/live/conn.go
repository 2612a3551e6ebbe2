package live

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/healthhub/healthhub/backend/domain"
)

// maxClientMessage bounds what a client may send: control messages and chat
// messages (up to the assistant's 16,000 characters).
const maxClientMessage = 96 << 10

var pongMessage = []byte(`{"type":"pong"}`)

// client is one connection. Publishers only ever touch send (never blocking)
// and end; everything else belongs to the connection's own goroutines.
type client struct {
	conn      *websocket.Conn
	userID    string
	role      domain.Role
	principal *domain.Principal
	send      chan []byte
	pong      chan struct{}

	// drop ends the connection at once, without a close handshake.
	drop         context.CancelFunc
	closeTimeout time.Duration

	endOnce sync.Once
	ended   chan struct{}
	code    websocket.StatusCode // set before ended is closed
	reason  string
}

// end asks the connection to close with code and reason, and drops it if the
// close handshake has not finished after the close timeout (the client may
// not be reading at all). It reports whether this call ended it.
func (c *client) end(code websocket.StatusCode, reason string) bool {
	first := false
	c.endOnce.Do(func() {
		first = true
		c.code, c.reason = code, reason
		close(c.ended)
		time.AfterFunc(c.closeTimeout, c.drop)
	})
	return first
}

// ServeWS upgrades an authenticated request to a WebSocket and streams to it
// the events p may receive until the client leaves, falls behind, its
// connection reaches MaxLifetime, or the hub closes. The caller has checked
// the credentials; the Origin check against the allow-list happens here. A
// principal that still has to enrol in two-factor authentication is refused.
// handle receives the client's own messages; nil ignores them.
func (h *Hub) ServeWS(w http.ResponseWriter, r *http.Request, p *domain.Principal, handle MessageHandler) {
	if p == nil {
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	if p.MFAPending {
		http.Error(w, "two-factor authentication enrolment required", http.StatusForbidden)
		return
	}
	if h.isClosed() {
		w.Header().Set("Retry-After", "2")
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OriginPatterns:  h.opts.AllowedOrigins,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		// Accept has answered the request (403 for a foreign origin).
		h.logger.Warn("live: connection refused", "user_id", p.UserID, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	conn.SetReadLimit(maxClientMessage)

	ctx, drop := context.WithCancel(context.WithoutCancel(r.Context()))
	defer drop()
	c := &client{
		conn: conn, userID: p.UserID, role: p.Role, principal: p,
		send:         make(chan []byte, h.opts.QueueSize),
		pong:         make(chan struct{}, 4),
		drop:         drop,
		closeTimeout: h.opts.CloseTimeout,
		ended:        make(chan struct{}),
	}
	if !h.register(c) {
		c.end(websocket.StatusGoingAway, reasonShutdown)
		conn.Close(c.code, c.reason)
		return
	}
	defer h.unregister(c)
	h.logger.Debug("live: client connected", "user_id", c.userID, "role", c.role)

	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		c.readLoop(ctx, handle, h.opts.WriteTimeout)
	}()
	var pings sync.WaitGroup
	err = c.writeLoop(ctx, readDone, &pings, &h.opts)
	c.end(websocket.StatusNormalClosure, "") // replies still being made stop at once
	drop()
	conn.CloseNow()
	<-readDone
	pings.Wait()
	h.logger.Debug("live: client disconnected", "user_id", c.userID, "err", err)
}

// readLoop reads client messages so that pongs and close frames are
// processed, answers {"type":"ping"}, and hands other messages to handler.
func (c *client) readLoop(ctx context.Context, handler MessageHandler, wait time.Duration) {
	for {
		typ, b, err := c.conn.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			continue
		}
		var m struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		if m.Type == "ping" {
			select {
			case c.pong <- struct{}{}:
			default: // a client flooding pings gets fewer pongs
			}
			continue
		}
		if handler != nil {
			handler(ctx, c.principal, b, func(msg []byte) bool { return c.queue(msg, wait) })
		}
	}
}

// queue puts a reply to the client's own request on its queue. Replies
// use at most half of it, leaving room for published events; while it is
// that full, queue waits (up to wait, then the client is ended as too slow).
func (c *client) queue(msg []byte, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		select {
		case <-c.ended:
			return false
		default:
		}
		if len(c.send) < cap(c.send)/2 {
			select {
			case c.send <- msg:
				return true
			default:
			}
		}
		if time.Now().After(deadline) {
			c.end(websocket.StatusTryAgainLater, reasonSlow)
			return false
		}
		select {
		case <-c.ended:
			return false
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// writeLoop is the only writer of data messages. It returns when the
// connection is over.
func (c *client) writeLoop(ctx context.Context, readDone <-chan struct{}, pings *sync.WaitGroup, o *Options) error {
	ticker := time.NewTicker(o.PingInterval)
	defer ticker.Stop()
	var expired <-chan time.Time
	if o.MaxLifetime > 0 {
		// Spread the reconnections of clients that connected together.
		t := time.NewTimer(o.MaxLifetime - rand.N(o.MaxLifetime/10+1))
		defer t.Stop()
		expired = t.C
	}
	write := func(msg []byte) error {
		wctx, cancel := context.WithTimeout(ctx, o.WriteTimeout)
		defer cancel()
		return c.conn.Write(wctx, websocket.MessageText, msg)
	}
	pinging := false
	pingDone := make(chan struct{}, 1)
	for {
		// An ended connection sends nothing more, even with events queued.
		select {
		case <-c.ended:
			return c.conn.Close(c.code, c.reason)
		default:
		}
		var err error
		select {
		case msg := <-c.send:
			err = write(msg)
		case <-c.pong:
			err = write(pongMessage)
		case <-ticker.C:
			if pinging {
				continue // the previous ping is still waiting for its pong
			}
			pinging = true
			pings.Add(1)
			go func() {
				defer pings.Done()
				pctx, cancel := context.WithTimeout(ctx, o.WriteTimeout)
				defer cancel()
				if c.conn.Ping(pctx) != nil {
					c.drop() // no pong in time: the client is gone
				}
				pingDone <- struct{}{}
			}()
		case <-pingDone:
			pinging = false
		case <-expired:
			c.end(websocket.StatusPolicyViolation, reasonExpired)
		case <-c.ended:
		case <-readDone:
			return nil
		}
		if err != nil {
			return err
		}
	}
}
