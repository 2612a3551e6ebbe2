package knowledge

import (
	"context"
	"sync"
	"time"

	"github.com/healthhub/healthhub/backend/redact"
)

// redactedEmbedder sends texts to an embedding provider (a service outside
// the clinic) only once identifiers are replaced by placeholders, as the
// assistant does with what it sends to an external model: staff documents
// can name patients, and so can a question. The vectors of redacted text
// still find the passages, which are searched by their words as well.
type redactedEmbedder struct {
	Embedder
	names func(ctx context.Context) ([]string, error)
	now   func() time.Time

	mu       sync.Mutex
	detector *redact.Detector
	at       time.Time
}

// namesFor is how long the list of patients' names is reused.
const namesFor = time.Minute

func (e *redactedEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	d, err := e.current(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(texts))
	for i, t := range texts {
		// A session of its own for each text: placeholders need not agree
		// across texts, and nothing is restored.
		out[i], _ = d.NewSession().Redact(t)
	}
	return e.Embedder.Embed(ctx, out)
}

func (e *redactedEmbedder) current(ctx context.Context) (*redact.Detector, error) {
	e.mu.Lock()
	d, at := e.detector, e.at
	e.mu.Unlock()
	if d != nil && e.now().Sub(at) < namesFor {
		return d, nil
	}
	names, err := e.names(ctx)
	if err != nil {
		return nil, err
	}
	d = redact.NewDetector(names)
	e.mu.Lock()
	e.detector, e.at = d, e.now()
	e.mu.Unlock()
	return d, nil
}
