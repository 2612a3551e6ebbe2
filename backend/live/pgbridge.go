package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ListenerApplicationName is the application_name of a PGBridge's listening
// connection, as shown in pg_stat_activity.
const ListenerApplicationName = "healthhub-live"

// maxNotifyPayload is PostgreSQL's limit: a NOTIFY payload must be shorter.
const maxNotifyPayload = 8000

// PGBridge carries events between server processes that share a PostgreSQL
// database: it sends with pg_notify through the pool and receives on a
// dedicated LISTEN connection, which it re-establishes with back-off when it
// is lost. Events sent while no connection was listening are not received;
// the hub then tells its clients to resync.
type PGBridge struct {
	pool    *pgxpool.Pool
	channel string
	origin  string // tells this process's own notifications apart
	logger  *slog.Logger

	minBackoff, maxBackoff time.Duration
	healthCheck            time.Duration // idle time after which the listener is checked

	pid atomic.Uint32
}

var _ Bridge = (*PGBridge)(nil)

// envelope is a notification's payload.
type envelope struct {
	Origin string       `json:"origin"`
	Event  domain.Event `json:"event"`
}

// NewPGBridge returns a bridge on channel, a lower-case identifier
// ([a-z_][a-z0-9_]*, at most 63 bytes) that all processes of one deployment
// share. Give it to one Hub through Options.Bridge.
func NewPGBridge(pool *pgxpool.Pool, channel string, logger *slog.Logger) (*PGBridge, error) {
	if err := validChannel(channel); err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, errors.New("live bridge needs a PostgreSQL pool")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	id := make([]byte, 12)
	rand.Read(id)
	return &PGBridge{
		pool: pool, channel: channel, origin: hex.EncodeToString(id), logger: logger,
		minBackoff: 250 * time.Millisecond, maxBackoff: 30 * time.Second, healthCheck: 30 * time.Second,
	}, nil
}

func validChannel(ch string) error {
	if ch == "" || len(ch) > 63 {
		return fmt.Errorf("live channel %q: must be 1 to 63 characters", ch)
	}
	for i, r := range ch {
		switch {
		case r >= 'a' && r <= 'z', r == '_':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return fmt.Errorf("live channel %q: only a-z and _ (and digits after the first character) are allowed", ch)
		}
	}
	return nil
}

// ListenerPID returns the backend process id of the listening connection, or
// 0 while there is none.
func (b *PGBridge) ListenerPID() uint32 { return b.pid.Load() }

// Send notifies the other processes of e.
func (b *PGBridge) Send(ctx context.Context, e domain.Event) error {
	payload, err := json.Marshal(envelope{Origin: b.origin, Event: e})
	if err != nil {
		return fmt.Errorf("encode live event %s: %w", e.Type, err)
	}
	if len(payload) >= maxNotifyPayload {
		return fmt.Errorf("%w: %s event %s needs %d bytes, PostgreSQL NOTIFY carries fewer than %d", ErrEventTooLarge, e.Type, e.ID, len(payload), maxNotifyPayload)
	}
	if _, err := b.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, b.channel, string(payload)); err != nil {
		return fmt.Errorf("notify channel %s: %w", b.channel, err)
	}
	return nil
}

// Listen receives the other processes' events until ctx is done, and
// reconnects with exponential back-off whenever the connection fails.
func (b *PGBridge) Listen(ctx context.Context, deliver func(domain.Event), missed func()) error {
	backoff := b.minBackoff
	failed := false
	for {
		err := b.listen(ctx, deliver, func() {
			backoff = b.minBackoff
			if failed {
				b.logger.Info("live: listening to other server processes again", "channel", b.channel, "pid", b.pid.Load())
				missed()
			}
			failed = false
		})
		b.pid.Store(0)
		if ctx.Err() != nil {
			return nil
		}
		failed = true
		b.logger.Warn("live: lost the PostgreSQL listening connection; events from other server processes are not arriving",
			"channel", b.channel, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, b.maxBackoff)
	}
}

// listen runs one listening connection until it fails or ctx is done.
func (b *PGBridge) listen(ctx context.Context, deliver func(domain.Event), listening func()) error {
	conn, err := postgres.Dedicated(ctx, b.pool, map[string]string{"application_name": ListenerApplicationName})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{b.channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen on %s: %w", b.channel, err)
	}
	b.pid.Store(conn.PgConn().PID())
	listening()

	for {
		wctx, cancel := context.WithTimeout(ctx, b.healthCheck)
		n, err := conn.WaitForNotification(wctx)
		idle := wctx.Err() != nil
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !idle {
				return fmt.Errorf("wait for notification: %w", err)
			}
			// Quiet for a while: make sure the connection is still there.
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("check listening connection: %w", err)
			}
			continue
		}
		var env envelope
		if err := json.Unmarshal([]byte(n.Payload), &env); err != nil {
			b.logger.Warn("live: unreadable notification ignored", "channel", b.channel, "err", err)
			continue
		}
		if env.Origin == b.origin {
			continue // delivered locally when it was published
		}
		deliver(env.Event)
	}
}
