// Package assistant is the clinic's AI assistant: conversations, grounding
// on the knowledge base, the emergency notice, redaction of identifiers
// before text leaves for an external model, streaming to any number of
// listeners, usage, limits and the audit of every interaction.
package assistant

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/access"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/llm"
	"github.com/healthhub/healthhub/backend/policy"
	"github.com/healthhub/healthhub/backend/ratelimit"
	"github.com/healthhub/healthhub/backend/redact"
	"github.com/healthhub/healthhub/backend/secret"
)

// Searcher finds knowledge-base passages within the caller's visibility;
// *knowledge.Service is one.
type Searcher interface {
	Search(ctx context.Context, q string, limit int) ([]knowledge.Result, error)
}

// PatientAccess says whether the caller may see a patient's record;
// *portal.Service is one.
type PatientAccess interface {
	PatientResource(ctx context.Context, typ, patientID string) (policy.Resource, error)
	Authorize(ctx context.Context, action string, res policy.Resource) error
}

// DefaultProvider is the provider configured by the environment, used until
// an admin configures others.
type DefaultProvider struct {
	Kind     string // offline, openai, bedrock
	BaseURL  string
	APIKey   string
	Model    string
	Region   string
	External bool
}

// Options configure the service.
type Options struct {
	Default DefaultProvider
	LLM     llm.Options
	// Bedrock makes a Bedrock runtime client for a region (hosted mode).
	Bedrock func(region string) (llm.ConverseStreamer, error)
	// HTTPClient reaches OpenAI-compatible servers (default: no overall
	// timeout, the stream deadlines apply).
	HTTPClient *http.Client
	// ClinicName is used in the system prompt.
	ClinicName string
	// Passages is how many knowledge passages ground an answer (default
	// 5; negative: none, the knowledge base is not searched).
	Passages int
	// MaxAnswerTokens bounds an answer (1,024).
	MaxAnswerTokens int
	// SaveEvery is how often a streaming answer is saved (1 s).
	SaveEvery time.Duration
	// Heartbeat, when set, is how often an answer being written is marked
	// alive in the database, so that when its process dies the leader
	// (Lead) takes it over after six missed beats; for server processes
	// sharing a database. Without it, Start marks answers a stopped
	// process left unfinished as failed.
	Heartbeat time.Duration
	// SharedLimits, when set, keeps the per-user message limit where every
	// server process of the deployment counts toward it.
	SharedLimits ratelimit.Store
}

// Limits on input.
const (
	MaxMessageChars = 16000
	maxTitleChars   = 200
	autoTitleChars  = 60
)

