package knowledge_test

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/store/storetest"
)

// synonyms map words to one concept, so the test servers' vectors find a
// passage by meaning where no word of the query occurs in it.
var synonyms = map[string]string{"physician": "doctor", "gp": "doctor", "medic": "doctor", "jab": "vaccine", "shot": "vaccine"}

// conceptVector is a bag of concepts hashed into 64 dimensions: what the
// test servers answer for a text.
func conceptVector(text string) []float32 {
	v := make([]float32, 64)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if s, ok := synonyms[w]; ok {
			w = s
		}
		h := fnv.New32a()
		h.Write([]byte(w))
		v[h.Sum32()%64]++
	}
	return v
}

// openAIServer speaks the OpenAI embeddings API; its first answer is a 429.
func openAIServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	srv, calls, _ := recordingOpenAIServer(t)
	return srv, calls
}

// received is every text an embedding server was sent.
type received struct {
	mu    sync.Mutex
	texts []string
}

func (r *received) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.texts, "\n")
}

// recordingOpenAIServer is openAIServer that also keeps what it was sent.
func recordingOpenAIServer(t *testing.T) (*httptest.Server, *atomic.Int64, *received) {
	var calls atomic.Int64
	var got received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/embeddings" || r.Header.Get("Authorization") != "Bearer sk-test" {
			http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`, 400)
			return
		}
		if calls.Add(1) == 1 {
			w.WriteHeader(429)
			io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
			return
		}
		var req struct {
			Input []string `json:"input"`
			Model string   `json:"model"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "text-embedding-3-small" {
			http.Error(w, `{"error":{"message":"bad body"}}`, 400)
			return
		}
		got.mu.Lock()
		got.texts = append(got.texts, req.Input...)
		got.mu.Unlock()
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		data := make([]item, len(req.Input))
		for i, in := range req.Input {
			// Answer out of order: the client must place vectors by index.
			j := len(req.Input) - 1 - i
			data[j] = item{"embedding", i, conceptVector(in)}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model, "usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1}})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls, &got
}

// bedrockServer speaks Bedrock's InvokeModel for Titan text embeddings.
func bedrockServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/model/amazon.titan-embed-text-v2:0/invoke" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
			w.WriteHeader(400)
			io.WriteString(w, `{"message":"bad request"}`)
			return
		}
		var req struct {
			InputText string `json:"inputText"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.InputText == "" {
			w.WriteHeader(400)
			io.WriteString(w, `{"message":"inputText is required"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"embedding": conceptVector(req.InputText), "inputTextTokenCount": len(strings.Fields(req.InputText))})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func bedrockClient(url string) *bedrockruntime.Client {
	return bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIATEST", "secret", "")})
}

func TestEmbedders(t *testing.T) {
	oa, calls := openAIServer(t)
	br := bedrockServer(t)
	for _, tc := range []struct {
		name string
		e    knowledge.Embedder
	}{
		{"openai", knowledge.NewOpenAIEmbedder(oa.URL+"/v1", "sk-test", "", nil)},
		{"bedrock", knowledge.NewBedrockEmbedder(bedrockClient(br.URL), "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			texts := make([]string, 150) // more than one OpenAI batch
			for i := range texts {
				texts[i] = strings.Repeat("doctor ", i%3+1) + "vaccine"
			}
			vecs, err := tc.e.Embed(context.Background(), texts)
			if err != nil {
				t.Fatal(err)
			}
			if len(vecs) != len(texts) {
				t.Fatalf("%d vectors for %d texts", len(vecs), len(texts))
			}
			for i := range texts {
				want := conceptVector(texts[i])
				for j := range want {
					if vecs[i][j] != want[j] {
						t.Fatalf("vector %d is not the one for its text", i)
					}
				}
			}
		})
	}
	if calls.Load() != 3 { // a 429, then two batches
		t.Fatalf("openai calls = %d, want 3 (one retried after 429)", calls.Load())
	}
	// A provider that refuses: a clear error, no retry of a 400.
	bad := knowledge.NewOpenAIEmbedder(oa.URL+"/v1", "wrong key", "", nil)
	before := calls.Load()
	if _, err := bad.Embed(context.Background(), []string{"x"}); err == nil || calls.Load() != before {
		t.Fatalf("bad key: %v (calls %d → %d)", err, before, calls.Load())
	}
}

// TestHybridSearch: with embeddings, a passage is found by meaning where no
// word matches, and the full-text ranking still counts.
func TestHybridSearch(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			oa, _ := openAIServer(t)
			dir := t.TempDir()
			write(t, filepath.Join(dir, "team.md"), "# Our team\n\nEvery doctor here also works shifts at the hospital.")
			write(t, filepath.Join(dir, "flu.md"), "# Flu season\n\nThe flu vaccine is offered each autumn.")
			f := newService(t, e.Open(t), knowledge.Options{Embedder: knowledge.NewOpenAIEmbedder(oa.URL+"/v1", "sk-test", "", nil)})
			f.addFolder(dir, domain.VisibilityStaff)
			f.waitFound("autumn", "flu.md")
			res, err := f.svc.Search(as(staff), "physician", 5)
			if err != nil || len(res) == 0 || res[0].Source != "team.md" {
				t.Fatalf("search by meaning = %+v, %v", res, err)
			}
			res, err = f.svc.Search(as(staff), "when can I get a jab", 5)
			if err != nil || len(res) == 0 || res[0].Source != "flu.md" {
				t.Fatalf("search by meaning = %+v, %v", res, err)
			}
			// Patients see nothing of a staff source, by meaning either.
			if res, err := f.svc.Search(as(patient), "physician", 5); err != nil || len(res) != 0 {
				t.Fatalf("patient search = %+v, %v", res, err)
			}
		})
	}
}

// Documents and questions reach an embedding provider with the patients'
// names and other identifiers replaced: a staff document can name patients.
func TestEmbeddingsAreSentRedacted(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			oa, _, got := recordingOpenAIServer(t)
			db := e.Open(t)
			now := time.Now()
			if err := db.CreatePatient(context.Background(), &domain.Patient{ID: "0190aaaa-0000-7000-8000-00000000a001", Name: "Wilhelmina Okonkwo-Baptiste",
				DateOfBirth: "1961-02-03", CreatedAt: now, UpdatedAt: now}, nil, nil); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			write(t, filepath.Join(dir, "callbacks.md"), "# Call-backs\n\nRing Wilhelmina Okonkwo-Baptiste on 030 5550 1234 about her thyroid results.")
			f := newService(t, db, knowledge.Options{Embedder: knowledge.NewOpenAIEmbedder(oa.URL+"/v1", "sk-test", "", nil)})
			f.addFolder(dir, domain.VisibilityStaff)
			f.waitFound("thyroid", "callbacks.md")
			if _, err := f.svc.Search(as(staff), "did anyone call Okonkwo-Baptiste back", 5); err != nil {
				t.Fatal(err)
			}
			sent := got.all()
			if !strings.Contains(sent, "thyroid") || !strings.Contains(sent, "call") {
				t.Fatalf("the document and the question were not embedded: %q", sent)
			}
			for _, secret := range []string{"Wilhelmina", "Okonkwo", "5550 1234"} {
				if strings.Contains(sent, secret) {
					t.Errorf("the embedding provider was sent %q: %q", secret, sent)
				}
			}
		})
	}
}
