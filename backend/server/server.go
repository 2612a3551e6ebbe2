// Package server wires HealthHub together and implements the healthhubd
// command line. main only calls Run.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/healthhub/healthhub/backend/assistant"
	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/consult"
	"github.com/healthhub/healthhub/backend/emergency"
	"github.com/healthhub/healthhub/backend/fhir"
	"github.com/healthhub/healthhub/backend/health"
	"github.com/healthhub/healthhub/backend/httpapi"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/leader"
	"github.com/healthhub/healthhub/backend/live"
	"github.com/healthhub/healthhub/backend/llm"
	"github.com/healthhub/healthhub/backend/notify"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/healthhub/healthhub/backend/store"
	"github.com/healthhub/healthhub/backend/store/postgres"
	"github.com/healthhub/healthhub/backend/sync/node"
	"github.com/healthhub/healthhub/backend/sync/upstream"
	"github.com/healthhub/healthhub/frontend"
)

// Version is stamped at build time (-ldflags "-X …/server.Version=…").
var Version = "dev"

// System is the running backend's parts, gathered so commands and the
// desktop shell can share them.
type System struct {
	Config    Config
	Logger    *slog.Logger
	Now       func() time.Time
	Store     store.DB
	Keys      *secret.Keyring
	Blobs     blob.Store
	Audit     *audit.Log
	Auth      *auth.Service
	Portal    *portal.Service
	Live      *live.Hub
	Knowledge *knowledge.Service
	Assistant *assistant.Service
	// Upstream serves the nodes enrolled with this server; Node is this
	// installation's own sync with its upstream, once enrolled.
	Upstream *upstream.Service
	Node     *node.Service
	// Emergency grants and reviews emergency access to patients' records.
	Emergency *emergency.Service
	// Consult records consultations, transcribes them and keeps their
	// visit notes.
	Consult *consult.Service
	// Leader elects the one process of a deployment that runs the
	// background work; with SQLite this process always does.
	Leader    *leader.Elector
	api       *httpapi.Server
	stopPeers context.CancelFunc
	// started is when the system was opened: backups are not overdue
	// before they could have been taken.
	started time.Time
	// isolated serves a restored copy under a drill: no background work,
	// so nothing is sent, synced, backed up or replicated from it.
	isolated bool

	// replication replicates a SQLite database while the server serves.
	replication replication
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Open opens and migrates the store and builds the services.
func Open(ctx context.Context, c Config, logger *slog.Logger, now func() time.Time) (*System, error) {
	creds, err := databaseCredentials(ctx, c)
	if err != nil {
		return nil, err
	}
	db, err := store.OpenWith(ctx, c.DatabaseURL, c.DataDir, creds)
	if err != nil {
		return nil, err
	}
	version, err := db.Migrate(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s database: %w", db.Engine(), err)
	}
	logger.Info("database ready", "engine", db.Engine(), "schema_version", version)
	keys, err := loadKeyring(ctx, c, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	blobs, err := openBlobs(ctx, c, keys)
	if err != nil {
		db.Close()
		return nil, err
	}
	auditLog := audit.NewLog(db, now, logger)
	argon := auth.DefaultArgon2
	argon.Memory = c.Argon2Memory
	acfg := auth.Config{
		IdleTimeout: c.IdleTimeout, SelfRegistration: c.SelfRegistration, Argon2: argon,
		LoginPerIPPerMinute: c.LoginPerIP, LoginPerAccountPerMinute: c.LoginPerAccount, RegistrationsPerIPPerHour: c.RegistrationsPerIPHour,
	}
	// Processes sharing a PostgreSQL database (replicas behind a load
	// balancer) share rate limits, cache invalidations and one leader.
	pg, replicas := db.(*postgres.DB)
	elector := leader.Solo()
	var peers *live.PGBridge
	if replicas {
		acfg.SharedLimits, acfg.ReadSessionsAlways = pg, true
		if elector, err = leader.New(pg.Pool(), logger); err == nil {
			peers, err = live.NewPGBridge(pg.Pool(), authChannel, logger)
		}
		if err != nil {
			auditLog.Close()
			db.Close()
			return nil, err
		}
	}
	authSvc, err := auth.New(ctx, acfg, db, auditLog, keys, now, logger)
	if err != nil {
		auditLog.Close()
		db.Close()
		return nil, err
	}
	hub, err := newHub(c, db, now, logger)
	if err != nil {
		auditLog.Close()
		db.Close()
		return nil, err
	}
	portalSvc := portal.New(db, authSvc, keys, auditLog, hub, now, logger)
	kopts := knowledge.Options{Shared: replicas}
	if c.KnowledgeS3 {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			hub.Close()
			auditLog.Close()
			db.Close()
			return nil, fmt.Errorf("AWS configuration for S3 knowledge sources: %w", err)
		}
		kopts.S3 = s3.NewFromConfig(awsCfg)
	}
	switch c.Embeddings {
	case "openai":
		kopts.Embedder = knowledge.NewOpenAIEmbedder(c.OpenAIBaseURL, c.OpenAIAPIKey, c.EmbeddingsModel, nil)
	case "bedrock":
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			hub.Close()
			auditLog.Close()
			db.Close()
			return nil, fmt.Errorf("AWS configuration for Bedrock embeddings: %w", err)
		}
		kopts.Embedder = knowledge.NewBedrockEmbedder(bedrockruntime.NewFromConfig(awsCfg), c.EmbeddingsModel)
	}
	kb := knowledge.New(db, auditLog, hub, kopts, now, logger)
	aopts := assistant.Options{Default: assistant.DefaultProvider{Kind: c.LLMProvider, BaseURL: c.OpenAIBaseURL, APIKey: c.OpenAIAPIKey,
		Model: c.OpenAIModel, Region: c.BedrockRegion, External: c.LLMExternal}, Passages: c.AssistantPassages}
	if c.LLMProvider == "bedrock" {
		aopts.Default.Model = c.BedrockModel
	}
	if replicas {
		aopts.SharedLimits, aopts.Heartbeat = pg, answerHeartbeat
	}
	aopts.Bedrock = func(region string) (llm.ConverseStreamer, error) {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region), awsconfig.WithRetryMaxAttempts(1))
		if err != nil {
			return nil, err
		}
		return bedrockruntime.NewFromConfig(awsCfg), nil
	}
	asst := assistant.New(db, kb, portalSvc, keys, auditLog, aopts, now, logger)
	up := upstream.New(db, portalSvc, auditLog, now, logger)
	emergencySvc := emergency.New(db, authSvc, auditLog, hub, now, logger)
	portalSvc.UseEmergencyGrants(emergencySvc)
	up.UseAuditWatcher(emergencySvc)
	nodeSvc, err := node.New(ctx, db, keys, portalSvc, auditLog, hub, node.Options{Interval: c.SyncInterval}, now, logger)
	if err != nil {
		hub.Close()
		auditLog.Close()
		db.Close()
		return nil, fmt.Errorf("sync with the upstream: %w", err)
	}
	portalSvc.UseOutbox(nodeSvc)
	up.UseForward(nodeSvc)
	peersCtx, stopPeers := context.WithCancel(context.WithoutCancel(ctx))
	if peers != nil {
		authSvc.SharePeers(peersCtx, peers)
	}
	sys := &System{started: now(), Config: c, Logger: logger, Now: now, Store: db, Keys: keys, Blobs: blobs, Audit: auditLog, Auth: authSvc, Portal: portalSvc, Live: hub, Knowledge: kb,
		Assistant: asst, Upstream: up, Node: nodeSvc, Leader: elector, stopPeers: stopPeers, Emergency: emergencySvc}
	sys.Consult = newConsult(sys, emergencySvc)
	sys.api = sys.buildHandler()
	sys.api.UseRetention(sys.retentionService())
	nodeSvc.UsePurger(sys.retentionService())
	return sys, nil
}

