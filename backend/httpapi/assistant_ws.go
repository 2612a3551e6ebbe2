package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/healthhub/healthhub/backend/assistant"
	"github.com/healthhub/healthhub/backend/domain"
)

// Chat on the WebSocket (/api/v1/ws).

// wsChatRequest is a client's chat message on the WebSocket.
type wsChatRequest struct {
	Type           string `json:"type"` // chat.send, chat.stop, chat.listen
	RequestID      string `json:"request_id"`
	ConversationID string `json:"conversation_id"`
	MessageID      string `json:"message_id"`
	Content        string `json:"content"`
	Provider       string `json:"provider"`
	Model          string `json:"model"`
}

// wsChatEvent is what the server sends back: chat.start, chat.notice,
// chat.citations, chat.delta (only the new text), chat.done, chat.error.
type wsChatEvent struct {
	Type      string `json:"type"`
	RequestID string `json:"request_id,omitempty"`
	assistant.Event
}

// chatOverWebSocket serves the chat messages clients send on /api/v1/ws:
// chat.send streams an answer back as chat.* events, chat.stop stops one,
// chat.listen follows one still being written (after a reconnect).
func (s *Server) chatOverWebSocket(ctx context.Context, p *domain.Principal, raw []byte, send func([]byte) bool) {
	var req wsChatRequest
	if err := json.Unmarshal(raw, &req); err != nil || !strings.HasPrefix(req.Type, "chat.") {
		return
	}
	ctx = domain.WithPrincipal(ctx, p)
	// Each chat message is a request of its own in the audit log: the
	// connection's request id and the client's (or a new one).
	meta := domain.RequestMetaFrom(ctx)
	sub := req.RequestID
	if !validRequestID(sub) {
		sub = newRequestID()
	}
	meta.RequestID += "." + sub
	ctx = domain.WithRequestMeta(ctx, meta)
	reply := func(ev assistant.Event) bool {
		b, err := json.Marshal(wsChatEvent{Type: "chat." + ev.Type, RequestID: req.RequestID, Event: ev})
		return err == nil && send(b)
	}
	fail := func(err error) {
		code, msg := domain.EINTERNAL, "Something went wrong; please try again."
		var de *domain.Error
		if errors.As(err, &de) {
			code, msg = de.Code, de.Message
		} else {
			s.logger.Error("chat over websocket", "err", err)
		}
		s.logger.Info("chat over websocket refused", "user_id", p.UserID, "code", code)
		reply(assistant.Event{Type: "error", Code: code, Message: msg})
	}
	if err := s.assistantOn(); err != nil {
		fail(err)
		return
	}
	var st *assistant.Stream
	var err error
	switch req.Type {
	case "chat.send":
		st, err = s.assistant.Send(ctx, req.ConversationID, assistant.SendInput{Content: req.Content, Provider: req.Provider, Model: req.Model})
	case "chat.listen":
		st, err = s.assistant.Listen(ctx, req.MessageID)
	case "chat.stop":
		if err := s.assistant.Stop(ctx, req.ConversationID); err != nil {
			fail(err)
		}
		return
	default:
		fail(domain.Invalid("type", "Unknown chat message type; use chat.send, chat.stop or chat.listen."))
		return
	}
	if err != nil {
		fail(err)
		return
	}
	// The answer is written on whatever happens to this connection.
	go func() {
		defer st.Leave()
		for ev := range st.Events {
			if !reply(ev) {
				return
			}
		}
	}()
}
