package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/server"
)

func newAccount(email string, role domain.Role) auth.NewAccount {
	return auth.NewAccount{Email: email, Password: "correct horse battery", Name: "Test " + string(role), Role: role}
}

func httpLogin(t *testing.T, base, email string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": "correct horse battery"})
	res, err := http.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&pair)
	if res.StatusCode != 200 || pair.AccessToken == "" {
		t.Fatalf("login %s: %d", email, res.StatusCode)
	}
	return pair.AccessToken
}

func auditVerify(sys *server.System) (bool, error) {
	rep, err := audit.Verify(context.Background(), sys.Store)
	return rep.OK, err
}
