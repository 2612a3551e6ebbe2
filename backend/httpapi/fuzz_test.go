package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
)

// FuzzDecodeJSON: any body decodes or yields an invalid/too_large error with
// a message; nothing panics.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"email":"a@b.c","password":"x"}`, `{"email":5}`, `{"x":1}`, `[]`, `{`, ``, `{"a":"\u0000"} {}`,
		`{"email":"` + strings.Repeat("a", 300) + `"}`, `{"role":"admin","name":null}`, "\xff\xfe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&auth.Credentials{}, &auth.NewAccount{}, &auth.UserPatch{}, &auth.SettingsPatch{}, &setupRequest{}} {
			err := decodeJSON(bytes.NewReader(body), v)
			if err == nil {
				continue
			}
			code := domain.ErrorCode(err)
			if code != domain.EINVALID && code != domain.ETOOLARGE {
				t.Fatalf("decode error code %q (%v) for %q", code, err, body)
			}
			if domain.ErrorMessage(err) == "" {
				t.Fatalf("empty message for %q", body)
			}
		}
	})
}

// FuzzChatCompletionRequest: any body of POST /v1/chat/completions either
// parses into messages whose text is what the JSON held, or fails with an
// error; content given as a list of text parts joins them.
func FuzzChatCompletionRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`,
		`{"messages":[{"role":"system","content":null}],"stream_options":{"include_usage":true},"temperature":0.2}`,
		`{"messages":"x"}`, `{"messages":[{"content":5}]}`, `[`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in chatCompletionRequest
		if err := in.UnmarshalJSON(body); err != nil {
			return
		}
		var raw struct {
			Messages []struct {
				Content any `json:"content"`
			} `json:"messages"`
		}
		if json.Unmarshal(body, &raw) != nil || len(raw.Messages) != len(in.Messages) {
			t.Fatalf("parsed %d messages from %q", len(in.Messages), body)
		}
		for i, m := range raw.Messages {
			if s, ok := m.Content.(string); ok && s != in.Messages[i].Content {
				t.Fatalf("message %d: %q, want %q", i, in.Messages[i].Content, s)
			}
		}
	})
}
