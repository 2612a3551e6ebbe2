package pgbackrest

import "context"

// RestoreUncheckedAndStart restores without checking the target first and
// starts the result as RestoreAndVerify does: what the check prevents.
func (r *Repo) RestoreUncheckedAndStart(ctx context.Context, o RestoreOptions, port int, socketDir string) (*Recovered, error) {
	res, err := r.restore(ctx, o, false)
	if err != nil {
		return nil, err
	}
	return r.startRestored(ctx, res, port, socketDir)
}
