package assistant

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/llm"
	"github.com/healthhub/healthhub/backend/policy"
)

// Built-in providers, present until an admin saves one of their own.
const (
	offlineID    = "offline"
	offlineModel = "extractive"
	envID        = "default"
)

// defaultContextTokens is a model's prompt budget when none is configured.
const defaultContextTokens = 8192

// ProviderInput creates or changes a provider. APIKey is write-only: empty
// keeps the stored key, ClearAPIKey removes it.
type ProviderInput struct {
	Name        string            `json:"name"`
	Kind        string            `json:"kind"`
	BaseURL     string            `json:"base_url,omitempty"`
	Region      string            `json:"region,omitempty"`
	External    *bool             `json:"external,omitempty"`
	Enabled     *bool             `json:"enabled,omitempty"`
	Default     bool              `json:"default,omitempty"`
	Models      []domain.LLMModel `json:"models"`
	APIKey      string            `json:"api_key,omitempty"`
	ClearAPIKey bool              `json:"clear_api_key,omitempty"`
}

// builtins are the providers in force besides the saved ones: the offline
// mode always, and the environment's provider while none is saved.
func (s *Service) builtins(saved []*domain.LLMProvider) []*domain.LLMProvider {
	var out []*domain.LLMProvider
	hasDefault := slices.ContainsFunc(saved, func(p *domain.LLMProvider) bool { return p.Default && p.Enabled })
	if !slices.ContainsFunc(saved, func(p *domain.LLMProvider) bool { return p.Kind == domain.ProviderOffline }) {
		out = append(out, &domain.LLMProvider{ID: offlineID, Name: "Offline (no language model)", Kind: domain.ProviderOffline, Enabled: true,
			Default: !hasDefault && s.opts.Default.Kind == domain.ProviderOffline,
			Models:  []domain.LLMModel{{Name: offlineModel, Roles: domain.Roles}}})
	}
	if d := s.opts.Default; d.Kind != domain.ProviderOffline && len(saved) == 0 {
		model := d.Model
		if model == "" {
			model = "gpt-4o-mini"
		}
		out = append(out, &domain.LLMProvider{ID: envID, Name: "Configured by the server (" + d.Kind + ")", Kind: d.Kind, BaseURL: d.BaseURL,
			Region: d.Region, External: d.External, Enabled: true, Default: true, HasAPIKey: d.APIKey != "",
			Models: []domain.LLMModel{{Name: model, Roles: domain.Roles}}})
	}
	return out
}

// providers lists the providers in force: saved ones and built-ins.
func (s *Service) providers(ctx context.Context) ([]*domain.LLMProvider, error) {
	s.mu.Lock()
	if !s.provsAt.IsZero() && s.now().Sub(s.provsAt) < cacheFor {
		all := s.provs
		s.mu.Unlock()
		return all, nil
	}
	s.mu.Unlock()
	saved, err := s.store.Providers(ctx)
	if err != nil {
		return nil, err
	}
	all := append(saved, s.builtins(saved)...)
	s.mu.Lock()
	s.provs, s.provsAt = all, s.now()
	s.mu.Unlock()
	return all, nil
}

// forgetProviders makes the next use read the providers again.
func (s *Service) forgetProviders() {
	s.mu.Lock()
	s.provsAt = time.Time{}
	s.mu.Unlock()
}

// Providers lists the providers (admin); keys are never included.
func (s *Service) Providers(ctx context.Context) ([]*domain.LLMProvider, error) {
	if err := s.access.Authorize(ctx, policy.List, policy.Resource{Type: policy.AIProvider}); err != nil {
		return nil, err
	}
	return s.providers(ctx)
}

