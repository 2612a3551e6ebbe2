package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStarterKnowledgeBase: a new standalone server installs the starter
// documents into its data folder, indexes them, and a patient's search
// finds them over HTTP; a second start leaves the clinic's edits alone.
func TestStarterKnowledgeBase(t *testing.T) {
	vars := testEnv(t, "")
	base, srv := startServe(t, vars, "")
	body, _ := json.Marshal(map[string]string{"email": "pat@example.org", "password": "correct horse battery", "name": "Pat Example"})
	res, err := http.Post(base+"/api/v1/auth/register", "application/json", bytes.NewReader(body))
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("register: %v %v", res, err)
	}
	res.Body.Close()
	token := httpLogin(t, base, "pat@example.org")

	var results struct {
		Results []struct {
			Title, Source, Snippet string
		} `json:"results"`
	}
	deadline := time.Now().Add(90 * time.Second)
	for len(results.Results) == 0 && time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", base+"/api/v1/knowledge/search?q=How+do+I+order+a+repeat+prescription%3F&limit=3", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(res.Body).Decode(&results)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("search: %d", res.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(results.Results) == 0 || results.Results[0].Source != "repeat-prescriptions.md" || !strings.Contains(results.Results[0].Snippet, "[[") {
		t.Fatalf("search results = %+v", results)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(vars["HEALTHHUB_DATA_DIR"], "knowledge")
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err == nil {
		t.Fatal("the starter README was installed as a document")
	}
	// The clinic edits a document and deletes another; a restart keeps both changes.
	os.WriteFile(filepath.Join(dir, "opening-hours.md"), []byte("# Hours\n\nOur own hours."), 0o644)
	os.Remove(filepath.Join(dir, "telehealth.md"))
	if _, err := run(t, vars, "", "migrate"); err != nil {
		t.Fatal(err)
	}
	// Once the second start answers, it is past installing the starter set.
	base2, again := startServe(t, vars, "")
	if res, err := http.Get(base2 + "/readyz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("second start: %v %v", res, err)
	}
	if err := again.stop(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "opening-hours.md")); string(b) != "# Hours\n\nOur own hours." {
		t.Fatalf("a restart overwrote the clinic's edit: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "telehealth.md")); err == nil {
		t.Fatal("a restart brought back a deleted starter document")
	}
}
