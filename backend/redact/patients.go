package redact

import (
	"context"
	"sync"
	"time"
)

// Patients keeps a detector that knows the clinic's patients' names, read
// again once it is older than MaxAge, so that text is redacted with the
// names of patients registered since without reading them for every text.
type Patients struct {
	load   func(ctx context.Context) ([]string, error)
	now    func() time.Time
	maxAge time.Duration

	mu sync.Mutex
	d  *Detector
	at time.Time
}

// NewPatients returns a cache that reads the names with load.
func NewPatients(load func(ctx context.Context) ([]string, error), now func() time.Time, maxAge time.Duration) *Patients {
	return &Patients{load: load, now: now, maxAge: maxAge}
}

// Detector returns the detector of the current names.
func (p *Patients) Detector(ctx context.Context) (*Detector, error) {
	p.mu.Lock()
	d, at := p.d, p.at
	p.mu.Unlock()
	if d != nil && p.now().Sub(at) < p.maxAge {
		return d, nil
	}
	names, err := p.load(ctx)
	if err != nil {
		return nil, err
	}
	d = NewDetector(names)
	p.mu.Lock()
	p.d, p.at = d, p.now()
	p.mu.Unlock()
	return d, nil
}
