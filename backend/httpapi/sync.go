package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/sync/auditship"
	"github.com/healthhub/healthhub/backend/sync/node"
	"github.com/healthhub/healthhub/backend/sync/upstream"
)

// maxSyncBody bounds a node's push or audit batch.
const maxSyncBody = 16 << 20

type nodeKey struct{}

// nodeAuthenticated admits an enrolled node by its own credential; a user's
// token is refused here, as a node credential is everywhere else.
func (s *Server) nodeAuthenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.upstream == nil {
			s.fail(w, r, domain.Errorf(domain.EUNAVAILABLE, "This server does not accept sync."))
			return
		}
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || !upstream.IsCredential(token) {
			s.fail(w, r, &domain.Error{Code: domain.EUNAUTHORIZED, Message: "This endpoint is for enrolled nodes: send Authorization: Bearer <node credential>."})
			return
		}
		n, p, err := s.upstream.Authenticate(r.Context(), token)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		ctx := context.WithValue(domain.WithPrincipal(r.Context(), p), nodeKey{}, n)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func nodeFrom(ctx context.Context) *domain.SyncNode {
	n, _ := ctx.Value(nodeKey{}).(*domain.SyncNode)
	return n
}

func (s *Server) needUpstream() error {
	if s.upstream == nil {
		return domain.Errorf(domain.EUNAVAILABLE, "This server does not accept sync.")
	}
	return nil
}

func (s *Server) needNode() error {
	if s.node == nil {
		return domain.Errorf(domain.EUNAVAILABLE, "Sync with an upstream is not available on this server.")
	}
	return nil
}

// decodeSync reads a node's batch, larger than other requests may be.
func decodeSync(w http.ResponseWriter, r *http.Request, v any) error {
	if err := jsonContentType(r); err != nil {
		return err
	}
	return decodeJSON(http.MaxBytesReader(w, r.Body, maxSyncBody), v)
}

// Upstream: enrolment and nodes.

func (s *Server) handleCreateEnrollment() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needUpstream(); err != nil {
			return err
		}
		var in upstream.NewEnrollment
		if err := decode(w, r, &in); err != nil {
			return err
		}
		e, err := s.upstream.CreateEnrollment(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, e)
		return nil
	})
}

type syncNodeList struct {
	Nodes []*domain.SyncNode `json:"nodes"`
}

func (s *Server) handleListNodes() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needUpstream(); err != nil {
			return err
		}
		nodes, err := s.upstream.Nodes(r.Context())
		if err != nil {
			return err
		}
		if nodes == nil {
			nodes = []*domain.SyncNode{}
		}
		writeJSON(w, http.StatusOK, syncNodeList{Nodes: nodes})
		return nil
	})
}

func (s *Server) handleRevokeNode() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needUpstream(); err != nil {
			return err
		}
		n, err := s.upstream.Revoke(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, n)
		return nil
	})
}

func (s *Server) handleEnroll() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needUpstream(); err != nil {
			return err
		}
		var in upstream.EnrollRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		out, err := s.upstream.Enroll(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, out)
		return nil
	})
}

// Upstream: what nodes call.

func (s *Server) handlePushOps() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in upstream.Push
		if err := decodeSync(w, r, &in); err != nil {
			return err
		}
		out, err := s.upstream.Apply(r.Context(), nodeFrom(r.Context()), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})
}

func (s *Server) handlePullChanges() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		limit, err := queryInt(r, "limit", 1, upstream.MaxChanges)
		if err != nil {
			return err
		}
		page, err := s.upstream.Changes(r.Context(), nodeFrom(r.Context()), r.URL.Query().Get("after"), int(limit))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, page)
		return nil
	})
}

func (s *Server) handleAuditState() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		st, err := s.upstream.AuditState(r.Context(), nodeFrom(r.Context()))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	})
}

func (s *Server) handleShipAudit() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in auditship.Batch
		if err := decodeSync(w, r, &in); err != nil {
			return err
		}
		ack, err := s.upstream.AcceptAudit(r.Context(), nodeFrom(r.Context()), &in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, ack)
		return nil
	})
}

// Node: this installation's sync with its upstream.

func (s *Server) handleSyncStatus() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needNode(); err != nil {
			return err
		}
		st, err := s.node.StatusFor(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	})
}

func (s *Server) handleSyncRun() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needNode(); err != nil {
			return err
		}
		st, err := s.node.RunNow(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	})
}

func (s *Server) handleSyncEnroll() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needNode(); err != nil {
			return err
		}
		var in node.EnrollOptions
		if err := decode(w, r, &in); err != nil {
			return err
		}
		st, err := s.node.EnrollAs(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	})
}

type conflictList struct {
	Conflicts []*domain.SyncConflict `json:"conflicts"`
}

func (s *Server) handleListConflicts() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needNode(); err != nil {
			return err
		}
		all := r.URL.Query().Get("all") == "true"
		list, err := s.node.Conflicts(r.Context(), !all)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, conflictList{Conflicts: list})
		return nil
	})
}

func (s *Server) handleResolveConflict() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needNode(); err != nil {
			return err
		}
		c, err := s.node.Resolve(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

// Slot leases: nodes ask the upstream; people at a node see and manage
// this installation's.

func (s *Server) handleGrantLease() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in upstream.LeaseRequest
		if err := decodeSync(w, r, &in); err != nil {
			return err
		}
		out, err := s.upstream.Lease(r.Context(), nodeFrom(r.Context()), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, out)
		return nil
	})
}

func (s *Server) handleReleaseLease() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		l, err := s.upstream.ReleaseLease(r.Context(), nodeFrom(r.Context()), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, l)
		return nil
	})
}

type leaseList struct {
	Leases []*domain.SyncLease `json:"leases"`
}

func (s *Server) handleNodeLeases() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needNode(); err != nil {
			return err
		}
		list, err := s.node.Leases(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, leaseList{Leases: list})
		return nil
	})
}

func (s *Server) handleRequestLease() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needNode(); err != nil {
			return err
		}
		var in node.LeaseRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		l, err := s.node.RequestLease(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, l)
		return nil
	})
}

func (s *Server) handleGiveBackLease() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needNode(); err != nil {
			return err
		}
		l, err := s.node.ReleaseLease(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, l)
		return nil
	})
}
