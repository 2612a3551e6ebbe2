package portal

import (
	"context"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
)

// ResealPatients re-encrypts patient identifiers sealed under an older key
// with the active one, after the keyring was rotated. Old keys stay in the
// ring, so records not yet re-sealed remain readable meanwhile.
func (s *Service) ResealPatients(ctx context.Context) (resealed int, err error) {
	const page = 200
	for offset := 0; ; offset += page {
		ps, err := s.store.ListPatients(ctx, domain.PatientFilter{Limit: page, Offset: offset})
		if err != nil {
			return resealed, err
		}
		for _, p := range ps {
			if !s.needsReseal(p) {
				continue
			}
			open, err := s.open(p)
			if err != nil {
				return resealed, err
			}
			again, err := s.sealed(open)
			if err != nil {
				return resealed, err
			}
			if err := s.store.UpdatePatient(ctx, again, nil); err != nil {
				return resealed, err
			}
			resealed++
		}
		if len(ps) < page {
			break
		}
	}
	return resealed, s.audit.Record(ctx, audit.Event{Action: domain.ActionUpdate, ResourceType: "keyring", Detail: "resealed_patients=" + itoa(resealed)})
}

func (s *Service) needsReseal(p *domain.Patient) bool {
	return (p.InsuranceMemberNumber != "" && s.keys.NeedsRotation(p.InsuranceMemberNumber)) ||
		(p.NationalID != "" && s.keys.NeedsRotation(p.NationalID))
}
