package bench

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
)

// MeResult is the authenticated GET /api/v1/me scenario's outcome.
type MeResult struct {
	Engine string
	Stats
}

const benchEmail = "bench.user@example.org"

// BenchMe starts the server on a fresh database of e, signs a user in over
// HTTP and has o.Clients clients call GET /api/v1/me over loopback.
func BenchMe(ctx context.Context, e Engine, o Options) (res MeResult, err error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return MeResult{}, err
	}
	db, err := e.fresh(ctx, o.TempDir)
	if err != nil {
		return MeResult{}, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer func() {
		if cerr := db.Close(ctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", e.Name, cerr))
		}
	}()
	res.Engine = e.Name
	res.Stats, err = benchMe(ctx, db, o)
	if err != nil {
		return MeResult{}, fmt.Errorf("%s GET /api/v1/me: %w", e.Name, err)
	}
	return res, nil
}

func benchMe(ctx context.Context, db *database, o Options) (_ Stats, err error) {
	h, err := startServer(ctx, db, o, o.Clients)
	if err != nil {
		return Stats{}, err
	}
	defer func() { err = errors.Join(err, h.close()) }()

	password := rand.Text()
	sysCtx := domain.WithPrincipal(ctx, domain.System)
	if _, err := h.sys.Auth.CreateUser(sysCtx, auth.NewAccount{Email: benchEmail, Password: password, Name: "Bench User", Role: domain.RolePatient}); err != nil {
		return Stats{}, fmt.Errorf("create user: %w", err)
	}
	token, err := h.login(ctx, benchEmail, password)
	if err != nil {
		return Stats{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/api/v1/me", nil)
	if err != nil {
		return Stats{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if err := checkMe(h.client, req); err != nil {
		return Stats{}, err
	}

	return load(ctx, o.Clients, o.Warmup, o.Duration, func(ctx context.Context) func() error {
		r := req.Clone(ctx)
		return func() error { return getOK(h.client, r) }
	})
}

// checkMe makes sure the token works and names the bench user before the
// load starts.
func checkMe(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET /api/v1/me: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /api/v1/me: %w", statusError(resp))
	}
	var me struct {
		Email string `json:"email"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&me); err != nil {
		return fmt.Errorf("decode GET /api/v1/me: %w", err)
	}
	if me.Email != benchEmail {
		return fmt.Errorf("GET /api/v1/me answered for %q, not the bench user", me.Email)
	}
	return nil
}

// getOK is one GET of a load; it wants 200 and reads the whole body so the
// connection is reused.
func getOK(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	return nil
}

// statusError describes a refused request by its status and the API's
// error message.
func statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	io.Copy(io.Discard, resp.Body)
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error.Message != "" {
		return fmt.Errorf("%s: %s (%s)", resp.Status, body.Error.Message, body.Error.Code)
	}
	return errors.New(resp.Status)
}

// discardLogger drops everything.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