// liveChannel is the PostgreSQL notification channel that carries live
// events between server processes sharing a database; authChannel carries
// their cache invalidations (logouts, revocations, changed settings).
const (
	liveChannel = "healthhub_live"
	authChannel = "healthhub_auth"
)

// answerHeartbeat is how often a process sharing its database marks an
// assistant answer it is writing as alive; the leader takes over an answer
// silent for six beats.
const answerHeartbeat = 5 * time.Second

// newHub builds the live-update hub; with PostgreSQL, events also travel to
// the other server processes through LISTEN/NOTIFY.
func newHub(c Config, db store.DB, now func() time.Time, logger *slog.Logger) (*live.Hub, error) {
	opts := live.Options{AllowedOrigins: c.AllowedOrigins}
	if pg, ok := db.(*postgres.DB); ok {
		bridge, err := live.NewPGBridge(pg.Pool(), liveChannel, logger)
		if err != nil {
			return nil, err
		}
		opts.Bridge = bridge
	}
	return live.NewHub(opts, now, logger)
}

// Close disconnects live clients, flushes the audit log and closes the
// database.
func (s *System) Close() error {
	s.Assistant.Close()
	s.Knowledge.Close()
	s.Live.Close()
	if s.stopPeers != nil {
		s.stopPeers()
		s.Auth.WaitPeers()
	}
	s.Audit.Close()
	s.stopReplication()
	return s.Store.Close()
}

