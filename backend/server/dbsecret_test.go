package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// fakeSecretsManager speaks the Secrets Manager wire protocol (AWS JSON 1.1)
// for GetSecretValue of one secret, whose password the test rotates.
type fakeSecretsManager struct {
	t        *testing.T
	arn      string
	mu       sync.Mutex
	password string
	calls    atomic.Int32
}

func (f *fakeSecretsManager) set(password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.password = password
}

func (f *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" ||
		r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		fail(400, "UnknownOperationException", "want GetSecretValue over AWS JSON 1.1")
		return
	}
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") ||
		!strings.Contains(auth, "/eu-central-1/secretsmanager/aws4_request") {
		fail(400, "IncompleteSignatureException", "unsigned or wrongly scoped: "+auth)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in struct{ SecretId string }
	if err := json.Unmarshal(body, &in); err != nil || in.SecretId != f.arn {
		fail(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	f.calls.Add(1)
	f.mu.Lock()
	secret, _ := json.Marshal(map[string]string{"username": "app", "password": f.password})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"ARN": f.arn, "Name": "healthhub-db", "SecretString": string(secret),
		"VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7e9})
}

// TestRotatedDatabasePasswordFromSecretsManager: the server reads its
// PostgreSQL password from Secrets Manager for every new connection, so
// when the password is rotated (and the old connections end), it goes on
// with the new one without a restart: the pool, the live-event listener and
// the leader all reconnect.
func TestRotatedDatabasePasswordFromSecretsManager(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL instance of its own")
	}
	pg := startPrivatePostgres(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{`CREATE ROLE app LOGIN PASSWORD 'first-password'`, `CREATE DATABASE app OWNER app`} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// The role must present its password (the rest of the instance stays
	// on trust for the test's own connections).
	hba := filepath.Join(pg.dataDir, "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hba, append([]byte("host all app 127.0.0.1/32 scram-sha-256\n"), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := pg.run("pg_ctl", "reload", "-D", pg.dataDir); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	appURL := fmt.Sprintf("postgres://app@127.0.0.1:%d/app?sslmode=disable", pg.port)
	eventually(t, "the password to be required", func() bool {
		c, err := pgx.Connect(ctx, appURL)
		if err == nil {
			c.Close(ctx)
		}
		return err != nil && strings.Contains(err.Error(), "password")
	})

	sm := &fakeSecretsManager{t: t, arn: "arn:aws:secretsmanager:eu-central-1:111122223333:secret:healthhub-db-AbCdEf", password: "first-password"}
	srv := httptest.NewServer(sm)
	t.Cleanup(srv.Close)
	dataDir := t.TempDir()
	_, base := startChild(t, map[string]string{
		"HEALTHHUB_DATA_DIR": dataDir, "HEALTHHUB_DATABASE_URL": appURL, "HEALTHHUB_DATABASE_PASSWORD_SECRET": sm.arn,
		"HEALTHHUB_ADDR": "127.0.0.1:0", "HEALTHHUB_ARGON2_MEMORY_KIB": "64", "HEALTHHUB_LOG_LEVEL": "warn",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL, "AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_EC2_METADATA_DISABLED": "true",
	})
	ready := func() bool {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}
	// Each kind of connection the server keeps, made as the role app.
	connected := func() map[string]bool {
		rows, err := admin.Query(ctx, `SELECT DISTINCT application_name FROM pg_stat_activity WHERE usename = 'app'`)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, n := range names {
			seen[n] = true
		}
		return seen
	}
	eventually(t, "the server ready with the secret's password", ready)
	eventually(t, "the listener and the leader connected", func() bool {
		s := connected()
		return s["healthhub-live"] && s["healthhub-leader"]
	})
	before := sm.calls.Load()

	// Rotation, as Secrets Manager does it: the role's password changes,
	// the secret follows, and connections made with the old one end.
	if _, err := admin.Exec(ctx, `ALTER ROLE app PASSWORD 'second-password'`); err != nil {
		t.Fatal(err)
	}
	sm.set("second-password")
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the server ready again on the new password", ready)
	eventually(t, "the listener and the leader back on the new password", func() bool {
		s := connected()
		return s["healthhub-live"] && s["healthhub-leader"]
	})
	if sm.calls.Load() <= before {
		t.Fatal("no connection read the secret again after the rotation")
	}
	// The old password no longer opens the database: the connections above
	// used the new one.
	if c, err := pgx.Connect(ctx, strings.Replace(appURL, "app@", "app:first-password@", 1)); err == nil {
		c.Close(ctx)
		t.Fatal("the old password still works; the test proves nothing")
	}
}
