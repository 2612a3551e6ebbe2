package domain

import (
	"context"
	"time"
)

// Conversation is one user's chat with the assistant. A staff conversation
// may concern a patient (PatientID); it is then patient data.
type Conversation struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	PatientID string    `json:"patient_id,omitempty"`
	Title     string    `json:"title"`
	Provider  string    `json:"provider,omitempty"` // chosen provider id; empty for the default
	Model     string    `json:"model,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	DeletedAt time.Time `json:"-"` // soft-deleted; purged after the retention period
}

// Message roles.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message states. An answer is streaming while it is written, complete when
// the model finished, stopped when the user stopped it (the part written is
// kept), failed when the model or the server failed.
const (
	MessageStreaming = "streaming"
	MessageComplete  = "complete"
	MessageStopped   = "stopped"
	MessageFailed    = "failed"
)

// Message is one turn of a conversation.
type Message struct {
	ID             string     `json:"id"`
	ConversationID string     `json:"conversation_id"`
	Role           string     `json:"role"`
	Content        string     `json:"content"`
	Status         string     `json:"status"`
	Notice         string     `json:"notice,omitempty"` // the emergency notice shown before the answer
	Citations      []Citation `json:"citations"`
	Provider       string     `json:"provider,omitempty"`
	Model          string     `json:"model,omitempty"`
	TokensIn       int        `json:"tokens_in"`
	TokensOut      int        `json:"tokens_out"`
	Redacted       int        `json:"redacted"` // identifiers replaced before the text left
	Error          string     `json:"error,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// Citation is a knowledge-base passage an answer was grounded on; N is the
// number the answer refers to it by ([1], [2], …).
type Citation struct {
	N          int    `json:"n"`
	ChunkID    int64  `json:"chunk_id"`
	DocumentID string `json:"document_id"`
	Title      string `json:"title"`
	Heading    string `json:"heading"`
	Source     string `json:"source"`
	Text       string `json:"text"`
}

// LLM provider kinds.
const (
	ProviderOffline = "offline"
	ProviderOpenAI  = "openai"
	ProviderBedrock = "bedrock"
)

// LLMProvider is a configured language model service. APIKey is sealed at
// rest and never leaves the server.
type LLMProvider struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Kind     string     `json:"kind"`
	BaseURL  string     `json:"base_url,omitempty"` // openai: any OpenAI-compatible server
	Region   string     `json:"region,omitempty"`   // bedrock
	External bool       `json:"external"`           // text leaving for it is redacted
	Enabled  bool       `json:"enabled"`
	Default  bool       `json:"default"`
	Models   []LLMModel `json:"models"`
	// APIKey is the sealed key as stored; HasAPIKey tells clients one is set.
	APIKey    string    `json:"-"`
	HasAPIKey bool      `json:"has_api_key"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// LLMModel is a model of a provider and the roles that may use it.
type LLMModel struct {
	Name          string `json:"name"`
	Roles         []Role `json:"roles"`
	ContextTokens int    `json:"context_tokens,omitempty"` // prompt budget; a default applies when 0
}

// Usage is one user's use of the assistant on one day (UTC).
type Usage struct {
	UserID    string `json:"user_id"`
	Day       string `json:"day"`      // YYYY-MM-DD
	Provider  string `json:"provider"` // the provider's name when the answer was given
	Messages  int    `json:"messages"`
	TokensIn  int    `json:"tokens_in"`
	TokensOut int    `json:"tokens_out"`
}

// ConversationFilter narrows a user's conversation list.
type ConversationFilter struct {
	UserID string
	Query  string    // part of the title or of a message
	Before time.Time // page: conversations last updated before this
	Limit  int
}

// ChatStore keeps conversations, providers and usage.
type ChatStore interface {
	CreateConversation(ctx context.Context, c *Conversation) error
	// Conversation returns a conversation that is not deleted.
	Conversation(ctx context.Context, id string) (*Conversation, error)
	// Conversations lists a user's conversations, most recently updated first.
	Conversations(ctx context.Context, f ConversationFilter) ([]*Conversation, error)
	RenameConversation(ctx context.Context, id, title string, at time.Time) error
	DeleteConversation(ctx context.Context, id string, at time.Time) error
	// PurgeConversations removes for good the conversations deleted before
	// cutoff, with their messages, and says how many.
	PurgeConversations(ctx context.Context, cutoff time.Time) (int, error)

	// AddMessage stores a message and marks the conversation updated.
	AddMessage(ctx context.Context, m *Message) error
	// UpdateMessage stores an answer's text, state, tokens and error.
	UpdateMessage(ctx context.Context, m *Message) error
	Messages(ctx context.Context, conversationID string) ([]*Message, error)
	Message(ctx context.Context, id string) (*Message, error)
	// InterruptStreaming marks answers left streaming by a process that
	// stopped as failed, keeping what they had, and says how many.
	InterruptStreaming(ctx context.Context, at time.Time) (int, error)
	// TouchMessage marks an answer still being written as alive at at.
	TouchMessage(ctx context.Context, id string, at time.Time) error
	// ClaimStaleAnswers claims the answers being written whose last mark
	// is before before, marking them at at so that no other caller claims
	// them; each is claimed by one caller.
	ClaimStaleAnswers(ctx context.Context, before, at time.Time) ([]*Message, error)

	Providers(ctx context.Context) ([]*LLMProvider, error)
	Provider(ctx context.Context, id string) (*LLMProvider, error)
	// SaveProvider creates or replaces a provider; Default on one clears it on the others.
	SaveProvider(ctx context.Context, p *LLMProvider) error
	DeleteProvider(ctx context.Context, id string) error

	// AddUsage adds to a user's usage of a day.
	AddUsage(ctx context.Context, u Usage) error
	// UsageBetween lists usage of the days from..to (inclusive), of one user when userID is set.
	UsageBetween(ctx context.Context, from, to, userID string) ([]Usage, error)
	// PatientNames lists the names of all patients, for redaction.
	PatientNames(ctx context.Context) ([]string, error)
}
