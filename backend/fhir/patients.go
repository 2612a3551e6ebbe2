package fhir

import (
	"context"
	"net/http"

	"github.com/healthhub/healthhub/backend/domain"
)

// readPatient authorises like GET /api/v1/patients/{id}; the portal audits
// the read and opens the sealed identifiers.
func (h *Handlers) readPatient(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := checkID("Patient", id); err != nil {
		return err
	}
	if _, err := parseParams(r.URL.RawQuery, "Patient read"); err != nil {
		return err
	}
	p, err := h.portal.Patient(r.Context(), id)
	if err != nil {
		return err
	}
	h.write(w, r, http.StatusOK, toPatient(p))
	return nil
}

// searchPatients follows GET /api/v1/patients: patients may not list,
// doctors list their own patients, the front desk and admins everyone.
func (h *Handlers) searchPatients(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := parseParams(r.URL.RawQuery, "Patient", "name", "_count", "_offset")
	if err != nil {
		return err
	}
	name, err := q.text("name", 200)
	if err != nil {
		return err
	}
	pg, err := q.page()
	if err != nil {
		return err
	}
	f := domain.PatientFilter{Query: name}
	if err := h.portal.ScopePatients(ctx, &f); err != nil {
		return err
	}
	total, err := count(ctx, func(ctx context.Context, limit, offset int) (int, error) {
		c := f
		c.Limit, c.Offset = limit, offset
		ps, err := h.store.ListPatients(ctx, c)
		return len(ps), err
	})
	if err != nil {
		return err
	}
	f.Limit, f.Offset = pg.count, pg.offset
	ps, err := h.portal.ListPatients(ctx, f)
	if err != nil {
		return err
	}
	var items []entry
	for _, p := range ps {
		items = append(items, entry{p.ID, toPatient(p)})
	}
	h.write(w, r, http.StatusOK, h.searchset(r, "Patient", items, &total, pg, pg.offset+pg.count < total))
	return nil
}
