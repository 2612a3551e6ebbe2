package httpapi

import (
	"net/http"
	"sync/atomic"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/retention"
)

// UseRetention serves the retention policy, legal holds and purges with
// svc; without it those routes answer 503. It may be called while serving.
func (s *Server) UseRetention(svc *retention.Service) { s.retention.p.Store(svc) }

// retentionRef holds the retention service, set after the server is built.
type retentionRef struct {
	p atomic.Pointer[retention.Service]
}

func (s *Server) retentionOn() (*retention.Service, error) {
	svc := s.retention.p.Load()
	if svc == nil {
		return nil, domain.Errorf(domain.EUNAVAILABLE, "Retention is not enabled on this server.")
	}
	return svc, nil
}

type legalHoldList struct {
	Holds []*domain.LegalHold `json:"holds"`
}

type legalHoldInput struct {
	PatientID string `json:"patient_id"`
	Reason    string `json:"reason"`
}

type retentionRunInput struct {
	DryRun bool `json:"dry_run"`
}

func (s *Server) handleRetentionPolicy() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		svc, err := s.retentionOn()
		if err != nil {
			return err
		}
		var pol retention.Policy
		if r.Method == http.MethodPatch {
			var in retention.PolicyPatch
			if err := decode(w, r, &in); err != nil {
				return err
			}
			pol, err = svc.SetPolicy(r.Context(), in)
		} else {
			pol, err = svc.Policy(r.Context())
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, pol)
		return nil
	})
}

func (s *Server) handleRetentionRun() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		svc, err := s.retentionOn()
		if err != nil {
			return err
		}
		var in retentionRunInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		rep, err := svc.Run(r.Context(), in.DryRun)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, rep)
		return nil
	})
}

func (s *Server) handleListLegalHolds() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		svc, err := s.retentionOn()
		if err != nil {
			return err
		}
		hs, err := svc.Holds(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, legalHoldList{Holds: hs})
		return nil
	})
}

func (s *Server) handlePlaceLegalHold() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		svc, err := s.retentionOn()
		if err != nil {
			return err
		}
		var in legalHoldInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		if in.PatientID == "" {
			return domain.Invalid("patient_id", "Choose the patient to place on hold.")
		}
		h, err := svc.PlaceHold(r.Context(), in.PatientID, in.Reason)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, h)
		return nil
	})
}

func (s *Server) handleLiftLegalHold() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		svc, err := s.retentionOn()
		if err != nil {
			return err
		}
		if err := svc.LiftHold(r.Context(), r.PathValue("patient_id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
