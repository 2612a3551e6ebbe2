package httpapi

import (
	"bytes"
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
