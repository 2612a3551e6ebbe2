package consult

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
	"github.com/healthhub/healthhub/backend/transcribe"
)

// Engines.
const (
	EngineNone   = "none"
	EngineOpenAI = "openai-compatible"
	EngineAWS    = "aws"
)

// Settings are the clinic's transcription choices (admins).
type Settings struct {
	Engine string `json:"engine"`
	// openai-compatible: the server's base URL (ending in /v1), model and
	// language hint; External marks a service outside the clinic.
	BaseURL   string `json:"base_url,omitempty"`
	Model     string `json:"model,omitempty"`
	Language  string `json:"language,omitempty"`
	External  bool   `json:"external"`
	HasAPIKey bool   `json:"has_api_key"`
	// aws: Amazon Transcribe Medical.
	Region           string `json:"region,omitempty"`
	Specialty        string `json:"specialty,omitempty"`
	ConversationType string `json:"conversation_type,omitempty"`
	// UploadBucket is where uploads go for batch jobs (aws).
	UploadBucket string `json:"upload_bucket,omitempty"`
	// PatientsSeeNotes: patients read their signed visit notes.
	PatientsSeeNotes bool `json:"patients_see_notes"`
}

// SettingsInput changes the settings; nil fields stay as they are.
type SettingsInput struct {
	Engine           *string `json:"engine,omitempty"`
	BaseURL          *string `json:"base_url,omitempty"`
	Model            *string `json:"model,omitempty"`
	Language         *string `json:"language,omitempty"`
	External         *bool   `json:"external,omitempty"`
	APIKey           *string `json:"api_key,omitempty"` // "" clears it
	Region           *string `json:"region,omitempty"`
	Specialty        *string `json:"specialty,omitempty"`
	ConversationType *string `json:"conversation_type,omitempty"`
	UploadBucket     *string `json:"upload_bucket,omitempty"`
	PatientsSeeNotes *bool   `json:"patients_see_notes,omitempty"`
}

const settingsKey = "transcription"

// stored is the settings as kept: the API key sealed.
type stored struct {
	Settings
	SealedKey string `json:"sealed_api_key,omitempty"`
	Version   string `json:"version"`
}

var specialties = []string{"PRIMARYCARE", "CARDIOLOGY", "NEUROLOGY", "ONCOLOGY", "RADIOLOGY", "UROLOGY"}

func (s *Service) settings(ctx context.Context) (stored, error) {
	v, ok, err := s.o.Store.Setting(ctx, settingsKey)
	if err != nil {
		return stored{}, err
	}
	if !ok {
		d := stored{Settings: s.o.Defaults, Version: "defaults"}
		if d.Engine == "" {
			d.Engine = EngineNone
		}
		d.HasAPIKey = s.o.DefaultAPIKey != ""
		return d, nil
	}
	var st stored
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return stored{}, fmt.Errorf("read transcription settings: %w", err)
	}
	st.HasAPIKey = st.SealedKey != ""
	return st, nil
}

// apiKey opens the engine's key.
func (s *Service) apiKey(st stored) (string, error) {
	if st.Version == "defaults" {
		return s.o.DefaultAPIKey, nil
	}
	if st.SealedKey == "" {
		return "", nil
	}
	b, err := s.o.Keys.Open(st.SealedKey, "transcription_api_key")
	if err != nil {
		s.o.Logger.Error("consult: the transcription API key does not open")
		return "", domain.Errorf(domain.EINTERNAL, "The transcription service's API key cannot be decrypted; an administrator must enter it again.")
	}
	return string(b), nil
}

var settingsResource = policy.Resource{Type: policy.Transcription}

// Settings returns the settings (admins).
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	if err := s.o.Guard.Authorize(ctx, policy.Read, settingsResource); err != nil {
		return Settings{}, err
	}
	st, err := s.settings(ctx)
	return st.Settings, err
}