// Service implements the assistant.
type Service struct {
	store    Store
	know     Searcher
	patients PatientAccess
	keys     *secret.Keyring
	audit    audit.Recorder
	access   *access.Guard
	now      func() time.Time
	logger   *slog.Logger
	opts     Options

	mu       sync.Mutex
	limiter  *ratelimit.Limiter
	limitFor int // messages per minute the limiter was made for
	clients  map[string]cachedProvider
	// patientNames redacts with the names of the clinic's patients.
	patientNames *redact.Patients
	// Read on every message, so kept a moment: changes made through this
	// process show at once, those of other processes within cacheFor.
	settings   Settings
	settingsAt time.Time
	provs      []*domain.LLMProvider
	provsAt    time.Time
	usage      map[string]usageEntry  // user id → today's tokens
	gens       map[string]*generation // by answer message id

	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

type cachedProvider struct {
	updated time.Time
	p       llm.Provider
}

// New makes the service; Start begins the background work (retention).
func New(store Store, know Searcher, patients PatientAccess, keys *secret.Keyring, rec audit.Recorder, opts Options, now func() time.Time, logger *slog.Logger) *Service {
	if opts.Passages == 0 {
		opts.Passages = 5
	}
	if opts.MaxAnswerTokens <= 0 {
		opts.MaxAnswerTokens = 1024
	}
	if opts.SaveEvery <= 0 {
		opts.SaveEvery = time.Second
	}
	if opts.ClinicName == "" {
		opts.ClinicName = "the clinic"
	}
	if opts.Default.Kind == "" {
		opts.Default.Kind = domain.ProviderOffline
	}
	opts.LLM.Logger = logger
	if opts.HTTPClient == nil {
		// Many answers stream from one server at once: keep a connection
		// for each rather than the standard two.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 2048, 1024
		opts.HTTPClient = &http.Client{Transport: tr}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{store: store, know: know, patients: patients, keys: keys, audit: rec, access: access.New(rec), now: now, logger: logger, opts: opts,
		clients: map[string]cachedProvider{}, gens: map[string]*generation{}, ctx: ctx, cancel: cancel}
	s.patientNames = redact.NewPatients(func(ctx context.Context) ([]string, error) { return s.store.PatientNames(ctx) }, now, time.Minute)
	return s
}

// Start marks answers a stopped process left streaming as failed and
// purges deleted conversations past their retention, now and hourly.
func (s *Service) Start(ctx context.Context) error {
	if s.opts.Heartbeat > 0 {
		// Other processes may be writing answers now; those left
		// unfinished are taken over by the leader (Lead).
	} else if n, err := s.store.InterruptStreaming(ctx, s.now()); err != nil {
		return err
	} else if n > 0 {
		s.logger.Warn("assistant: answers interrupted by a stop were marked failed", "count", n)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if _, err := s.Purge(s.ctx); err != nil && s.ctx.Err() == nil {
				s.logger.Error("assistant: purge deleted conversations", "err", err)
			}
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Close stops answers being written and the background work. The answers
// are saved as stopped; with Options.Heartbeat (replicas) they are left
// being written, for the leader to have another process finish them.
func (s *Service) Close() {
	s.mu.Lock()
	// The answers first, so that shutting down is their cause, not the
	// service's context ending under them.
	for _, g := range s.gens {
		g.stop(errShutdown)
	}
	s.cancel() // under the lock: Send checks it there before adding to wg
	s.mu.Unlock()
	s.wg.Wait()
}

// Purge removes for good the conversations deleted longer ago than the
// retention period.
func (s *Service) Purge(ctx context.Context) (int, error) {
	set, err := s.Settings(ctx)
	if err != nil {
		return 0, err
	}
	n, err := s.store.PurgeConversations(ctx, s.now().Add(-time.Duration(set.RetentionDays)*24*time.Hour))
	if n > 0 {
		s.logger.Info("assistant: purged deleted conversations", "count", n)
	}
	return n, err
}

// Settings are the clinic's assistant settings.
type Settings struct {
	// RetentionDays keeps deleted conversations this long before they are
	// removed for good (30).
	RetentionDays int `json:"retention_days"`
	// MessagesPerMinute is each user's rate limit (20).
	MessagesPerMinute int `json:"messages_per_minute"`
	// DailyTokens is each user's daily token quota, prompt and answer (200,000; 0 for none).
	DailyTokens int `json:"daily_tokens"`
}

// SettingsPatch changes some settings.
type SettingsPatch struct {
	RetentionDays     *int `json:"retention_days,omitempty"`
	MessagesPerMinute *int `json:"messages_per_minute,omitempty"`
	DailyTokens       *int `json:"daily_tokens,omitempty"`
}

const settingsKey = "assistant.settings"

func defaultSettings() Settings {
	return Settings{RetentionDays: 30, MessagesPerMinute: 20, DailyTokens: 200000}
}

// cacheFor is how long settings, providers and usage read from the store
// are used before they are read again.
const cacheFor = 2 * time.Second

type usageEntry struct {
	day    string
	tokens int
	at     time.Time
}

// SettingsFor returns the settings in force to the caller, who must be
// allowed to read them (admins).
func (s *Service) SettingsFor(ctx context.Context) (Settings, error) {
	if err := s.access.Authorize(ctx, policy.Read, policy.Resource{Type: policy.AISettings}); err != nil {
		return Settings{}, err
	}
	return s.Settings(ctx)
}

// Settings returns the settings in force, for the service's own use.
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	s.mu.Lock()
	if !s.settingsAt.IsZero() && s.now().Sub(s.settingsAt) < cacheFor {
		set := s.settings
		s.mu.Unlock()
		return set, nil
	}
	s.mu.Unlock()
	set, err := s.readSettings(ctx)
	if err == nil {
		s.mu.Lock()
		s.settings, s.settingsAt = set, s.now()
		s.mu.Unlock()
	}
	return set, err
}

func (s *Service) readSettings(ctx context.Context) (Settings, error) {
	set := defaultSettings()
	v, ok, err := s.store.Setting(ctx, settingsKey)
	if err != nil || !ok {
		return set, err
	}
	if err := json.Unmarshal([]byte(v), &set); err != nil {
		return defaultSettings(), fmt.Errorf("read assistant settings: %w", err)
	}
	return set, nil
}

// UpdateSettings changes the settings (admin).
func (s *Service) UpdateSettings(ctx context.Context, in SettingsPatch) (Settings, error) {
	if err := s.access.Authorize(ctx, policy.Update, policy.Resource{Type: policy.AISettings}); err != nil {
		return Settings{}, err
	}
	set, err := s.Settings(ctx)
	if err != nil {
		return set, err
	}
	check := func(field string, v *int, lo, hi int, dst *int) error {
		if v == nil {
			return nil
		}
		if *v < lo || *v > hi {
			return domain.Invalid(field, "%s must be between %d and %d.", field, lo, hi)
		}
		*dst = *v
		return nil
	}
	for _, c := range []error{
		check("retention_days", in.RetentionDays, 0, 3650, &set.RetentionDays),
		check("messages_per_minute", in.MessagesPerMinute, 1, 10000, &set.MessagesPerMinute),
		check("daily_tokens", in.DailyTokens, 0, 1_000_000_000, &set.DailyTokens),
	} {
		if c != nil {
			return set, c
		}
	}
	b, _ := json.Marshal(set)
	if err := s.store.PutSetting(ctx, settingsKey, string(b)); err != nil {
		return set, err
	}
	s.mu.Lock()
	s.settingsAt = time.Time{}
	s.mu.Unlock()
	return set, s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: policy.AISettings, Detail: string(b)})
}

// checkLimits applies the per-user rate limit and daily token quota.
func (s *Service) checkLimits(ctx context.Context, p *domain.Principal) error {
	set, err := s.Settings(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.limiter == nil || s.limitFor != set.MessagesPerMinute {
		s.limiter, s.limitFor = ratelimit.New(float64(set.MessagesPerMinute), max(1, set.MessagesPerMinute)), set.MessagesPerMinute
		if s.opts.SharedLimits != nil {
			s.limiter.Share(s.opts.SharedLimits, "chat", s.logger)
		}
	}
	lim := s.limiter
	s.mu.Unlock()
	if ok, wait := lim.Allow(ctx, p.UserID, s.now()); !ok {
		return &domain.Error{Code: domain.ERATELIMITED, Message: fmt.Sprintf("You are sending messages faster than the clinic allows (%d a minute). Try again in %d seconds.", set.MessagesPerMinute, int(wait.Seconds())+1)}
	}
	if set.DailyTokens > 0 {
		used, err := s.usedToday(ctx, p.UserID)
		if err != nil {
			return err
		}
		if used >= set.DailyTokens {
			return &domain.Error{Code: domain.ERATELIMITED, Message: fmt.Sprintf("You have used today's assistant allowance (%d tokens). It renews at midnight UTC; an administrator can raise it.", set.DailyTokens)}
		}
	}
	return nil
}

// usedToday is the tokens a user has used today (UTC).
func (s *Service) usedToday(ctx context.Context, userID string) (int, error) {
	day := s.now().UTC().Format(time.DateOnly)
	s.mu.Lock()
	e, ok := s.usage[userID]
	s.mu.Unlock()
	if ok && e.day == day && s.now().Sub(e.at) < cacheFor {
		return e.tokens, nil
	}
	use, err := s.store.UsageBetween(ctx, day, day, userID)
	if err != nil {
		return 0, err
	}
	used := 0
	for _, u := range use {
		used += u.TokensIn + u.TokensOut
	}
	s.mu.Lock()
	if s.usage == nil || len(s.usage) > 100000 {
		s.usage = map[string]usageEntry{}
	}
	s.usage[userID] = usageEntry{day: day, tokens: used, at: s.now()}
	s.mu.Unlock()
	return used, nil
}

// addUsage records an answer's tokens, in the store and in the cache.
func (s *Service) addUsage(ctx context.Context, u domain.Usage) error {
	s.mu.Lock()
	if e, ok := s.usage[u.UserID]; ok && e.day == u.Day {
		e.tokens += u.TokensIn + u.TokensOut
		s.usage[u.UserID] = e
	}
	s.mu.Unlock()
	return s.store.AddUsage(ctx, u)
}

// validateMessage checks a message's text.
func validateMessage(content string) (string, error) {
	if !utf8.ValidString(content) {
		return "", domain.Invalid("content", "The message is not valid UTF-8 text.")
	}
	content = strings.TrimSpace(content)
	if content == "" {
		return "", domain.Invalid("content", "Write a message first.")
	}
	if n := utf8.RuneCountInString(content); n > MaxMessageChars {
		return "", &domain.Error{Code: domain.ETOOLARGE, Message: fmt.Sprintf("The message is %d characters long; the limit is %d. Shorten it or split it into several messages.", n, MaxMessageChars)}
	}
	return content, nil
}

// detector returns the redaction detector with the patients' names,
// refreshed every minute.
func (s *Service) detector(ctx context.Context) (*redact.Detector, error) {
	return s.patientNames.Detector(ctx)
}

// record appends an audit event; a failure is the caller's failure.
func (s *Service) record(ctx context.Context, ev audit.Event) error {
	return s.audit.Record(ctx, ev)
}

var errShutdown = fmt.Errorf("the server is shutting down")
