package server

import (
	"context"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/consult"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/transcribe"
)

// Transcription settings from the environment, in force until an admin
// saves the clinic's own (GET|PUT /api/v1/transcription/settings):
//
//	HEALTHHUB_TRANSCRIBE_ENGINE     none (default), openai-compatible or aws
//	HEALTHHUB_TRANSCRIBE_BASE_URL   an OpenAI-compatible server's /v1 address
//	HEALTHHUB_TRANSCRIBE_MODEL      its model (whisper-1 by default)
//	HEALTHHUB_TRANSCRIBE_API_KEY    its key
//	HEALTHHUB_TRANSCRIBE_LANGUAGE   a language hint, such as en
//	HEALTHHUB_TRANSCRIBE_EXTERNAL   true when the service is outside the clinic
//	HEALTHHUB_TRANSCRIBE_AWS_REGION Amazon Transcribe Medical's region (aws)
func (c Config) transcriptionDefaults() (consult.Settings, string) {
	get := func(k string) string {
		if c.lookup == nil {
			return ""
		}
		return strings.TrimSpace(c.lookup(k))
	}
	s := consult.Settings{Engine: get("HEALTHHUB_TRANSCRIBE_ENGINE"), BaseURL: get("HEALTHHUB_TRANSCRIBE_BASE_URL"), Model: get("HEALTHHUB_TRANSCRIBE_MODEL"),
		Language: get("HEALTHHUB_TRANSCRIBE_LANGUAGE"), Region: get("HEALTHHUB_TRANSCRIBE_AWS_REGION"), PatientsSeeNotes: true}
	if s.Engine == "" {
		s.Engine = consult.EngineNone
	}
	switch get("HEALTHHUB_TRANSCRIBE_EXTERNAL") {
	case "true":
		s.External = true
	case "false":
	default:
		s.External = s.Engine == consult.EngineAWS || (s.Engine == consult.EngineOpenAI && !isLoopbackURL(s.BaseURL))
	}
	if s.Engine == consult.EngineAWS {
		s.Specialty, s.ConversationType = "PRIMARYCARE", "CONVERSATION"
	}
	return s, get("HEALTHHUB_TRANSCRIBE_API_KEY")
}

// transcriptionEngines makes the engine the settings name.
func transcriptionEngines(ctx context.Context, st consult.Settings, apiKey string) (transcribe.Engine, error) {
	switch st.Engine {
	case consult.EngineOpenAI:
		return transcribe.NewOpenAI(transcribe.OpenAIOptions{BaseURL: st.BaseURL, APIKey: apiKey, Model: st.Model, Language: st.Language}), nil
	case consult.EngineAWS:
		cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(st.Region))
		if err != nil {
			return nil, domain.Unavailable(err, "The AWS configuration for Amazon Transcribe Medical could not be read: %v", err)
		}
		return newAWSTranscriber(cfg, st)
	}
	return nil, domain.Errorf(domain.EUNAVAILABLE, "The transcription engine %q is not known.", st.Engine)
}

// blobDeleter deletes stored files by their key, for retention.
type blobDeleter struct{ blob.Store }

func (b blobDeleter) Delete(ctx context.Context, key string) error {
	k, err := blob.ParseKey(key)
	if err != nil {
		return err
	}
	return b.Store.Delete(ctx, k)
}

// newConsult builds the consultation service.
func newConsult(s *System, grants access.Grants) *consult.Service {
	guard := access.New(s.Audit)
	guard.UseEmergencyGrants(grants)
	defaults, key := s.Config.transcriptionDefaults()
	return consult.New(consult.Options{Store: s.Store, Records: s.Portal, Guard: guard, Audit: s.Audit, Blobs: s.Blobs, Keys: s.Keys,
		Asker: s.Assistant, Engines: transcriptionEngines, Defaults: defaults, DefaultAPIKey: key, Events: s.Live, Now: s.Now, Logger: s.Logger})
}