// UpdateSettings changes the settings (admins); the change is audited
// (never the key).
func (s *Service) UpdateSettings(ctx context.Context, in SettingsInput) (Settings, error) {
	if err := s.o.Guard.Authorize(ctx, policy.Update, settingsResource); err != nil {
		return Settings{}, err
	}
	st, err := s.settings(ctx)
	if err != nil {
		return Settings{}, err
	}
	if st.Version == "defaults" && s.o.DefaultAPIKey != "" && in.APIKey == nil {
		sealed, err := s.o.Keys.Seal([]byte(s.o.DefaultAPIKey), "transcription_api_key")
		if err != nil {
			return Settings{}, err
		}
		st.SealedKey = sealed
	}
	set := func(dst *string, v *string, max int, field string) error {
		if v == nil {
			return nil
		}
		t := strings.TrimSpace(*v)
		if len(t) > max {
			return domain.Invalid(field, "%s is longer than %d characters.", field, max)
		}
		*dst = t
		return nil
	}
	for _, f := range []struct {
		dst   *string
		v     *string
		max   int
		field string
	}{
		{&st.Engine, in.Engine, 40, "engine"}, {&st.BaseURL, in.BaseURL, 500, "base_url"}, {&st.Model, in.Model, 200, "model"},
		{&st.Language, in.Language, 10, "language"}, {&st.Region, in.Region, 40, "region"}, {&st.Specialty, in.Specialty, 40, "specialty"},
		{&st.ConversationType, in.ConversationType, 40, "conversation_type"}, {&st.UploadBucket, in.UploadBucket, 200, "upload_bucket"},
	} {
		if err := set(f.dst, f.v, f.max, f.field); err != nil {
			return Settings{}, err
		}
	}
	if in.External != nil {
		st.External = *in.External
	}
	if in.PatientsSeeNotes != nil {
		st.PatientsSeeNotes = *in.PatientsSeeNotes
	}
	switch st.Engine {
	case EngineNone:
	case EngineOpenAI:
		u, err := url.Parse(st.BaseURL)
		if st.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Settings{}, domain.Invalid("base_url", "Give the transcription server's address, such as http://127.0.0.1:8178/v1 (whisper.cpp, speaches, LocalAI) or https://api.openai.com/v1.")
		}
	case EngineAWS:
		if st.Region == "" {
			return Settings{}, domain.Invalid("region", "Give the AWS region of Amazon Transcribe Medical, such as us-east-1.")
		}
		st.Specialty = strings.ToUpper(st.Specialty)
		if st.Specialty == "" {
			st.Specialty = "PRIMARYCARE"
		}
		if !slices.Contains(specialties, st.Specialty) {
			return Settings{}, domain.Invalid("specialty", "The specialty must be one of %s.", strings.Join(specialties, ", "))
		}
		st.ConversationType = strings.ToUpper(st.ConversationType)
		if st.ConversationType == "" {
			st.ConversationType = "CONVERSATION"
		}
		if st.ConversationType != "CONVERSATION" && st.ConversationType != "DICTATION" {
			return Settings{}, domain.Invalid("conversation_type", "The conversation type must be CONVERSATION or DICTATION.")
		}
		st.External = true
	default:
		return Settings{}, domain.Invalid("engine", "The engine must be none, openai-compatible or aws.")
	}
	keyChanged := false
	if in.APIKey != nil {
		keyChanged = true
		st.SealedKey = ""
		if k := strings.TrimSpace(*in.APIKey); k != "" {
			sealed, err := s.o.Keys.Seal([]byte(k), "transcription_api_key")
			if err != nil {
				return Settings{}, err
			}
			st.SealedKey = sealed
		}
	}
	st.Version = newID()
	st.HasAPIKey = st.SealedKey != ""
	b, _ := json.Marshal(st)
	if err := s.o.Store.PutSetting(ctx, settingsKey, string(b)); err != nil {
		return Settings{}, err
	}
	s.Kick()
	return st.Settings, s.o.Audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: "transcription_settings",
		Detail: fmt.Sprintf("engine=%s external=%t patients_see_notes=%t api_key_changed=%t", st.Engine, st.External, st.PatientsSeeNotes, keyChanged)})
}

// engine returns the engine in force, made once per settings version; nil
// for none.
func (s *Service) engine(ctx context.Context) (transcribe.Engine, stored, error) {
	st, err := s.settings(ctx)
	if err != nil || st.Engine == EngineNone || st.Engine == "" {
		return nil, st, err
	}
	s.mu.Lock()
	c := s.cached
	s.mu.Unlock()
	if c.engine != nil && c.version == st.Version {
		return c.engine, st, nil
	}
	key, err := s.apiKey(st)
	if err != nil {
		return nil, st, err
	}
	var e transcribe.Engine
	switch {
	case s.o.Engines != nil:
		e, err = s.o.Engines(ctx, st.Settings, key)
	case st.Engine == EngineOpenAI:
		e = transcribe.NewOpenAI(transcribe.OpenAIOptions{BaseURL: st.BaseURL, APIKey: key, Model: st.Model, Language: st.Language})
	default:
		err = domain.Errorf(domain.EUNAVAILABLE, "The %s transcription engine is not available on this server.", st.Engine)
	}
	if err != nil {
		return nil, st, err
	}
	s.mu.Lock()
	s.cached = cachedEngine{version: st.Version, engine: e}
	s.mu.Unlock()
	return e, st, nil
}