// Handler returns the HTTP API and web UI.
func (s *System) Handler() *httpapi.Server { return s.api }

func (s *System) buildHandler() *httpapi.Server {
	fh := fhir.New(s.Portal, s.Store, s.Audit, s.Now, s.Logger, s.publicBase)
	fh.UseConsultations(s.Consult)
	return httpapi.New(httpapi.Config{
		AllowedOrigins: s.Config.AllowedOrigins, TrustedProxies: s.Config.TrustedProxies,
		Version: Version, UI: frontend.Dist(),
	}, httpapi.Deps{Auth: s.Auth, Portal: s.Portal, Store: s.Store, Audit: s.Audit, Live: s.Live, Knowledge: s.Knowledge, Assistant: s.Assistant, Now: s.Now, Logger: s.Logger,
		Upstream: s.Upstream, Node: s.Node, Leader: s.Leader, LastSnapshot: s.lastSnapshot(), Emergency: s.Emergency, Consult: s.Consult, Collectors: s.replicationCollectors(),
		Health: health.New(s.Portal, s.Audit, s.Store, s.Assistant, s.Knowledge, health.Options{EmailConfigured: s.Config.EmailConfigured(), Backup: s.BackupHealth}),
		FHIR:   fh})
}

// Serve runs the HTTP server on ln until ctx ends, then shuts down
// gracefully: in-flight requests finish (up to 30 s), the audit log is
// flushed, and the database is closed by the caller.
func (s *System) Serve(ctx context.Context, ln net.Listener) error {
	s.Config.Addr = ln.Addr().String() // the real port when :0 was asked for
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	if s.isolated {
		return s.serveHTTP(ctx, srv, ln)
	}
	worker, err := s.notificationWorker()
	if err != nil {
		return err
	}
	s.startReplication(ctx)
	if err := s.installStarter(ctx); err != nil {
		// The clinic can still add its own sources; say why, and go on.
		s.Logger.Warn("starter knowledge base not installed", "err", err)
	}
	// The only process on its database watches its sources before the
	// first request is served; processes sharing one leave that to the
	// leader (Knowledge.Lead).
	if err := s.Knowledge.Start(ctx); err != nil {
		return fmt.Errorf("start the knowledge base: %w", err)
	}
	if err := s.Assistant.Start(ctx); err != nil {
		return fmt.Errorf("start the assistant: %w", err)
	}
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		s.Leader.Run(workerCtx, func(ctx context.Context) { s.backgroundWork(ctx, worker) })
	}()
	// Every process transcribes: the audio it takes in at once, and what
	// is left over anywhere (a window is stored once, by whichever gets
	// there first).
	transcribeDone := make(chan struct{})
	go func() {
		defer close(transcribeDone)
		s.Consult.Run(workerCtx)
	}()
	defer func() { stopWorker(); <-workDone; <-transcribeDone }()
	return s.serveHTTP(ctx, srv, ln)
}

