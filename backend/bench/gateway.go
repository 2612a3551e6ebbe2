package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/healthhub/healthhub/backend/assistant"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/llm/llmtest"
)

// GatewayRow is one way of reaching the model: time to the first piece of
// text and to the end of the answer, over every streamed chat.
type GatewayRow struct {
	Name                                                 string
	Chats, Errors                                        int
	TTFT50, TTFT99                                       time.Duration
	Total50, Total99                                     time.Duration
	FirstError                                           string
	AddedTTFT50, AddedTTFT99, AddedTotal50, AddedTotal99 time.Duration
}

// GatewayResult compares streamed chats straight to a model service with
// the same chats through HealthHub's OpenAI-compatible endpoint.
type GatewayResult struct {
	Clients, Rounds int
	Pieces          int
	FirstDelay      time.Duration
	Delay           time.Duration
	Layout          string // where HealthHub, the clients and the model service ran
	Rows            []GatewayRow
}

// gatewayQuestion names a person and a phone number, so that redaction has
// work to do, and words the starter documents answer.
const gatewayQuestion = "Hello, this is Maria Gonzalez (555-214-8830): how do I order repeat prescriptions?"

// BenchGateway measures what HealthHub adds to streamed chats: clients
// concurrent chats, rounds each, against a fake OpenAI-compatible service
// that streams a fixed answer with fixed delays; first straight to it, then
// through HealthHub on SQLite with an internal provider (no redaction) and
// no retrieval, with an external one (redaction) and no retrieval, and with
// retrieval from the starter documents.
func BenchGateway(ctx context.Context, clients, rounds int, o Options) (GatewayResult, error) {
	o = o.withDefaults()
	pieces := make([]string, 20)
	for i := range pieces {
		pieces[i] = fmt.Sprintf("word%d ", i)
	}
	res := GatewayResult{Clients: clients, Rounds: rounds, Pieces: len(pieces), FirstDelay: 300 * time.Millisecond, Delay: 50 * time.Millisecond}
	var split *gatewaySplit
	res.Layout = "HealthHub, the clients and the fake model service in one process on every CPU"
	if o.GatewaySplit {
		if server, load, ok := twoCPUs(); ok {
			exe, err := os.Executable()
			if err != nil {
				return res, fmt.Errorf("find this program to run HealthHub apart: %w", err)
			}
			restore, err := pinProcess(load)
			if err != nil {
				return res, fmt.Errorf("keep the clients on CPU %d: %w", load, err)
			}
			defer restore()
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			split = &gatewaySplit{cpu: server, exe: exe, log: o.Log}
			res.Layout = fmt.Sprintf("HealthHub in a process of its own on CPU %d; the clients and the fake model service on CPU %d", server, load)
		}
	}
	up := llmtest.OpenAI(llmtest.Behaviour{Answer: pieces, FirstDelay: res.FirstDelay, Delay: res.Delay, TokensIn: 50})
	defer up.Close()

	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: clients + 16,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}

	spread := res.FirstDelay + time.Duration(len(pieces))*res.Delay
	direct, err := gatewayRun(ctx, client, up.URL+"/v1/chat/completions", "", "bench-model", clients, rounds, spread)
	if err != nil {
		return res, err
	}
	direct.Name = "straight to the model"
	res.Rows = append(res.Rows, direct)

	for _, v := range []struct {
		name      string
		external  bool
		retrieval bool
	}{
		{"HealthHub, no redaction, no retrieval", false, false},
		{"HealthHub, redaction, no retrieval", true, false},
		{"HealthHub, no redaction, retrieval", false, true},
		{"HealthHub, redaction, retrieval", true, true},
	} {
		row, err := gatewayThrough(ctx, client, up.URL+"/v1", v.external, v.retrieval, clients, rounds, spread, o, split)
		if err != nil {
			return res, fmt.Errorf("%s: %w", v.name, err)
		}
		row.Name = v.name
		row.AddedTTFT50, row.AddedTTFT99 = row.TTFT50-direct.TTFT50, row.TTFT99-direct.TTFT99
		row.AddedTotal50, row.AddedTotal99 = row.Total50-direct.Total50, row.Total99-direct.Total99
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}

// gatewayThrough starts HealthHub with the upstream as its provider, in
// its own process on its own CPU when split, and runs the chats through
// /v1/chat/completions.
func gatewayThrough(ctx context.Context, client *http.Client, upstream string, external, retrieval bool, clients, rounds int, spread time.Duration, o Options, split *gatewaySplit) (GatewayRow, error) {
	var base, key string
	var stop func() error
	var err error
	if split != nil {
		base, key, stop, err = split.start(ctx, gatewayServerSpec{Upstream: upstream, External: external, Retrieval: retrieval, Clients: clients, TempDir: o.TempDir})
	} else {
		base, key, stop, err = openGateway(ctx, o, upstream, external, retrieval, clients)
	}
	if err != nil {
		return GatewayRow{}, err
	}
	row, err := gatewayRun(ctx, client, base+"/v1/chat/completions", key, "bench-model", clients, rounds, spread)
	return row, errors.Join(err, stop())
}

