package httpapi

import (
	"net/http"

	"github.com/healthhub/healthhub/backend/domain"
)

func (s *Server) handleAdminHealth() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if s.health == nil {
			return domain.Errorf(domain.EUNAVAILABLE, "The installation's health report is not available on this server.")
		}
		rep, err := s.health.Report(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, rep)
		return nil
	})
}