// serveHTTP serves until ctx ends, then shuts down gracefully.
func (s *System) serveHTTP(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Logger.Info("shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// backgroundWork runs the jobs one process of a deployment runs (the
// leader), until ctx ends: e-mail notifications, sync with the upstream,
// slot-lease expiry and compaction, and, when processes share the
// database, the knowledge sources and answers left unfinished.
func (s *System) backgroundWork(ctx context.Context, worker *notify.Worker) {
	jobs := []func(context.Context){
		func(ctx context.Context) {
			if err := worker.Run(ctx); err != nil {
				s.Logger.Error("notification worker stopped", "err", err)
			}
		},
		func(ctx context.Context) {
			if err := s.Node.Run(ctx); err != nil {
				s.Logger.Error("sync stopped", "err", err)
			}
		},
		s.expireLeases,
		s.Assistant.Lead,
		s.Knowledge.Lead,
		s.scheduledSnapshots,
		s.writeCanaries,
		s.watchBackups,
		s.applyRetention,
	}
	var wg sync.WaitGroup
	for _, job := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			job(ctx)
		}()
	}
	wg.Wait()
}

// expireLeases releases slot leases whose time is up, every minute, so that
// an expired lease stops holding a doctor's time even when no node asks;
// every hour it also compacts the change log nodes pull.
func (s *System) expireLeases(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var compacted time.Time
	for {
		if n, err := s.Upstream.ExpireLeases(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Warn("expire slot leases", "err", err)
		} else if n > 0 {
			s.Logger.Info("slot leases expired", "count", n)
		}
		if time.Since(compacted) >= time.Hour {
			compacted = time.Now()
			if n, err := s.Upstream.CompactChanges(ctx); err != nil && ctx.Err() == nil {
				s.Logger.Warn("compact the sync change log", "err", err)
			} else if n > 0 {
				s.Logger.Info("sync change log compacted", "removed", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// notificationWorker delivers the outbox by e-mail and creates reminders.
// Without an SMTP server the notifications stay in the app, and their e-mail
// is recorded as skipped.
func (s *System) notificationWorker() (*notify.Worker, error) {
	var sender notify.Sender
	if s.Config.EmailConfigured() {
		m, err := notify.NewMailer(notify.SMTPConfig{Addr: s.Config.SMTPAddr, From: s.Config.SMTPFrom, Username: s.Config.SMTPUsername,
			Password: s.Config.SMTPPassword, StartTLS: s.Config.SMTPStartTLS}, s.Now, s.Logger)
		if err != nil {
			return nil, fmt.Errorf("e-mail settings: %w", err)
		}
		sender = m
	}
	return notify.NewWorker(s.Store, sender, s.Live, s.Now, s.Logger, notify.Options{ClinicTimeZone: s.Auth.ClinicTimeZone}), nil
}

// publicBase is the configured public URL for links in responses (FHIR
// bundles), never the client-supplied Host header; without one it is the
// listen address.
func (s *System) publicBase(*http.Request) string {
	if s.Config.PublicURL != "" {
		return s.Config.PublicURL
	}
	return "http://" + s.Config.Addr
}

// loadKeyring opens the encryption keyring: a local 0600 file by default, or
// one whose data keys are wrapped by AWS KMS when a KMS key is configured,
// kept in the database when replicas share it (Config.KeyringInDatabase).
func loadKeyring(ctx context.Context, c Config, db store.DB) (*secret.Keyring, error) {
	if c.KMSKeyID == "" {
		return secret.LoadOrCreate(c.KeyringFile)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for KMS: %w", err)
	}
	wrapper := secret.NewKMSWrapper(kms.NewFromConfig(awsCfg), c.KMSKeyID)
	if c.KeyringInDatabase {
		return secret.LoadOrCreateShared(ctx, settingRing{db}, wrapper)
	}
	return secret.LoadOrCreateWrapped(ctx, c.KeyringFile, wrapper)
}

// keyringSetting is the setting that holds a shared, wrapped keyring.
const keyringSetting = "secret.keyring"

// settingRing keeps the wrapped keyring in the settings table.
type settingRing struct{ db store.DB }

func (r settingRing) LoadRing(ctx context.Context) (string, bool, error) {
	return r.db.Setting(ctx, keyringSetting)
}

func (r settingRing) CreateRing(ctx context.Context, ring string) (string, error) {
	return r.db.PutSettingIfAbsent(ctx, keyringSetting, ring)
}

func (r settingRing) SwapRing(ctx context.Context, old, ring string) (bool, error) {
	return r.db.SwapSetting(ctx, keyringSetting, old, ring)
}
