package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/domain"
)

// The WebSocket's chat messages follow the same rules as the REST routes
// they mirror, and each is a request of its own in the audit log
// (connection request id "." the client's request_id): someone else's
// conversation is not found, refused and recorded once; the caller's own is
// answered, and the answer recorded once.
func TestWebSocketChatMatrix(t *testing.T) {
	for _, eng := range engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			a, w, users, otherUser := openWorld(t, eng)
			for _, role := range []domain.Role{domain.RolePatient, domain.RoleDoctor, domain.RoleStaff, domain.RoleAdmin} {
				env := caseEnv{a: a, caller: users[role], other: otherUser, w: w}
				token := a.login(users[role].Email).AccessToken
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only reached when an answer never comes
				ws, res, err := websocket.Dial(ctx, strings.Replace(a.URL, "http", "ws", 1)+"/api/v1/ws?access_token="+token, nil)
				if err != nil {
					cancel()
					t.Fatal(err)
				}
				conn := res.Header.Get("X-Request-ID")
				for _, typ := range []string{"chat.send", "chat.stop"} {
					for _, o := range ownOther {
						reqID := fmt.Sprintf("%s-%s", strings.TrimPrefix(typ, "chat."), o)
						msg, _ := json.Marshal(map[string]string{"type": typ, "request_id": reqID, "conversation_id": env.conversation(o), "content": "When are you open?"})
						if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
							t.Fatal(err)
						}
						last := readUntilEnd(ctx, t, ws, reqID, typ == "chat.stop" && o == own)
						where := fmt.Sprintf("%s as %s (%s)", typ, role, o)
						evs := eventsByRequest(t, a, conn+"."+reqID, o == own && typ == "chat.send")
						switch {
						case o == other:
							if last.Type != "chat.error" || last.Code != domain.ENOTFOUND {
								t.Errorf("%s: last event %+v, want chat.error not_found", where, last)
							}
							if len(evs) != 1 || evs[0].Outcome != domain.OutcomeDenied || evs[0].Detail != access.DetailHidden || evs[0].ActorID != users[role].ID {
								t.Errorf("%s: events %s, want one hidden refusal", where, describeEvents(evs))
							}
						case typ == "chat.send":
							if last.Type != "chat.done" {
								t.Errorf("%s: last event %+v, want chat.done", where, last)
							}
							if len(evs) != 1 || evs[0].Outcome != domain.OutcomeSuccess || evs[0].ResourceType != "ai_interaction" {
								t.Errorf("%s: events %s, want the answer's", where, describeEvents(evs))
							}
						default:
							if len(evs) != 0 {
								t.Errorf("%s: events %s, want none", where, describeEvents(evs))
							}
						}
					}
				}
				ws.Close(websocket.StatusNormalClosure, "")
				cancel()
			}
		})
	}
}

type wsEvent struct {
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
	Code      string `json:"code"`
}

// readUntilEnd reads the chat events of one request until it ends (done or
// error); a stop of one's own conversation sends nothing, so silent returns
// at once.
func readUntilEnd(ctx context.Context, t *testing.T, ws *websocket.Conn, reqID string, silent bool) wsEvent {
	t.Helper()
	if silent {
		return wsEvent{}
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("request %s: %v", reqID, err)
		}
		var ev wsEvent
		json.Unmarshal(b, &ev)
		if ev.RequestID != reqID {
			continue
		}
		if ev.Type == "chat.done" || ev.Type == "chat.error" {
			return ev
		}
	}
}

// eventsByRequest returns the audit events of a request id; when one is
// expected it waits for it (an answer is recorded once it is written).
func eventsByRequest(t *testing.T, a *api, id string, wait bool) []*domain.AuditEvent {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // only reached when the event is missing
	for {
		evs, err := a.DB.ListAudit(context.Background(), domain.AuditFilter{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		var out []*domain.AuditEvent
		for _, ev := range evs {
			if ev.RequestID == id {
				out = append(out, ev)
			}
		}
		if len(out) > 0 || !wait || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond) // polling the log; the deadline bounds the wait
	}
}
