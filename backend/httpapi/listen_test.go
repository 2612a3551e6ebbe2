package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/healthhub/healthhub/backend/access"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/llm/llmtest"
)

// Following someone else's answer while it is written (chat.listen with
// its message id) is refused as not found, and recorded.
func TestListeningToSomeoneElsesAnswerIsRefused(t *testing.T) {
	c := newChatAPI(t, storeOf(t))
	// An answer that takes a while, so it is still being written below;
	// the test stops it at the end.
	c.openai.Behave("openai-model", llmtest.Behaviour{Answer: []string{"one ", "two ", "three "}, Delay: 20 * time.Second})
	c.provider(domain.ProviderOpenAI, false)
	conv := c.conversation(c.patient, nil)
	defer c.do("POST", "/api/v1/conversations/"+conv+"/stop", c.patient, nil)
	// While the answer is being written (after its first piece), another
	// user asks to follow it.
	checked := false
	c.send(c.patient, conv, "Count to three", func(e sseEvent) bool {
		if e.Event != "delta" {
			return true
		}
		msgs := c.messages(c.patient, conv)
		if len(msgs) != 2 || msgs[1].Status == domain.MessageComplete {
			t.Fatalf("the answer is not being written: %+v", msgs)
		}
		listenAsOther(t, c, conv, msgs[1].ID)
		checked = true
		return false
	})
	if !checked {
		t.Fatal("no piece of the answer came")
	}
}

func listenAsOther(t *testing.T, c *chatAPI, conv, messageID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only reached on failure
	defer cancel()
	ws, up, err := websocket.Dial(ctx, strings.Replace(c.URL, "http", "ws", 1)+"/api/v1/ws?access_token="+c.staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	msg, _ := json.Marshal(map[string]string{"type": "chat.listen", "request_id": "listen-1", "message_id": messageID})
	if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
	last := readUntilEnd(ctx, t, ws, "listen-1", false)
	if last.Type != "chat.error" || last.Code != domain.ENOTFOUND {
		t.Fatalf("listening to another's answer: %+v, want chat.error not_found", last)
	}
	evs := eventsByRequest(t, c.api, up.Header.Get("X-Request-ID")+".listen-1", true)
	if len(evs) != 1 || evs[0].Outcome != domain.OutcomeDenied || evs[0].Detail != access.DetailHidden || evs[0].ResourceID != conv {
		t.Errorf("events %s, want one hidden refusal of the conversation", describeEvents(evs))
	}
}
