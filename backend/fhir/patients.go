package fhir

import (
	"context"
	"net/http"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/policy"
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
	if err := h.portal.Authorize(ctx, policy.List, policy.Resource{Type: policy.Patient}); err != nil {
		return err
	}
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
	if d, err := h.portal.CallerDoctor(ctx); err != nil {
		return err
	} else if d != nil {
		f.DoctorID = d.ID
	} else if domain.PrincipalFrom(ctx).Role == domain.RoleDoctor {
		f.DoctorID = "none" // a doctor account without a profile has no patients
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
