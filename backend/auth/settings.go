package auth

import (
	"context"
	"encoding/json"
	"github.com/healthhub/healthhub/backend/policy"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
)

// Settings are the clinic-wide account settings an admin controls.
type Settings struct {
	// SelfRegistration lets patients create their own accounts.
	SelfRegistration bool `json:"self_registration"`
	// MFARequiredRoles must sign in with a second factor.
	MFARequiredRoles []domain.Role `json:"mfa_required_roles"`
	// IdleTimeoutMinutes ends a session after this long without activity.
	IdleTimeoutMinutes int `json:"idle_timeout_minutes"`
	// TimeZone is the clinic's IANA time zone: new doctors' hours are in it,
	// and messages state times in it.
	TimeZone string `json:"time_zone"`
}

// SettingsPatch changes some settings; nil fields are left as they are.
type SettingsPatch struct {
	SelfRegistration   *bool          `json:"self_registration,omitempty"`
	MFARequiredRoles   *[]domain.Role `json:"mfa_required_roles,omitempty"`
	IdleTimeoutMinutes *int           `json:"idle_timeout_minutes,omitempty"`
	TimeZone           *string        `json:"time_zone,omitempty"`
}

func (s Settings) requiresMFA(r domain.Role) bool { return slices.Contains(s.MFARequiredRoles, r) }

func (s Settings) idle() time.Duration { return time.Duration(s.IdleTimeoutMinutes) * time.Minute }

const settingsKey = "auth.settings"

// settingsCache keeps the settings for a few seconds: they are read on every
// request, and a change made on another replica is seen within that time.
type settingsCache struct {
	store    domain.SettingStore
	now      func() time.Time
	defaults Settings

	mu      sync.Mutex
	cached  Settings
	fetched time.Time
}

const settingsTTL = 3 * time.Second

func (c *settingsCache) get(ctx context.Context) (Settings, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.fetched.IsZero() && now.Sub(c.fetched) < settingsTTL && now.After(c.fetched) {
		return c.cached, nil
	}
	v, ok, err := c.store.Setting(ctx, settingsKey)
	if err != nil {
		return Settings{}, err
	}
	set := c.defaults
	if ok {
		if err := json.Unmarshal([]byte(v), &set); err != nil {
			return Settings{}, err
		}
	}
	c.cached, c.fetched = set, now
	return set, nil
}

func (c *settingsCache) invalidate() {
	c.mu.Lock()
	c.fetched = time.Time{}
	c.mu.Unlock()
}

// Settings returns the settings in force, for the services' own use.
func (s *Service) Settings(ctx context.Context) (Settings, error) { return s.settings.get(ctx) }

// SettingsFor returns the settings in force to the caller, who must be
// allowed to read them (admins).
func (s *Service) SettingsFor(ctx context.Context) (Settings, error) {
	if err := s.access.Authorize(ctx, policy.Read, policy.Resource{Type: policy.Settings}); err != nil {
		return Settings{}, err
	}
	return s.settings.get(ctx)
}

// UpdateSettings applies the caller's patch after validating it (admins).
func (s *Service) UpdateSettings(ctx context.Context, patch SettingsPatch) (Settings, error) {
	if err := s.access.Authorize(ctx, policy.Update, policy.Resource{Type: policy.Settings}); err != nil {
		return Settings{}, err
	}
	set, err := s.settings.get(ctx)
	if err != nil {
		return Settings{}, err
	}
	if patch.SelfRegistration != nil {
		set.SelfRegistration = *patch.SelfRegistration
	}
	if patch.MFARequiredRoles != nil {
		roles := []domain.Role{}
		for _, r := range *patch.MFARequiredRoles {
			if !r.Valid() {
				return Settings{}, domain.Invalid("mfa_required_roles", "Unknown role %q; roles are patient, doctor, staff and admin.", r)
			}
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
		set.MFARequiredRoles = roles
	}
	if patch.IdleTimeoutMinutes != nil {
		m := *patch.IdleTimeoutMinutes
		if m < 1 || m > 24*60 {
			return Settings{}, domain.Invalid("idle_timeout_minutes", "The idle timeout must be between 1 and 1440 minutes.")
		}
		set.IdleTimeoutMinutes = m
	}
	if patch.TimeZone != nil {
		if err := CheckTimeZone("time_zone", *patch.TimeZone); err != nil {
			return Settings{}, err
		}
		set.TimeZone = *patch.TimeZone
	}
	b, _ := json.Marshal(set)
	if err := s.store.PutSetting(ctx, settingsKey, string(b)); err != nil {
		return Settings{}, err
	}
	s.settings.invalidate()
	s.tellPeers(ctx, forget{Settings: true})
	if err := s.record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: "settings", ResourceID: "auth"}); err != nil {
		return Settings{}, err
	}
	return set, nil
}

// ClinicTimeZone is the clinic's time zone setting.
func (s *Service) ClinicTimeZone(ctx context.Context) (string, error) {
	set, err := s.settings.get(ctx)
	return set.TimeZone, err
}

// LocalTimeZone is the IANA name of this machine's time zone, the default
// of the clinic's: the TZ variable when it names a zone, else the zone
// /etc/localtime links to, else UTC.
func LocalTimeZone(getenv func(string) string) string {
	if tz := strings.TrimPrefix(getenv("TZ"), ":"); tz != "" && CheckTimeZone("", tz) == nil {
		return tz
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if _, name, ok := strings.Cut(target, "zoneinfo/"); ok && CheckTimeZone("", name) == nil {
			return name
		}
	}
	if name := time.Local.String(); CheckTimeZone("", name) == nil {
		return name
	}
	return "UTC"
}
