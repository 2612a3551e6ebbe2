// Package llmtest runs language model services in process for tests and
// benchmarks: an OpenAI chat completions server streaming SSE chunks and a
// Bedrock ConverseStream server streaming the AWS event-stream encoding,
// with the failures real services have.
package llmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// Behaviour is what the server does with one request, chosen by the
// request's model name (see Server.Behave) or the default.
type Behaviour struct {
	Answer     []string      // pieces of text streamed in order
	FirstDelay time.Duration // before the first piece
	Delay      time.Duration // between pieces
	FailFirst  int           // answer this many requests with Status first
	Status     int           // e.g. 429 or 500
	CutAfter   int           // close the connection after this many pieces (0: never)
	Malformed  bool          // send a chunk that is not valid JSON after the first piece
	TokensIn   int
}

// Server is a fake language model service.
type Server struct {
	*httptest.Server
	mu        sync.Mutex
	behaviour map[string]*Behaviour // by model name; "" is the default
	failed    map[string]int
	requests  []Captured
	Calls     atomic.Int64
	// Disconnected counts streams whose client went away before the end.
	Disconnected atomic.Int64
}

// Captured is a request as the upstream saw it.
type Captured struct {
	Model string
	Body  string // the whole request body: what left the clinic
}

func newServer(def Behaviour) *Server {
	return &Server{behaviour: map[string]*Behaviour{"": &def}, failed: map[string]int{}}
}

// Behave sets what requests for model do.
func (s *Server) Behave(model string, b Behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviour[model] = &b
	delete(s.failed, model)
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Captured {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Captured(nil), s.requests...)
}

// plan records the request and returns its behaviour, and the status to
// fail it with (0 to answer).
func (s *Server) plan(model, body string) (Behaviour, int) {
	s.Calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Captured{Model: model, Body: body})
	b, ok := s.behaviour[model]
	if !ok {
		b = s.behaviour[""]
	}
	if s.failed[model] < b.FailFirst {
		s.failed[model]++
		return *b, b.Status
	}
	return *b, 0
}

// sleep waits d or until the client goes away.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// OpenAI starts a server speaking the OpenAI chat completions API at
// /v1/chat/completions (streamed as server-sent events with usage and
// finish_reason, or whole) and /v1/models.
func OpenAI(def Behaviour) *Server {
	s := newServer(def)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"id":"fake-model","object":"model","owned_by":"test"}]}`)
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		b, status := s.plan(req.Model, string(body))
		if status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"message":"upstream says %d","type":"server_error","code":null}}`, status)
			return
		}
		if !req.Stream {
			if !sleep(r, b.FirstDelay) {
				return
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{
				"id": "chatcmpl-1", "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
				"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": strings.Join(b.Answer, "")}, "finish_reason": "stop"}},
				"usage":   map[string]any{"prompt_tokens": b.TokensIn, "completion_tokens": len(b.Answer), "total_tokens": b.TokensIn + len(b.Answer)},
			})
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		fl.Flush()
		chunk := func(v any) {
			j, _ := json.Marshal(v)
			fmt.Fprintf(w, "data: %s\n\n", j)
			fl.Flush()
		}
		choice := func(delta map[string]any, finish any) map[string]any {
			return map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": req.Model,
				"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}}
		}
		if !sleep(r, b.FirstDelay) {
			s.Disconnected.Add(1)
			return
		}
		chunk(choice(map[string]any{"role": "assistant", "content": ""}, nil))
		for i, piece := range b.Answer {
			if i > 0 && !sleep(r, b.Delay) {
				s.Disconnected.Add(1)
				return
			}
			if b.CutAfter > 0 && i == b.CutAfter {
				cut(w)
				return
			}
			chunk(choice(map[string]any{"content": piece}, nil))
			if b.Malformed && i == 0 {
				fmt.Fprint(w, "data: {\"choices\": [{\"delta\": {\"content\": \"oops\"\n\n")
				fl.Flush()
				return
			}
		}
		chunk(choice(map[string]any{}, "stop"))
		chunk(map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": time.Now().Unix(), "model": req.Model, "choices": []any{},
			"usage": map[string]any{"prompt_tokens": b.TokensIn, "completion_tokens": len(b.Answer), "total_tokens": b.TokensIn + len(b.Answer)}})
		fmt.Fprint(w, "data: [DONE]\n\n")
		fl.Flush()
	})
	s.Server = httptest.NewServer(mux)
	return s
}

// cut drops the connection without ending the response properly.
func cut(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// Bedrock starts a server speaking Bedrock's ConverseStream
// (POST /model/{id}/converse-stream) in the AWS event-stream encoding.
func Bedrock(def Behaviour) *Server {
	s := newServer(def)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /model/{model}/converse-stream", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		model := r.PathValue("model")
		b, status := s.plan(model, string(body))
		if status != 0 {
			code := map[int]string{http.StatusTooManyRequests: "ThrottlingException", http.StatusForbidden: "AccessDeniedException",
				http.StatusNotFound: "ResourceNotFoundException", http.StatusBadRequest: "ValidationException"}[status]
			if code == "" {
				code = "InternalServerException"
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", code)
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"message":"upstream says %d"}`, status)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		enc := eventstream.NewEncoder()
		event := func(typ string, payload any) {
			j, _ := json.Marshal(payload)
			var buf bytes.Buffer
			enc.Encode(&buf, eventstream.Message{
				Headers: eventstream.Headers{
					{Name: ":message-type", Value: eventstream.StringValue("event")},
					{Name: ":event-type", Value: eventstream.StringValue(typ)},
					{Name: ":content-type", Value: eventstream.StringValue("application/json")},
				},
				Payload: j,
			})
			w.Write(buf.Bytes())
			fl.Flush()
		}
		fl.Flush()
		if !sleep(r, b.FirstDelay) {
			s.Disconnected.Add(1)
			return
		}
		event("messageStart", map[string]any{"role": "assistant"})
		for i, piece := range b.Answer {
			if i > 0 && !sleep(r, b.Delay) {
				s.Disconnected.Add(1)
				return
			}
			if b.CutAfter > 0 && i == b.CutAfter {
				cut(w)
				return
			}
			event("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]any{"text": piece}})
			if b.Malformed && i == 0 {
				w.Write([]byte("this is not an event-stream message at all, just junk bytes"))
				fl.Flush()
				return
			}
		}
		event("contentBlockStop", map[string]any{"contentBlockIndex": 0})
		event("messageStop", map[string]any{"stopReason": "end_turn"})
		event("metadata", map[string]any{"usage": map[string]any{"inputTokens": b.TokensIn, "outputTokens": len(b.Answer), "totalTokens": b.TokensIn + len(b.Answer)},
			"metrics": map[string]any{"latencyMs": 1}})
	})
	s.Server = httptest.NewServer(mux)
	return s
}