// SaveProvider creates (id "") or changes a provider (admin). The API key
// is sealed before it is stored.
func (s *Service) SaveProvider(ctx context.Context, id string, in ProviderInput) (*domain.LLMProvider, error) {
	action := policy.Create
	if id != "" {
		action = policy.Update
	}
	if err := s.access.Authorize(ctx, action, policy.Resource{Type: policy.AIProvider, ID: id}); err != nil {
		return nil, err
	}
	now := s.now()
	p := &domain.LLMProvider{CreatedAt: now, Enabled: true}
	var oldBase, oldKind string
	if id != "" {
		old, err := s.store.Provider(ctx, id)
		if err != nil {
			return nil, err
		}
		p, oldBase, oldKind = old, old.BaseURL, old.Kind
	}
	p.Name, p.Kind, p.BaseURL, p.Region, p.Default, p.Models, p.UpdatedAt = strings.TrimSpace(in.Name), in.Kind, strings.TrimSpace(in.BaseURL), strings.TrimSpace(in.Region), in.Default, in.Models, now
	if in.Enabled != nil {
		p.Enabled = *in.Enabled
	}
	// Anything not on this machine is external unless the admin says otherwise.
	p.External = p.Kind != domain.ProviderOffline
	if in.External != nil {
		p.External = *in.External && p.Kind != domain.ProviderOffline
	}
	if err := validateProvider(p); err != nil {
		return nil, err
	}
	if p.ID == "" {
		p.ID = newProviderID()
	}
	switch {
	case in.ClearAPIKey:
		p.APIKey = ""
	case in.APIKey == "" && p.APIKey != "" && (strings.TrimSpace(in.BaseURL) != oldBase || in.Kind != oldKind):
		// The key was given for another server: it is not sent to a new one.
		return nil, domain.Invalid("api_key", "The server address changed: enter the API key again (it is never sent to a server it was not given for).")
	case in.APIKey != "":
		sealed, err := s.keys.Seal([]byte(in.APIKey), "llm_provider:"+p.ID)
		if err != nil {
			return nil, err
		}
		p.APIKey = sealed
	}
	p.HasAPIKey = p.APIKey != ""
	if err := s.store.SaveProvider(ctx, p); err != nil {
		return nil, err
	}
	s.forgetProviders()
	if err := s.record(ctx, audit.Event{Action: action, ResourceType: policy.AIProvider, ResourceID: p.ID,
		Detail: fmt.Sprintf("kind=%s external=%t enabled=%t models=%d api_key_changed=%t", p.Kind, p.External, p.Enabled, len(p.Models), in.APIKey != "" || in.ClearAPIKey)}); err != nil {
		return nil, err
	}
	return p, nil
}

// DeleteProvider removes a provider (admin).
func (s *Service) DeleteProvider(ctx context.Context, id string) error {
	if err := s.access.Authorize(ctx, policy.Delete, policy.Resource{Type: policy.AIProvider, ID: id}); err != nil {
		return err
	}
	if err := s.store.DeleteProvider(ctx, id); err != nil {
		return err
	}
	s.forgetProviders()
	return s.record(ctx, audit.Event{Action: domain.ActionDelete, ResourceType: policy.AIProvider, ResourceID: id})
}

func validateProvider(p *domain.LLMProvider) error {
	if p.Name == "" || len(p.Name) > 100 {
		return domain.Invalid("name", "Give the provider a name of up to 100 characters.")
	}
	switch p.Kind {
	case domain.ProviderOffline:
	case domain.ProviderOpenAI:
		if p.BaseURL != "" {
			u, err := url.Parse(p.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return domain.Invalid("base_url", "base_url must be an http:// or https:// address, such as http://localhost:11434/v1 for Ollama.")
			}
		}
	case domain.ProviderBedrock:
		if p.Region == "" {
			return domain.Invalid("region", "A Bedrock provider needs its AWS region, such as us-east-1.")
		}
	default:
		return domain.Invalid("kind", "kind must be offline, openai or bedrock.")
	}
	if len(p.Models) == 0 {
		return domain.Invalid("models", "List at least one model and the roles that may use it.")
	}
	seen := map[string]bool{}
	for i, m := range p.Models {
		m.Name = strings.TrimSpace(m.Name)
		if m.Name == "" || len(m.Name) > 200 || seen[m.Name] {
			return domain.Invalid("models", "Each model needs a name of its own (up to 200 characters).")
		}
		seen[m.Name] = true
		for _, r := range m.Roles {
			if !slices.Contains(domain.Roles, r) {
				return domain.Invalid("models", "%q is not a role; roles are patient, doctor, staff and admin.", r)
			}
		}
		if m.ContextTokens < 0 || m.ContextTokens > 2_000_000 {
			return domain.Invalid("models", "context_tokens must be between 0 (the default) and 2,000,000.")
		}
		p.Models[i] = m
	}
	return nil
}

// choice is a resolved provider and model for a caller.
type choice struct {
	info   *domain.LLMProvider
	model  domain.LLMModel
	stream llm.Provider
}

