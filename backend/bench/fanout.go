package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/live"
)

// FanoutResult is the latency from one Publish until each of many connected
// WebSocket clients has read the event.
type FanoutResult struct {
	Clients, Rounds int
	Connect         time.Duration
	P50, P99, Max   time.Duration
	Missed          int
}

// BenchFanout connects clients real WebSocket clients over loopback to one
// live hub (each a staff account, so every event is for every client), then
// publishes rounds events one at a time and measures publish-to-read latency.
func BenchFanout(ctx context.Context, clients, rounds int, o Options) (res FanoutResult, err error) {
	if err := ensureOpenFiles(uint64(2*clients + 256)); err != nil {
		return res, err
	}
	hub, err := live.NewHub(live.Options{QueueSize: 64}, time.Now, o.logger())
	if err != nil {
		return res, err
	}
	defer hub.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeWS(w, r, &domain.Principal{UserID: "staff-" + r.URL.Query().Get("n"), Role: domain.RoleStaff}, nil)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	res.Clients, res.Rounds = clients, rounds
	start := time.Now()
	conns := make([]*websocket.Conn, clients)
	var dialErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				c, _, err := websocket.Dial(dctx, "ws://"+ln.Addr().String()+"/?n="+strconv.Itoa(i), nil)
				cancel()
				mu.Lock()
				if err != nil && dialErr == nil {
					dialErr = err
				}
				conns[i] = c
				mu.Unlock()
			}
		})
	}
	for i := range clients {
		next <- i
	}
	close(next)
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
	}()
	if dialErr != nil {
		return res, fmt.Errorf("connect clients: %w", dialErr)
	}
	for hub.Connected() < clients {
		if time.Since(start) > 30*time.Second {
			return res, fmt.Errorf("only %d of %d clients registered", hub.Connected(), clients)
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.Connect = time.Since(start)

	// Each reader notes when it read each round's event.
	received := make([][]time.Time, clients)
	var readers sync.WaitGroup
	for i, c := range conns {
		received[i] = make([]time.Time, rounds)
		readers.Go(func() {
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					return
				}
				var ev struct {
					Type string `json:"type"`
					ID   string `json:"id"`
				}
				if json.Unmarshal(b, &ev) != nil || ev.Type != domain.EventAppointmentChanged {
					continue
				}
				if r, err := strconv.Atoi(ev.ID); err == nil && r >= 0 && r < rounds {
					received[i][r] = time.Now()
				}
			}
		})
	}
	sent := make([]time.Time, rounds)
	data := json.RawMessage(`{"id":"appointment","status":"booked"}`)
	for r := range rounds {
		sent[r] = time.Now()
		if err := hub.Publish(ctx, domain.Event{Type: domain.EventAppointmentChanged, ID: strconv.Itoa(r), At: sent[r],
			Data: data, Roles: []domain.Role{domain.RoleStaff}}); err != nil {
			return res, fmt.Errorf("publish: %w", err)
		}
		time.Sleep(300 * time.Millisecond) // let the round drain
	}
	for _, c := range conns {
		c.CloseNow()
	}
	readers.Wait()
	var lat []time.Duration
	for i := range received {
		for r := range rounds {
			if received[i][r].IsZero() {
				res.Missed++
				continue
			}
			lat = append(lat, received[i][r].Sub(sent[r]))
		}
	}
	if len(lat) == 0 {
		return res, errors.New("no client received any event")
	}
	slices.Sort(lat)
	res.P50, res.P99, res.Max = percentile(lat, 0.50), percentile(lat, 0.99), lat[len(lat)-1]
	return res, nil
}