// openGateway starts HealthHub on a fresh SQLite database with the
// upstream as its default provider and a staff account's API key, and
// returns its address, the key and a function that stops it.
func openGateway(ctx context.Context, o Options, upstream string, external, retrieval bool, clients int) (base, key string, stop func() error, err error) {
	db, err := Engine{Name: "sqlite"}.fresh(ctx, o.TempDir)
	if err != nil {
		return "", "", nil, err
	}
	h, err := startServerWith(ctx, db, o, clients, func(c *serverConfig) {
		c.KnowledgeStarter = "false"
		c.AssistantPassages = -1
		if retrieval {
			c.KnowledgeStarter, c.AssistantPassages = "true", 5
		}
	})
	if err != nil {
		return "", "", nil, errors.Join(err, db.Close(ctx))
	}
	stop = func() error { return errors.Join(h.close(), db.Close(context.WithoutCancel(ctx))) }
	defer func() {
		if err != nil {
			stop()
		}
	}()
	sysCtx := domain.WithPrincipal(ctx, domain.System)
	admin := domain.WithPrincipal(ctx, &domain.Principal{UserID: "bench", Role: domain.RoleAdmin})
	if _, err := h.sys.Assistant.UpdateSettings(admin, assistant.SettingsPatch{MessagesPerMinute: ptr(10000), DailyTokens: ptr(0)}); err != nil {
		return "", "", nil, err
	}
	if _, err := h.sys.Assistant.SaveProvider(admin, "", assistant.ProviderInput{Name: "bench", Kind: domain.ProviderOpenAI, BaseURL: upstream,
		External: &external, Default: true, Models: []domain.LLMModel{{Name: "bench-model", Roles: domain.Roles}}}); err != nil {
		return "", "", nil, err
	}
	u, err := h.sys.Auth.CreateUser(sysCtx, auth.NewAccount{Email: "chat@bench.example.org", Password: rand.Text(), Name: "Bench Chat", Role: domain.RoleStaff})
	if err != nil {
		return "", "", nil, err
	}
	key, _, err = h.sys.Auth.CreateAPIKey(ctx, &domain.Principal{UserID: u.ID, Role: u.Role}, "bench")
	if err != nil {
		return "", "", nil, err
	}
	if retrieval {
		// The starter documents are indexed when serving starts.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			hits, err := h.sys.Store.SearchChunks(ctx, "repeat prescriptions", []string{domain.VisibilityEveryone, domain.VisibilityStaff}, 1)
			if err == nil && len(hits) > 0 {
				break
			}
			if time.Now().After(deadline) {
				return "", "", nil, errors.New("the starter documents were not indexed within 30 s")
			}
		}
	}
	return h.base, key, stop, nil
}

func ptr[T any](v T) *T { return &v }

// gatewayRun keeps clients streamed chats going at once: each client
// starts at a random moment within one answer's length, so that chats
// arrive spread out as in steady use, then runs a warm-up chat and rounds
// measured ones back to back.
func gatewayRun(ctx context.Context, client *http.Client, url, key, model string, clients, rounds int, spread time.Duration) (GatewayRow, error) {
	body, _ := json.Marshal(map[string]any{"model": model, "stream": true, "messages": []map[string]string{{"role": "user", "content": gatewayQuestion}}})
	var mu sync.Mutex
	var ttft, total []time.Duration
	row := GatewayRow{}
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(mrand.N(spread))
			for round := 0; round <= rounds && ctx.Err() == nil; round++ {
				first, all, err := streamChat(ctx, client, url, key, body)
				if round == 0 { // warm-up: connections, caches
					continue
				}
				mu.Lock()
				row.Chats++
				if err != nil {
					row.Errors++
					if row.FirstError == "" {
						row.FirstError = err.Error()
					}
				} else {
					ttft, total = append(ttft, first), append(total, all)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return row, err
	}
	slices.Sort(ttft)
	slices.Sort(total)
	row.TTFT50, row.TTFT99 = percentile(ttft, 0.50), percentile(ttft, 0.99)
	row.Total50, row.Total99 = percentile(total, 0.50), percentile(total, 0.99)
	return row, nil
}

// streamChat posts one streamed chat completion and times the first piece
// of text and the end.
func streamChat(ctx context.Context, client *http.Client, url, key string, body []byte) (first, all time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, statusError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	done := false
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			done = true
			break
		}
		if first == 0 && strings.Contains(line, `"content":"`) && !strings.Contains(line, `"content":""`) {
			first = time.Since(t0)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !done || first == 0 {
		return 0, 0, errors.New("the stream ended without an answer")
	}
	return first, time.Since(t0), nil
}