// choose resolves which provider and model answer the caller: the ones
// asked for, else the default provider and the first of its models the
// caller's role may use.
func (s *Service) choose(ctx context.Context, p *domain.Principal, providerID, model string) (*choice, error) {
	all, err := s.providers(ctx)
	if err != nil {
		return nil, err
	}
	var prov *domain.LLMProvider
	switch {
	case providerID != "":
		i := slices.IndexFunc(all, func(x *domain.LLMProvider) bool { return x.ID == providerID || x.Name == providerID })
		if i < 0 {
			return nil, domain.Invalid("provider", "There is no such language model provider; ask an administrator which ones are configured.")
		}
		prov = all[i]
	case model != "":
		for _, x := range all {
			if x.Enabled && slices.ContainsFunc(x.Models, func(m domain.LLMModel) bool { return m.Name == model && slices.Contains(m.Roles, p.Role) }) {
				prov = x
				break
			}
		}
		if prov == nil {
			for _, x := range all {
				if x.Enabled && slices.ContainsFunc(x.Models, func(m domain.LLMModel) bool { return m.Name == model }) {
					return nil, &domain.Error{Code: domain.EFORBIDDEN, Message: fmt.Sprintf("Your role (%s) may not use the model %q.", p.Role, model)}
				}
			}
			return nil, domain.Invalid("model", "No provider offers the model %q. GET /v1/models lists the models you may use.", model)
		}
	default:
		for _, x := range all {
			if x.Default && x.Enabled {
				prov = x
				break
			}
		}
		if prov == nil {
			for _, x := range all {
				if x.Enabled {
					prov = x
					break
				}
			}
		}
	}
	if prov == nil {
		return nil, domain.Errorf(domain.EUNAVAILABLE, "No language model provider is enabled; ask an administrator to enable one.")
	}
	if !prov.Enabled {
		return nil, domain.Invalid("provider", "The provider %q is disabled; ask an administrator or choose another.", prov.Name)
	}
	var chosen *domain.LLMModel
	for i, m := range prov.Models {
		if (model == "" || m.Name == model) && slices.Contains(m.Roles, p.Role) {
			chosen = &prov.Models[i]
			break
		}
	}
	if chosen == nil {
		if model != "" && slices.ContainsFunc(prov.Models, func(m domain.LLMModel) bool { return m.Name == model }) {
			return nil, &domain.Error{Code: domain.EFORBIDDEN, Message: fmt.Sprintf("Your role (%s) may not use the model %q.", p.Role, model)}
		}
		if model != "" {
			return nil, domain.Invalid("model", "The provider %q has no model %q.", prov.Name, model)
		}
		return nil, &domain.Error{Code: domain.EFORBIDDEN, Message: fmt.Sprintf("No model of %q is open to your role (%s).", prov.Name, p.Role)}
	}
	stream, err := s.client(prov)
	if err != nil {
		return nil, err
	}
	m := *chosen
	if m.ContextTokens == 0 {
		m.ContextTokens = defaultContextTokens
	}
	return &choice{info: prov, model: m, stream: stream}, nil
}

// client returns the streaming client of a provider, made once per version
// of its settings.
func (s *Service) client(p *domain.LLMProvider) (llm.Provider, error) {
	s.mu.Lock()
	c, ok := s.clients[p.ID]
	s.mu.Unlock()
	if ok && c.updated.Equal(p.UpdatedAt) {
		return c.p, nil
	}
	var base llm.Provider
	switch p.Kind {
	case domain.ProviderOffline:
		return llm.Offline{}, nil
	case domain.ProviderOpenAI:
		key := s.opts.Default.APIKey
		if p.ID != envID {
			key = ""
			if p.APIKey != "" {
				b, err := s.keys.Open(p.APIKey, "llm_provider:"+p.ID)
				if err != nil {
					s.logger.Error("assistant: a provider's API key does not open", "provider_id", p.ID)
					return nil, domain.Errorf(domain.EINTERNAL, "The provider's API key cannot be decrypted; an administrator must enter it again.")
				}
				key = string(b)
			}
		}
		base = llm.NewOpenAI(p.BaseURL, key, s.opts.HTTPClient)
	case domain.ProviderBedrock:
		if s.opts.Bedrock == nil {
			return nil, domain.Errorf(domain.EUNAVAILABLE, "Bedrock is not available on this server.")
		}
		client, err := s.opts.Bedrock(p.Region)
		if err != nil {
			return nil, domain.Unavailable(err, "Bedrock cannot be reached from this server: %v", err)
		}
		base = llm.NewBedrock(client)
	}
	r := llm.Resilient(base, p.Name, s.opts.LLM)
	s.mu.Lock()
	s.clients[p.ID] = cachedProvider{updated: p.UpdatedAt, p: r}
	s.mu.Unlock()
	return r, nil
}

// Model is a model the caller may use.
type Model struct {
	ID       string `json:"id"`
	Provider string `json:"provider"`
	Kind     string `json:"kind"`
	External bool   `json:"external"`
}

// Models lists the models the caller's role may use, of enabled providers.
func (s *Service) Models(ctx context.Context) ([]Model, error) {
	p := domain.PrincipalFrom(ctx)
	if err := s.access.Authorize(ctx, policy.Create, policy.Resource{Type: policy.Conversation}); err != nil {
		return nil, err
	}
	all, err := s.providers(ctx)
	if err != nil {
		return nil, err
	}
	out := []Model{}
	seen := map[string]bool{}
	for _, x := range all {
		if !x.Enabled {
			continue
		}
		for _, m := range x.Models {
			if slices.Contains(m.Roles, p.Role) && !seen[m.Name] {
				seen[m.Name] = true
				out = append(out, Model{ID: m.Name, Provider: x.Name, Kind: x.Kind, External: x.External})
			}
		}
	}
	return out, nil
}
