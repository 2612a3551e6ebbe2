package bench

import (
	"context"
	"os"

	"github.com/healthhub/healthhub/backend/assistant/offlineeval"
)

// BenchOfflineAnswers asks the labelled question set of the offline
// answers (backend/assistant/offlineeval/testdata) of a fresh SQLite store
// holding the starter documents, and returns the figures of the first
// quoted passage: for the development set, the held-out set and both.
func BenchOfflineAnswers(ctx context.Context, o Options) ([]offlineeval.Figures, error) {
	qs, err := offlineeval.Questions()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.TempDir, "healthhub-offline-answers-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	e, err := offlineeval.New(ctx, dir, o.logger())
	if err != nil {
		return nil, err
	}
	defer e.Close()
	outcomes, err := e.AskAll(ctx, qs)
	if err != nil {
		return nil, err
	}
	var figures []offlineeval.Figures
	for _, set := range offlineeval.Sets {
		figures = append(figures, offlineeval.Summarize(outcomes, set))
	}
	return append(figures, offlineeval.Summarize(outcomes, "")), nil
}
