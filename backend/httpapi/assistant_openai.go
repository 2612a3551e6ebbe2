package httpapi

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/assistant"
	"github.com/healthhub/healthhub/backend/domain"
)

// The OpenAI-compatible endpoints (/v1/models, /v1/chat/completions) over
// the clinic's assistant.

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
