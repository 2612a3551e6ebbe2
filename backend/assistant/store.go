package assistant

import (
	"context"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// Store is what the service reads and writes: the methods of the store it
// uses (domain.Store has them all).
type Store interface {
	AddMessage(ctx context.Context, m *domain.Message) error
	AddUsage(ctx context.Context, u domain.Usage) error
	Conversation(ctx context.Context, id string) (*domain.Conversation, error)
	Conversations(ctx context.Context, f domain.ConversationFilter) ([]*domain.Conversation, error)
	CreateConversation(ctx context.Context, c *domain.Conversation) error
	DeleteConversation(ctx context.Context, id string, at time.Time) error
	DeleteProvider(ctx context.Context, id string) error
	InterruptStreaming(ctx context.Context, at time.Time) (int, error)
	// TouchMessage marks an answer still being written as alive at at;
	// ClaimStaleAnswers claims the answers being written whose last mark is
	// before before, marking them at at, so no other caller claims them.
	TouchMessage(ctx context.Context, id string, at time.Time) error
	ClaimStaleAnswers(ctx context.Context, before, at time.Time) ([]*domain.Message, error)
	UserByID(ctx context.Context, id string) (*domain.User, error)
	Messages(ctx context.Context, conversationID string) ([]*domain.Message, error)
	PatientNames(ctx context.Context) ([]string, error)
	Provider(ctx context.Context, id string) (*domain.LLMProvider, error)
	Providers(ctx context.Context) ([]*domain.LLMProvider, error)
	PurgeConversations(ctx context.Context, cutoff time.Time) (int, error)
	PutSetting(ctx context.Context, key, value string) error
	RenameConversation(ctx context.Context, id, title string, at time.Time) error
	SaveProvider(ctx context.Context, p *domain.LLMProvider) error
	Setting(ctx context.Context, key string) (value string, ok bool, err error)
	UpdateMessage(ctx context.Context, m *domain.Message) error
	UsageBetween(ctx context.Context, from, to, userID string) ([]domain.Usage, error)
}
