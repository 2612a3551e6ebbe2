package httpapi

import (
	"net/http"
	"strings"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
)

type sourceList struct {
	Sources []knowledge.SourceStatus `json:"sources"`
}

type failureList struct {
	Files []domain.KnowledgeFile `json:"files"`
}

type documentList struct {
	Documents []domain.KnowledgeDocument `json:"documents"`
}

type searchResults struct {
	Results []knowledge.Result `json:"results"`
}

// knowledgeOn answers 503 where the server runs without a knowledge base.
func (s *Server) knowledgeOn() error {
	if s.knowledge == nil {
		return domain.Errorf(domain.EUNAVAILABLE, "The knowledge base is not enabled on this server.")
	}
	return nil
}

func (s *Server) handleListSources() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.knowledgeOn(); err != nil {
			return err
		}
		all, err := s.knowledge.Sources(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, sourceList{Sources: all})
		return nil
	})
}

func (s *Server) handleAddSource() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in knowledge.NewSource
		if err := decode(w, r, &in); err != nil {
			return err
		}
		if err := s.knowledgeOn(); err != nil {
			return err
		}
		st, err := s.knowledge.AddSource(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, st)
		return nil
	})
}

func (s *Server) handleDeleteSource() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.knowledgeOn(); err != nil {
			return err
		}
		if err := s.knowledge.DeleteSource(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Server) handleSyncSource() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.knowledgeOn(); err != nil {
			return err
		}
		st, err := s.knowledge.Sync(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusAccepted, st)
		return nil
	})
}

func (s *Server) handleSourceFailures() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.knowledgeOn(); err != nil {
			return err
		}
		files, err := s.knowledge.Failures(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, failureList{Files: files})
		return nil
	})
}

func (s *Server) handleListDocuments() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.knowledgeOn(); err != nil {
			return err
		}
		limit, err := queryInt(r, "limit", 1, 500)
		if err != nil {
			return err
		}
		offset, err := queryInt(r, "offset", 0, 1<<31)
		if err != nil {
			return err
		}
		if limit == 0 {
			limit = 100
		}
		docs, err := s.knowledge.Documents(r.Context(), r.URL.Query().Get("source_id"), int(limit), int(offset))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, documentList{Documents: docs})
		return nil
	})
}

func (s *Server) handleSearchKnowledge() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.knowledgeOn(); err != nil {
			return err
		}
		limit, err := queryInt(r, "limit", 1, knowledge.MaxResults)
		if err != nil {
			return err
		}
		q := r.URL.Query().Get("q")
		if strings.TrimSpace(q) == "" {
			return domain.Invalid("q", "q must say what to look for, e.g. ?q=repeat+prescriptions.")
		}
		res, err := s.knowledge.Search(r.Context(), q, int(limit))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, searchResults{Results: res})
		return nil
	})
}
