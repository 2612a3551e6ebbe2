package live

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/healthhub/healthhub/backend/domain"
)

// TestFanOut1000 connects 1,000 real WebSocket clients to one hub and
// measures how long an event takes from Publish to each client.
func TestFanOut1000(t *testing.T) {
	if testing.Short() {
		t.Skip("connects 1,000 clients")
	}
	const clients, rounds = 1000, 5
	h := newTestHub(t, Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeWS(w, r, &domain.Principal{UserID: "staff-" + r.URL.Query().Get("as"), Role: domain.RoleStaff}, nil)
	}))
	t.Cleanup(srv.Close)

	type receipt struct {
		id string
		at time.Time
	}
	receipts := make(chan receipt, clients)
	conns := make([]*websocket.Conn, clients)
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, clients)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				c, _, err := websocket.Dial(ctx, wsURL(srv, strconv.Itoa(i)), nil)
				cancel()
				if err != nil {
					errs <- err
					continue
				}
				c.SetReadLimit(1 << 20)
				conns[i] = c
			}
		})
	}
	for i := range clients {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("dial: %v", err)
	}
	waitConnected(t, h, clients)
	t.Logf("%d clients connected in %v", clients, time.Since(start).Round(time.Millisecond))

	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Go(func() {
			for {
				_, b, err := c.Read(context.Background())
				if err != nil {
					return
				}
				at := time.Now()
				receipts <- receipt{id: string(b), at: at}
			}
		})
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.CloseNow()
		}
		readers.Wait()
	})

	var all []time.Duration
	for round := range rounds + 1 { // round 0 warms up
		id := fmt.Sprintf("fan-%d", round)
		e := domain.Event{Type: domain.EventAppointmentBooked, ID: id, At: time.Now().UTC(), Roles: []domain.Role{domain.RoleStaff}}
		msg, err := encodeForClients(&e)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := h.Publish(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		publishTook := time.Since(t0)
		lat := make([]time.Duration, 0, clients)
		timeout := time.After(60 * time.Second)
		for len(lat) < clients {
			select {
			case r := <-receipts:
				if r.id != string(msg) {
					t.Fatalf("client received %s, want %s", r.id, msg)
				}
				lat = append(lat, r.at.Sub(t0))
			case <-timeout:
				t.Fatalf("round %d: %d of %d clients received the event", round, len(lat), clients)
			}
		}
		slices.Sort(lat)
		if round == 0 {
			t.Logf("warm-up: Publish returned in %v; last client after %v", publishTook, lat[clients-1])
			continue
		}
		t.Logf("round %d: Publish returned in %v; delivered p50 %v, p99 %v, max %v",
			round, publishTook, pct(lat, 50), pct(lat, 99), lat[clients-1])
		all = append(all, lat...)
	}
	slices.Sort(all)
	t.Logf("fan-out to %d clients over %d events: p50 %v, p99 %v, max %v",
		clients, rounds, pct(all, 50), pct(all, 99), all[len(all)-1])
}

// pct returns the p-th percentile of sorted durations (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}
