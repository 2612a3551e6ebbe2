package httpapi

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/assistant"
)

// Server-sent events: a message sent with Accept: text/event-stream
// streams its answer.

// wantsEventStream: the client asked for server-sent events.
func wantsEventStream(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/event-stream" {
			return true
		}
	}
	return false
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
