package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/assistant"
	"github.com/healthhub/healthhub/backend/domain"
)

type conversationList struct {
	Conversations []*domain.Conversation `json:"conversations"`
	// Next pages on: pass it as before= (empty on the last page).
	Next string `json:"next,omitempty"`
}

type providerList struct {
	Providers []*domain.LLMProvider `json:"providers"`
}

type usageList struct {
	Usage []domain.Usage `json:"usage"`
}

type modelList struct {
	Models []assistant.Model `json:"models"`
}

// messageSent answers a message sent without streaming: the ids, and the
// answer being written (fetch the conversation to read it).
type messageSent struct {
	ConversationID string          `json:"conversation_id"`
	UserMessageID  string          `json:"user_message_id"`
	MessageID      string          `json:"message_id"`
	Status         string          `json:"status"`
	Message        *domain.Message `json:"message,omitempty"`
}

// assistantOn answers 503 where the server runs without the assistant.
func (s *Server) assistantOn() error {
	if s.assistant == nil {
		return domain.Errorf(domain.EUNAVAILABLE, "The assistant is not enabled on this server.")
	}
	return nil
}

func (s *Server) handleListConversations() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.assistantOn(); err != nil {
			return err
		}
		limit, err := queryInt(r, "limit", 1, 200)
		if err != nil {
			return err
		}
		before, err := queryTime(r, "before")
		if err != nil {
			return err
		}
		list, err := s.assistant.Conversations(r.Context(), r.URL.Query().Get("q"), before, int(limit))
		if err != nil {
			return err
		}
		out := conversationList{Conversations: list}
		if n := len(list); n > 0 && (limit == 0 && n == 50 || int64(n) == limit) {
			out.Next = list[n-1].UpdatedAt.Format(time.RFC3339Nano)
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})
}

func (s *Server) handleCreateConversation() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in assistant.NewConversation
		if err := decode(w, r, &in); err != nil {
			return err
		}
		if err := s.assistantOn(); err != nil {
			return err
		}
		c, err := s.assistant.CreateConversation(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, c)
		return nil
	})
}

func (s *Server) handleGetConversation() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.assistantOn(); err != nil {
			return err
		}
		c, err := s.assistant.Conversation(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

func (s *Server) handleUpdateConversation() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in assistant.ConversationPatch
		if err := decode(w, r, &in); err != nil {
			return err
		}
		if err := s.assistantOn(); err != nil {
			return err
		}
		c, err := s.assistant.UpdateConversation(r.Context(), r.PathValue("id"), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

func (s *Server) handleDeleteConversation() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.assistantOn(); err != nil {
			return err
		}
		if err := s.assistant.DeleteConversation(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Server) handleExportConversation() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.assistantOn(); err != nil {
			return err
		}
		format := r.URL.Query().Get("format")
		if format == "" {
			format = "markdown"
		}
		ct, body, err := s.assistant.Export(r.Context(), r.PathValue("id"), format)
		if err != nil {
			return err
		}
		ext := map[string]string{"markdown": "md", "json": "json"}[format]
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="conversation-%s.%s"`, r.PathValue("id"), ext))
		w.Write(body)
		return nil
	})
}

func (s *Server) handleStopConversation() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.assistantOn(); err != nil {
			return err
		}
		if err := s.assistant.Stop(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// decodeText is decode for bodies carrying a person's text: bytes that are
// not UTF-8 are refused rather than silently replaced.
func decodeText(w http.ResponseWriter, r *http.Request, v any) error {
	if err := jsonContentType(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return &domain.Error{Code: domain.ETOOLARGE, Message: "The request body is larger than 1 MiB."}
	}
	if !utf8.Valid(body) {
		return domain.Invalid("content", "The message is not valid UTF-8 text.")
	}
	return decodeJSON(bytes.NewReader(body), v)
}

// handleSendMessage adds a message and streams the answer as server-sent
// events (delta, citations, notice, done, error) with Accept:
// text/event-stream; otherwise it waits for the answer and returns it.
func (s *Server) handleSendMessage() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in assistant.SendInput
		if err := decodeText(w, r, &in); err != nil {
			return err
		}
		if err := s.assistantOn(); err != nil {
			return err
		}
		st, err := s.assistant.Send(r.Context(), r.PathValue("id"), in)
		if err != nil {
			return err
		}
		defer st.Leave()
		if wantsEventStream(r) {
			s.streamSSE(w, r, st)
			return nil
		}
		// Without streaming: wait for the end, unless the client leaves
		// (the answer is written anyway).
		for {
			select {
			case <-r.Context().Done():
				return nil
			case _, ok := <-st.Events:
				if ok {
					continue
				}
				c, err := s.assistant.Conversation(r.Context(), st.ConversationID)
				if err != nil {
					return err
				}
				out := messageSent{ConversationID: st.ConversationID, UserMessageID: st.UserMessageID, MessageID: st.MessageID}
				for _, m := range c.Messages {
					if m.ID == st.MessageID {
						out.Message, out.Status = m, m.Status
					}
				}
				writeJSON(w, http.StatusCreated, out)
				return nil
			}
		}
	})
}

func (s *Server) handleListProviders() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.assistantOn(); err != nil {
			return err
		}
		all, err := s.assistant.Providers(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, providerList{Providers: all})
		return nil
	})
}

func (s *Server) handleSaveProvider(create bool) http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		var in assistant.ProviderInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		if err := s.assistantOn(); err != nil {
			return err
		}
		id, status := r.PathValue("id"), http.StatusOK
		if create {
			id, status = "", http.StatusCreated
		}
		p, err := s.assistant.SaveProvider(r.Context(), id, in)
		if err != nil {
			return err
		}
		writeJSON(w, status, p)
		return nil
	})
}

func (s *Server) handleDeleteProvider() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.assistantOn(); err != nil {
			return err
		}
		if err := s.assistant.DeleteProvider(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Server) handleAISettings() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.assistantOn(); err != nil {
			return err
		}
		if r.Method == http.MethodPatch {
			var in assistant.SettingsPatch
			if err := decode(w, r, &in); err != nil {
				return err
			}
			set, err := s.assistant.UpdateSettings(r.Context(), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, set)
			return nil
		}
		set, err := s.assistant.SettingsFor(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, set)
		return nil
	})
}

func (s *Server) handleAIUsage() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.assistantOn(); err != nil {
			return err
		}
		q := r.URL.Query()
		use, err := s.assistant.Usage(r.Context(), q.Get("from"), q.Get("to"), q.Get("user_id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, usageList{Usage: use})
		return nil
	})
}
