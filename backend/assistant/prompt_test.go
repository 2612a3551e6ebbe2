package assistant_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/llm/llmtest"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/server"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

const clinicPassword = "correct horse battery"

// clinic is the whole server, wired as healthhubd wires it, answering with
// a fake external model that speaks the OpenAI chat-completions protocol.
type clinic struct {
	t     *testing.T
	sys   *server.System
	url   string
	model *llmtest.Server
}

func startClinic(t *testing.T, eng storetest.Engine) *clinic {
	t.Helper()
	model := llmtest.OpenAI(llmtest.Behaviour{Answer: []string{"No answer was set for this test."}})
	t.Cleanup(model.Close)
	dbURL, dataDir := eng.URL(t)
	cfg := server.Config{
		Addr: "127.0.0.1:0", DataDir: dataDir, DatabaseURL: dbURL, KeyringFile: filepath.Join(dataDir, "keyring.json"),
		Argon2Memory: 64, LoginPerIP: -1, LoginPerAccount: -1, IdleTimeout: 15 * time.Minute,
		LogLevel: "error", LogFormat: "text", KnowledgeStarter: "false",
		LLMProvider: domain.ProviderOpenAI, OpenAIBaseURL: model.URL + "/v1", OpenAIAPIKey: "sk-test", OpenAIModel: "external-model", LLMExternal: true,
	}
	ctx := context.Background()
	sys, err := server.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sys.Close()
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- sys.Serve(serveCtx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		if err := sys.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	c := &clinic{t: t, sys: sys, url: "http://" + ln.Addr().String(), model: model}
	// The listener holds this request until the server has started.
	c.call("GET", "/readyz", "", nil, http.StatusOK, nil)
	return c
}

var system = domain.WithPrincipal(context.Background(), domain.System)

// signIn creates an account of the role and returns its access token.
func (c *clinic) signIn(role domain.Role, email string) string {
	c.t.Helper()
	if _, err := c.sys.Auth.CreateUser(system, auth.NewAccount{Email: email, Password: clinicPassword, Name: "Test " + string(role), Role: role}); err != nil {
		c.t.Fatal(err)
	}
	var pair auth.TokenPair
	c.call("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": clinicPassword}, http.StatusOK, &pair)
	return pair.AccessToken
}

func (c *clinic) patient(name, dateOfBirth string) *domain.Patient {
	c.t.Helper()
	p, err := c.sys.Portal.CreatePatient(system, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &dateOfBirth}}, false)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// documents indexes files as a knowledge source of the visibility.
func (c *clinic) documents(visibility string, files map[string]string) {
	c.t.Helper()
	dir := c.t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
	src, err := c.sys.Knowledge.EnsureFolder(system, dir, visibility)
	if err != nil {
		c.t.Fatal(err)
	}
	if p, err := c.sys.Knowledge.IngestFolder(system, src, nil); err != nil || p.Failed > 0 {
		c.t.Fatalf("ingest: %+v %v", p, err)
	}
}

// request sends a request, with in as its JSON body unless nil, the
// headers given and the access token.
func (c *clinic) request(method, path, token string, in any, header http.Header) *http.Response {
	c.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

// call sends a request and decodes the answer, of the status given, into out.
func (c *clinic) call(method, path, token string, in any, status int, out any) {
	c.t.Helper()
	res := c.request(method, path, token, in, nil)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		c.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// ask sends a message in a new conversation about the patient, as
// server-sent events with the request headers given, and returns the text
// of the answer shown.
func (c *clinic) ask(token, patientID, question string, header http.Header) string {
	c.t.Helper()
	var conv struct{ ID string }
	c.call("POST", "/api/v1/conversations", token, map[string]string{"patient_id": patientID}, http.StatusCreated, &conv)
	header = header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Set("Accept", "text/event-stream")
	res := c.request("POST", "/api/v1/conversations/"+conv.ID+"/messages", token, map[string]string{"content": question}, header)
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		c.t.Fatalf("send: %d %s", res.StatusCode, b)
	}
	var answer strings.Builder
	event := ""
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		switch data, isData := strings.CutPrefix(line, "data: "); {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case isData && event == "delta":
			var d struct{ Text string }
			if err := json.Unmarshal([]byte(data), &d); err != nil {
				c.t.Fatalf("delta %q: %v", data, err)
			}
			answer.WriteString(d.Text)
		case isData && event == "error":
			c.t.Fatalf("the answer failed: %s", data)
		}
	}
	if err := sc.Err(); err != nil {
		c.t.Fatal(err)
	}
	return answer.String()
}

