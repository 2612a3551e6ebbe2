package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
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

// wantsEventStream: the client asked for server-sent events.
func wantsEventStream(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/event-stream" {
			return true
		}
	}
	return false
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

// streamWriteTimeout bounds each write of a stream: a client that stops
// reading does not hold the answer up longer.
const streamWriteTimeout = 30 * time.Second

// streamSSE writes a stream's events as server-sent events until it ends
// or the client goes away. Each delta carries only the new text.
func (s *Server) streamSSE(w http.ResponseWriter, r *http.Request, st *assistant.Stream) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-st.Events:
			if !ok {
				return
			}
			data, err := json.Marshal(sseData(ev))
			if err != nil {
				return
			}
			rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, data); err != nil {
				return
			}
			// Send what is ready together: deltas queued meanwhile go in
			// the same write.
			if len(st.Events) == 0 {
				if rc.Flush() != nil {
					return
				}
			}
		}
	}
}

// sseData is an event's payload as the API contract gives it: delta
// {text}, citations {citations}, done {message_id}, error {code,message}.
func sseData(ev assistant.Event) any {
	switch ev.Type {
	case "delta", "notice":
		return map[string]string{"text": ev.Text}
	case "citations":
		return map[string]any{"citations": ev.Citations}
	case "done":
		return map[string]string{"message_id": ev.MessageID, "status": ev.Status}
	case "error":
		return map[string]string{"code": ev.Code, "message": ev.Message, "message_id": ev.MessageID}
	}
	return ev
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

// handleModels lists the caller's models in OpenAI's shape (GET /v1/models).
func (s *Server) handleModels(openAIShape bool) http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.assistantOn(); err != nil {
			return err
		}
		models, err := s.assistant.Models(r.Context())
		if err != nil {
			return err
		}
		if !openAIShape {
			writeJSON(w, http.StatusOK, modelList{Models: models})
			return nil
		}
		data := make([]openAIModel, 0, len(models))
		for _, m := range models {
			data = append(data, openAIModel{ID: m.ID, Object: "model", OwnedBy: m.Provider})
		}
		writeJSON(w, http.StatusOK, openAIModels{Object: "list", Data: data})
		return nil
	})
}

type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type openAIModels struct {
	Object string        `json:"object"`
	Data   []openAIModel `json:"data"`
}

