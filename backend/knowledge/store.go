package knowledge

import (
	"context"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// Store is what the service reads and writes: the methods of the store it
// uses (domain.Store has them all).
type Store interface {
	PatientNames(ctx context.Context) ([]string, error)
	ChunkVectors(ctx context.Context, model string, fn func(domain.ChunkVector) error) error
	ChunksByID(ctx context.Context, ids []int64, visibilities []string) ([]domain.ChunkHit, error)
	CreateSource(ctx context.Context, s *domain.KnowledgeSource) error
	DeleteSource(ctx context.Context, id string) error
	Documents(ctx context.Context, sourceID string, limit, offset int) ([]domain.KnowledgeDocument, error)
	FailedFiles(ctx context.Context, sourceID string, limit int) ([]domain.KnowledgeFile, error)
	Files(ctx context.Context, sourceID string) ([]domain.KnowledgeFile, error)
	HasDocument(ctx context.Context, id string) (bool, error)
	IndexFiles(ctx context.Context, files []domain.IndexedFile) error
	RemoveFiles(ctx context.Context, sourceID string, paths []string) error
	SearchChunks(ctx context.Context, query string, visibilities []string, limit int) ([]domain.ChunkHit, error)
	SetSourceScan(ctx context.Context, id string, at time.Time, scanErr string) error
	RequestSourceScan(ctx context.Context, id string) error
	Source(ctx context.Context, id string) (*domain.KnowledgeSource, error)
	SourceCounts(ctx context.Context, id string) (domain.SourceCounts, error)
	Sources(ctx context.Context) ([]domain.KnowledgeSource, error)
	Engine() string
}
