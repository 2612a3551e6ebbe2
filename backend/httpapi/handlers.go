package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) handleHealthz() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, statusResponse{Status: "ok", Version: s.cfg.Version, API: APIGeneration})
		return nil
	})
}

func (s *Server) handleReadyz() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.store.Ping(ctx); err != nil {
			return domain.Unavailable(err, "The database is not reachable.")
		}
		writeJSON(w, http.StatusOK, statusResponse{Status: "ready", Database: s.store.Engine(), Version: s.cfg.Version, API: APIGeneration})
		return nil
	})
}

func (s *Server) handleMetrics() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}

func (s *Server) handleSetupStatus() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		needed, err := s.auth.NeedsSetup(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, setupStatus{Needed: needed})
		return nil
	})
}

func (s *Server) handleSetup() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in setupRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		u, err := s.auth.CompleteSetup(r.Context(), in.Token, auth.NewAccount{Email: in.Email, Password: in.Password, Name: in.Name})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, u)
		return nil
	})
}

func (s *Server) handleLogin() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in auth.Credentials
		if err := decode(w, r, &in); err != nil {
			return err
		}
		pair, err := s.auth.Login(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, pair)
		return nil
	})
}

func (s *Server) handleRefresh() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in refreshRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		pair, err := s.auth.Refresh(r.Context(), in.RefreshToken)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, pair)
		return nil
	})
}

func (s *Server) handleLogout() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.auth.Logout(r.Context(), domain.PrincipalFrom(r.Context())); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Server) handleMe() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		p, set, err := s.auth.Me(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, meResponse{User: *p.Account, MFAEnrollmentRequired: p.MFAPending, IdleTimeoutMinutes: set.IdleTimeoutMinutes})
		return nil
	})
}

func (s *Server) handleMFAEnroll() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		p := domain.PrincipalFrom(r.Context())
		enr, err := s.auth.EnrollMFA(r.Context(), p)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, enr)
		return nil
	})
}

func (s *Server) handleMFAConfirm() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		p := domain.PrincipalFrom(r.Context())
		var in mfaConfirmRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		if err := s.auth.ConfirmMFA(r.Context(), p, in.Code); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Server) handleListAPIKeys() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		p := domain.PrincipalFrom(r.Context())
		keys, err := s.auth.ListAPIKeys(r.Context(), p)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, apiKeyList{APIKeys: keys})
		return nil
	})
}

func (s *Server) handleCreateAPIKey() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		p := domain.PrincipalFrom(r.Context())
		var in apiKeyRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		key, k, err := s.auth.CreateAPIKey(r.Context(), p, in.Name)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, apiKeyCreated{APIKey: *k, Key: key})
		return nil
	})
}

func (s *Server) handleRevokeAPIKey() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		p := domain.PrincipalFrom(r.Context())
		if err := s.auth.RevokeAPIKey(r.Context(), p, r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// queryInt reads an optional integer query parameter within [lo, hi].
func queryInt(r *http.Request, name string, lo, hi int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, domain.Invalid(name, "Query parameter %q must be a whole number from %d to %d.", name, lo, hi)
	}
	return n, nil
}

// queryTime reads an optional RFC 3339 time query parameter.
func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, domain.Invalid(name, "Query parameter %q must be an RFC 3339 time such as 2026-03-01T09:00:00Z.", name)
	}
	return t, nil
}

func (s *Server) handleListUsers() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		limit, err := queryInt(r, "limit", 1, 500)
		if err != nil {
			return err
		}
		offset, err := queryInt(r, "offset", 0, 1<<31)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		users, err := s.auth.Accounts(r.Context(), domain.UserFilter{Role: domain.Role(q.Get("role")), Query: truncate(q.Get("q"), 200), Limit: int(limit), Offset: int(offset)})
		if err != nil {
			return err
		}
		incomplete, err := s.auth.DoctorsWithoutProfile(r.Context(), users)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, userList{Users: users, DoctorsWithoutProfile: incomplete})
		return nil
	})
}

func (s *Server) handleCreateUser() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in auth.NewAccount
		if err := decode(w, r, &in); err != nil {
			return err
		}
		u, err := s.auth.CreateUser(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, u)
		return nil
	})
}

func (s *Server) handleGetUser() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		u, err := s.auth.Account(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, u)
		return nil
	})
}

func (s *Server) handleUpdateUser() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		var in auth.UserPatch
		if err := decode(w, r, &in); err != nil {
			return err
		}
		u, err := s.auth.UpdateUser(r.Context(), id, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, u)
		return nil
	})
}

func (s *Server) handleGetSettings() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		set, err := s.auth.SettingsFor(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, set)
		return nil
	})
}

func (s *Server) handleUpdateSettings() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in auth.SettingsPatch
		if err := decode(w, r, &in); err != nil {
			return err
		}
		set, err := s.auth.UpdateSettings(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, set)
		return nil
	})
}

// auditFilter reads the audit query parameters.
func auditFilter(r *http.Request) (domain.AuditFilter, error) {
	q := r.URL.Query()
	f := domain.AuditFilter{PatientID: q.Get("patient_id"), ActorID: q.Get("user_id"), Action: q.Get("action"), ResourceType: q.Get("resource_type")}
	var err error
	if f.From, err = queryTime(r, "from"); err != nil {
		return f, err
	}
	if f.To, err = queryTime(r, "to"); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, domain.Invalid("to", "The time range is empty: 'to' must be after 'from'.")
	}
	return f, nil
}

func (s *Server) handleAuditEvents() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		f, err := auditFilter(r)
		if err != nil {
			return err
		}
		before, err := queryInt(r, "before", 1, 1<<62)
		if err != nil {
			return err
		}
		limit, err := queryInt(r, "limit", 1, 1000)
		if err != nil {
			return err
		}
		f.BeforeSeq, f.Limit = before, int(limit)
		if f.Limit == 0 {
			f.Limit = 100
		}
		evs, err := s.trail.Events(r.Context(), f)
		if err != nil {
			return err
		}
		out := auditList{Events: evs}
		if len(evs) == f.Limit {
			out.NextBefore = evs[len(evs)-1].Seq
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})
}

func (s *Server) handleAuditVerify() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		rep, err := s.trail.Verify(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, rep)
		return nil
	})
}

func (s *Server) handleAuditExport() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		f, err := auditFilter(r)
		if err != nil {
			return err
		}
		started := false
		_, err = s.trail.Export(r.Context(), f, func() {
			started = true
			w.Header().Set("Content-Type", "application/fhir+ndjson")
			w.Header().Set("Content-Disposition", `attachment; filename="audit-events.ndjson"`)
		}, w)
		if err != nil && started {
			// Headers are gone; the truncated body and the log tell.
			s.logger.Error("audit export interrupted", "err", err, "request_id", domain.RequestMetaFrom(r.Context()).RequestID)
			return nil
		}
		return err
	})
}