// TestPassagesAreRedactedForAnExternalModel: staff documents that name a
// patient (in the text, or in the file name that is the title) and give a
// phone number and a device's serial number reach the external model with
// placeholders only, the same placeholders as the question's, and the
// answer shown has the identifiers back.
func TestPassagesAreRedactedForAnExternalModel(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			c := startClinic(t, eng)
			pat := c.patient("Wei Zhang", "1985-03-14")
			c.documents(domain.VisibilityStaff, map[string]string{"rota.md": "# Callback rota\n\n## Tuesday callbacks\n\n" +
				"Reception rings Wei Zhang on 555-214-8830 about the repeat prescription review; Mr Okonjo is called on Thursday. " +
				"Device serial number SN-4471-XK9 goes back to the supplier.\n",
				// No heading: the file's name is the title.
				"wei-zhang-callbacks.md": "Tuesday callbacks on the rota: ring back after 10:00, the review is on the repeat prescription.\n"})
			staff := c.signIn(domain.RoleStaff, "front.desk@example.org")
			c.model.Behave("external-model", llmtest.Behaviour{Answer: []string{"Reception rings [PATI", "ENT_1] on [PHO", "NE_1] on Tuesday [1]."}})

			got := c.ask(staff, pat.ID, "Which Tuesday callbacks are on the rota for Wei Zhang?", nil)

			reqs := c.model.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests reached the model", len(reqs))
			}
			sent := reqs[0].Body
			if !strings.Contains(sent, "Callback rota") || !strings.Contains(sent, "after 10:00") {
				t.Fatalf("the staff documents did not reach the prompt:\n%s", sent)
			}
			for _, identifier := range []string{"Wei", "Zhang", "555-214-8830", "214-8830", "Okonjo", "4471-XK9"} {
				if regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(identifier) + `\b`).MatchString(sent) {
					t.Errorf("%q reached the external model:\n%s", identifier, sent)
				}
			}
			// The passage and the question name the patient with one placeholder.
			if !strings.Contains(sent, "Reception rings [PATIENT_1] on [PHONE_1] about") || !strings.Contains(sent, "[PATIENT_1]-callbacks") ||
				!strings.Contains(sent, "on the rota for [PATIENT_1]?") {
				t.Fatalf("the passage and the question do not share placeholders:\n%s", sent)
			}
			if want := "Reception rings Wei Zhang on 555-214-8830 on Tuesday [1]."; got != want {
				t.Fatalf("answer shown %q, want %q", got, want)
			}
		})
	}
}

// TestInteractionAuditCarriesTheRequest: the audit event of an answer,
// written after the request that asked for it has returned, names that
// request: its id, the client's address and its user agent.
func TestInteractionAuditCarriesTheRequest(t *testing.T) {
	for _, eng := range storetest.Engines(t) {
		t.Run(eng.Name, func(t *testing.T) {
			c := startClinic(t, eng)
			pat := c.patient("Aisha Okafor", "1990-06-02")
			staff := c.signIn(domain.RoleStaff, "nurse@example.org")
			admin := c.signIn(domain.RoleAdmin, "admin@example.org")
			c.model.Behave("external-model", llmtest.Behaviour{Answer: []string{"The clinic opens at 8."}})

			header := http.Header{"X-Request-Id": {"ask-7f3k-29qa"}, "User-Agent": {"ClinicDesk/2.4 (front desk)"}}
			if got := c.ask(staff, pat.ID, "When does the clinic open?", header); got != "The clinic opens at 8." {
				t.Fatalf("answer shown %q", got)
			}
			var list struct{ Events []domain.AuditEvent }
			c.call("GET", "/api/v1/audit/events?resource_type=ai_interaction&patient_id="+pat.ID, admin, nil, http.StatusOK, &list)
			if len(list.Events) != 1 {
				t.Fatalf("%d ai_interaction events, want 1: %+v", len(list.Events), list.Events)
			}
			ev := list.Events[0]
			if ev.RequestID != "ask-7f3k-29qa" || ev.SourceIP != "127.0.0.1" || ev.UserAgent != "ClinicDesk/2.4 (front desk)" {
				t.Fatalf("the event names request %q from %q with %q, want ask-7f3k-29qa from 127.0.0.1 with ClinicDesk/2.4 (front desk)", ev.RequestID, ev.SourceIP, ev.UserAgent)
			}
		})
	}
}