// chatCompletionRequest is the part of OpenAI's request HealthHub uses;
// other fields (temperature, n, …) are accepted and ignored.
type chatCompletionRequest struct {
	Model               string                        `json:"model"`
	Messages            []assistant.CompletionMessage `json:"messages"`
	Stream              bool                          `json:"stream"`
	MaxTokens           int                           `json:"max_tokens"`
	MaxCompletionTokens int                           `json:"max_completion_tokens"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// completionMessages accepts content as a string or as OpenAI's list of
// text parts.
func (c *chatCompletionRequest) UnmarshalJSON(b []byte) error {
	type raw struct {
		Model               string `json:"model"`
		Stream              bool   `json:"stream"`
		MaxTokens           int    `json:"max_tokens"`
		MaxCompletionTokens int    `json:"max_completion_tokens"`
		StreamOptions       *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	var in raw
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	c.Model, c.Stream, c.MaxTokens, c.MaxCompletionTokens, c.StreamOptions = in.Model, in.Stream, in.MaxTokens, in.MaxCompletionTokens, in.StreamOptions
	if len(in.Messages) > maxCompletionMessages {
		return domain.Invalid("messages", "messages must hold at most 500 messages.")
	}
	for _, m := range in.Messages {
		var text string
		if len(m.Content) > 0 && m.Content[0] == '[' {
			var parts []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal(m.Content, &parts); err != nil {
				return domain.Invalid("messages", "A message's content must be text or a list of text parts.")
			}
			if len(parts) > maxContentParts {
				return domain.Invalid("messages", "A message may have at most 100 text parts.")
			}
			var b strings.Builder
			for _, p := range parts {
				if p.Type != "text" {
					return domain.Invalid("messages", "Only text content is supported.")
				}
				b.WriteString(p.Text)
			}
			text = b.String()
		} else if len(m.Content) > 0 && string(m.Content) != "null" {
			if err := json.Unmarshal(m.Content, &text); err != nil {
				return domain.Invalid("messages", "A message's content must be text or a list of text parts.")
			}
		}
		c.Messages = append(c.Messages, assistant.CompletionMessage{Role: m.Role, Content: text})
	}
	return nil
}

// Bounds of an OpenAI-style request.
const (
	maxCompletionMessages = 500
	maxContentParts       = 100
)

// handleChatCompletions is OpenAI's POST /v1/chat/completions over the
// clinic's assistant, streamed or whole.
func (s *Server) handleChatCompletions() http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := jsonContentType(r); err != nil {
			return err
		}
		var in chatCompletionRequest
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			return &domain.Error{Code: domain.ETOOLARGE, Message: "The request body is larger than 1 MiB."}
		}
		if !utf8.Valid(body) {
			return domain.Invalid("messages", "The messages are not valid UTF-8 text.")
		}
		if err := json.Unmarshal(body, &in); err != nil {
			if de, ok := err.(*domain.Error); ok {
				return de
			}
			return describeJSONError(err)
		}
		if err := s.assistantOn(); err != nil {
			return err
		}
		maxTokens := in.MaxTokens
		if in.MaxCompletionTokens > 0 {
			maxTokens = in.MaxCompletionTokens
		}
		req := assistant.CompletionInput{Model: in.Model, Messages: in.Messages, MaxTokens: maxTokens}
		if !in.Stream {
			c, err := s.assistant.Complete(r.Context(), req, nil)
			if err != nil {
				return err
			}
			if c.Status == domain.MessageFailed {
				return domain.Errorf(cmp.Or(c.Code, domain.EUNAVAILABLE), "%s", c.Error)
			}
			content := c.Content
			if c.Notice != "" {
				content = c.Notice + "\n\n" + content
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"id": c.ID, "object": "chat.completion", "created": c.Created.Unix(), "model": c.Model,
				"choices":   []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content}, "finish_reason": "stop"}},
				"usage":     map[string]int{"prompt_tokens": c.TokensIn, "completion_tokens": c.TokensOut, "total_tokens": c.TokensIn + c.TokensOut},
				"citations": c.Citations,
			})
			return nil
		}
		return s.streamCompletion(w, r, req, in.StreamOptions != nil && in.StreamOptions.IncludeUsage)
	})
}

// streamCompletion streams an answer as OpenAI's chat.completion.chunk
// events. Errors before the first byte are the API's JSON errors.
func (s *Server) streamCompletion(w http.ResponseWriter, r *http.Request, req assistant.CompletionInput, includeUsage bool) error {
	rc := http.NewResponseController(w)
	started := false
	var id, model string
	created := s.now().Unix()
	chunk := func(delta map[string]any, finish any, extra map[string]any) {
		v := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
		for k, x := range extra {
			v[k] = x
		}
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
	}
	// A piece of text is the one chunk sent many times: written from a
	// prefix and suffix made once, with only the text encoded each time.
	var textPrefix []byte
	const textSuffix = "}}],\"usage\":null}\n\n"
	text := func(s string) {
		if textPrefix == nil {
			head, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model})
			textPrefix = append([]byte("data: "), head[:len(head)-1]...)
			textPrefix = append(textPrefix, `,"choices":[{"index":0,"finish_reason":null,"delta":{"content":`...)
		}
		q, _ := json.Marshal(s)
		buf := make([]byte, 0, len(textPrefix)+len(q)+len(textSuffix))
		buf = append(append(append(buf, textPrefix...), q...), textSuffix...)
		w.Write(buf)
	}
	start := func() {
		if started {
			return
		}
		started = true
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		chunk(map[string]any{"role": "assistant", "content": ""}, nil, nil)
	}
	var failed *assistant.Event
	c, err := s.assistant.Complete(r.Context(), req, func(ev assistant.Event) {
		if id == "" {
			id, model = ev.MessageID, req.Model
		}
		switch ev.Type {
		case "notice":
			start()
			text(ev.Text + "\n\n")
		case "delta":
			start()
			rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			text(ev.Text)
			rc.Flush()
		case "error":
			e := ev
			failed = &e
		}
	})
	if err != nil {
		if started {
			return nil
		}
		return err
	}
	if failed != nil && !started {
		return domain.Errorf(cmp.Or(failed.Code, domain.EUNAVAILABLE), "%s", failed.Message)
	}
	start()
	if failed != nil {
		b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": failed.Code, "message": failed.Message}})
		fmt.Fprintf(w, "data: %s\n\n", b)
	} else {
		chunk(map[string]any{}, "stop", map[string]any{"citations": c.Citations})
		if includeUsage {
			b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": []any{},
				"usage": map[string]int{"prompt_tokens": c.TokensIn, "completion_tokens": c.TokensOut, "total_tokens": c.TokensIn + c.TokensOut}})
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	rc.Flush()
	return nil
}

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

// ChatOverWebSocket serves the chat messages clients send on /api/v1/ws:
// chat.send streams an answer back as chat.* events, chat.stop stops one,
// chat.listen follows one still being written (after a reconnect).
func (s *Server) ChatOverWebSocket(ctx context.Context, p *domain.Principal, raw []byte, send func([]byte) bool) {
	var req wsChatRequest
	if err := json.Unmarshal(raw, &req); err != nil || !strings.HasPrefix(req.Type, "chat.") {
		return
	}
	ctx = domain.WithPrincipal(ctx, p)
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
