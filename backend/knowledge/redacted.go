package knowledge

import (
	"context"

	"github.com/healthhub/healthhub/backend/redact"
)

// redactedEmbedder sends texts to an embedding provider (a service outside
// the clinic) only once identifiers are replaced by placeholders, as the
// assistant does with what it sends to an external model: staff documents
// can name patients, and so can a question. The vectors of redacted text
// still find the passages, which are searched by their words as well.
type redactedEmbedder struct {
	Embedder
	patients *redact.Patients
}

func (e *redactedEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	d, err := e.patients.Detector(ctx)
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
