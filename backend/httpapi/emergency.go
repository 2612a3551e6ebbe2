package httpapi

import (
	"net/http"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/emergency"
)

type emergencyGrantList struct {
	Grants []*domain.EmergencyGrant `json:"grants"`
}

type emergencyOptions struct {
	Reasons []emergency.ReasonChoice `json:"reasons"`
	emergency.Limits
}

type emergencyLimitsRequest struct {
	MaxMinutes int `json:"max_minutes"`
}

type emergencyReviewList struct {
	Grants []*emergency.ReviewedGrant `json:"grants"`
}

type privacyOfficerList struct {
	UserIDs []string `json:"user_ids"`
}

// emergencyRoutes are the routes of emergency access ("break-glass").
func (s *Server) emergencyRoutes() []route {
	const tag = "emergency-access"
	return []route{
		{Method: "POST", Path: "/api/v1/emergency-access", Summary: "Ask for emergency access to one patient's record: a reason and your password or authenticator code (clinicians)",
			Tag: tag, Access: accessUser, In: emergency.GrantRequest{}, Out: domain.EmergencyGrant{}, Status: 201, handler: s.handleGrantEmergency()},
		{Method: "GET", Path: "/api/v1/emergency-access", Summary: "My emergency access grants, newest first (clinicians)", Tag: tag, Access: accessUser, Out: emergencyGrantList{},
			Query: []param{{"patient_id", "only grants on this patient", "string"}, {"active", "true for only the grants in force now", "string"}}, handler: s.handleMyEmergencyGrants()},
		{Method: "GET", Path: "/api/v1/emergency-access/options", Summary: "The reasons to choose from and how long emergency access lasts", Tag: tag, Access: accessUser, Out: emergencyOptions{}, handler: s.handleEmergencyOptions()},
		{Method: "PUT", Path: "/api/v1/emergency-access/options", Summary: "Set the longest emergency access grant (admin)", Tag: tag, Access: accessUser, In: emergencyLimitsRequest{}, Out: emergencyOptions{}, handler: s.handleSetEmergencyOptions()},
		{Method: "GET", Path: "/api/v1/emergency-access/review", Summary: "Emergency access grants for privacy officers to decide on, with the accesses made under each", Tag: tag, Access: accessUser,
			Out: emergencyReviewList{}, Query: []param{{"status", "pending (default), justified, not_justified or all", "string"}}, handler: s.handleEmergencyReviewList()},
		{Method: "POST", Path: "/api/v1/emergency-access/review/{id}", Summary: "Decide whether a use of emergency access was justified (privacy officers)", Tag: tag, Access: accessUser,
			In: emergency.ReviewDecision{}, Out: emergency.ReviewedGrant{}, handler: s.handleReviewEmergency()},
		{Method: "GET", Path: "/api/v1/emergency-access/privacy-officers", Summary: "Accounts given the privacy officer's capability; admins hold it by their role (admin)", Tag: tag, Access: accessUser, Out: privacyOfficerList{}, handler: s.handlePrivacyOfficers()},
		{Method: "PUT", Path: "/api/v1/emergency-access/privacy-officers/{user_id}", Summary: "Give an account the privacy officer's capability (admin)", Tag: tag, Access: accessUser, Status: 204, handler: s.handleSetPrivacyOfficer(true)},
		{Method: "DELETE", Path: "/api/v1/emergency-access/privacy-officers/{user_id}", Summary: "Take the privacy officer's capability away (admin)", Tag: tag, Access: accessUser, Status: 204, handler: s.handleSetPrivacyOfficer(false)},
	}
}

func (s *Server) needEmergency() error {
	if s.emergency == nil {
		return domain.Unavailable(nil, "Emergency access is not available on this server.")
	}
	return nil
}

func (s *Server) handleGrantEmergency() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needEmergency(); err != nil {
			return err
		}
		var in emergency.GrantRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		g, err := s.emergency.Grant(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, g)
		return nil
	})
}

func (s *Server) handleMyEmergencyGrants() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needEmergency(); err != nil {
			return err
		}
		q := r.URL.Query()
		list, err := s.emergency.Mine(r.Context(), q.Get("patient_id"))
		if err != nil {
			return err
		}
		if q.Get("active") == "true" {
			now := s.now()
			active := []*domain.EmergencyGrant{}
			for _, g := range list {
				if g.ActiveAt(now) {
					active = append(active, g)
				}
			}
			list = active
		}
		writeJSON(w, http.StatusOK, emergencyGrantList{Grants: list})
		return nil
	})
}

func (s *Server) writeEmergencyOptions(w http.ResponseWriter, l emergency.Limits) {
	writeJSON(w, http.StatusOK, emergencyOptions{Reasons: emergency.Reasons, Limits: l})
}

func (s *Server) handleEmergencyOptions() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needEmergency(); err != nil {
			return err
		}
		l, err := s.emergency.Limits(r.Context())
		if err != nil {
			return err
		}
		s.writeEmergencyOptions(w, l)
		return nil
	})
}

func (s *Server) handleSetEmergencyOptions() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needEmergency(); err != nil {
			return err
		}
		var in emergencyLimitsRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		l, err := s.emergency.SetMaxMinutes(r.Context(), in.MaxMinutes)
		if err != nil {
			return err
		}
		s.writeEmergencyOptions(w, l)
		return nil
	})
}

func (s *Server) handleEmergencyReviewList() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needEmergency(); err != nil {
			return err
		}
		list, err := s.emergency.ReviewList(r.Context(), r.URL.Query().Get("status"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, emergencyReviewList{Grants: list})
		return nil
	})
}

func (s *Server) handleReviewEmergency() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needEmergency(); err != nil {
			return err
		}
		var in emergency.ReviewDecision
		if err := decode(w, r, &in); err != nil {
			return err
		}
		g, err := s.emergency.Review(r.Context(), r.PathValue("id"), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, g)
		return nil
	})
}

func (s *Server) handlePrivacyOfficers() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needEmergency(); err != nil {
			return err
		}
		ids, err := s.emergency.Officers(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, privacyOfficerList{UserIDs: ids})
		return nil
	})
}

func (s *Server) handleSetPrivacyOfficer(on bool) http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needEmergency(); err != nil {
			return err
		}
		if err := s.emergency.SetOfficer(r.Context(), r.PathValue("user_id"), on); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
