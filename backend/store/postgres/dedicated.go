package postgres

import (
	"context"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Dedicated opens a connection of its own, outside pool, with the pool's
// configuration and credentials (its BeforeConnect, so a password read per
// connection is read for this one too) and the session settings params
// (application_name and the like), within 10 s: for a LISTEN or a
// session-level lock that must not share a pooled connection.
func Dedicated(ctx context.Context, pool *pgxpool.Pool, params map[string]string) (*pgx.Conn, error) {
	pcfg := pool.Config()
	cfg := pcfg.ConnConfig
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	maps.Copy(cfg.RuntimeParams, params)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if pcfg.BeforeConnect != nil {
		if err := pcfg.BeforeConnect(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return pgx.ConnectConfig(ctx, cfg)
}
