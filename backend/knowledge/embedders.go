package knowledge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/smithy-go"
	openai "github.com/sashabaranov/go-openai"
)

// embedTimeout bounds one call to a provider.
const embedTimeout = 30 * time.Second

// retry calls fn up to three times, backing off (0.5 s, then 1 s) after a
// rate limit or a server error; other errors are final.
func retry(ctx context.Context, retryable func(error) bool, fn func(ctx context.Context) error) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		cctx, cancel := context.WithTimeout(ctx, embedTimeout)
		err = fn(cctx)
		cancel()
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// OpenAIEmbedder embeds with the OpenAI embeddings API, or any server that
// speaks it (Ollama, llama.cpp server, vLLM) at BaseURL.
type OpenAIEmbedder struct {
	client *openai.Client
	model  string
}

// openAIBatch is how many texts go in one request.
const openAIBatch = 96

// NewOpenAIEmbedder makes an embedder; baseURL "" is OpenAI's own.
func NewOpenAIEmbedder(baseURL, apiKey, model string, hc *http.Client) *OpenAIEmbedder {
	cfg := openai.DefaultConfig(apiKey)
	if baseURL != "" {
		cfg.BaseURL = baseURL
	}
	if hc != nil {
		cfg.HTTPClient = hc
	}
	if model == "" {
		model = string(openai.SmallEmbedding3)
	}
	return &OpenAIEmbedder{client: openai.NewClientWithConfig(cfg), model: model}
}

func (e *OpenAIEmbedder) Model() string { return "openai:" + e.model }

func (e *OpenAIEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += openAIBatch {
		batch := texts[start:min(start+openAIBatch, len(texts))]
		var res openai.EmbeddingResponse
		err := retry(ctx, openAIRetryable, func(ctx context.Context) error {
			var err error
			res, err = e.client.CreateEmbeddings(ctx, openai.EmbeddingRequestStrings{Input: batch, Model: openai.EmbeddingModel(e.model)})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("openai embeddings: %w", err)
		}
		if len(res.Data) != len(batch) {
			return nil, fmt.Errorf("openai embeddings: %d vectors for %d texts", len(res.Data), len(batch))
		}
		vecs := make([][]float32, len(batch))
		for _, d := range res.Data {
			if d.Index < 0 || d.Index >= len(batch) || vecs[d.Index] != nil || len(d.Embedding) == 0 {
				return nil, fmt.Errorf("openai embeddings: malformed answer (index %d)", d.Index)
			}
			vecs[d.Index] = d.Embedding
		}
		out = append(out, vecs...)
	}
	return out, nil
}

func openAIRetryable(err error) bool {
	var api *openai.APIError
	var req *openai.RequestError
	switch {
	case errors.As(err, &api):
		return api.HTTPStatusCode == 429 || api.HTTPStatusCode >= 500
	case errors.As(err, &req):
		return req.HTTPStatusCode == 429 || req.HTTPStatusCode >= 500
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// BedrockInvoker is the part of the Bedrock runtime client used here.
type BedrockInvoker interface {
	InvokeModel(ctx context.Context, in *bedrockruntime.InvokeModelInput, opts ...func(*bedrockruntime.Options)) (*bedrockruntime.InvokeModelOutput, error)
}

// BedrockEmbedder embeds with Amazon Titan text embeddings on Bedrock, one
// text per call (as the model takes them), a few calls at a time.
type BedrockEmbedder struct {
	client BedrockInvoker
	model  string
}

// NewBedrockEmbedder makes an embedder; model "" is Titan Text Embeddings V2.
func NewBedrockEmbedder(client BedrockInvoker, model string) *BedrockEmbedder {
	if model == "" {
		model = "amazon.titan-embed-text-v2:0"
	}
	return &BedrockEmbedder{client: client, model: model}
}

func (e *BedrockEmbedder) Model() string { return "bedrock:" + e.model }

// bedrockParallel is how many calls run at once.
const bedrockParallel = 4

func (e *BedrockEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	errs := make([]error, len(texts))
	sem := make(chan struct{}, bedrockParallel)
	var wg sync.WaitGroup
	for i, text := range texts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = e.one(ctx, text)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("bedrock embeddings: %w", err)
	}
	return out, nil
}

func (e *BedrockEmbedder) one(ctx context.Context, text string) ([]float32, error) {
	body, _ := json.Marshal(map[string]any{"inputText": text})
	var res *bedrockruntime.InvokeModelOutput
	err := retry(ctx, bedrockRetryable, func(ctx context.Context) error {
		var err error
		res, err = e.client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
			ModelId: aws.String(e.model), Body: body, ContentType: aws.String("application/json"), Accept: aws.String("application/json"),
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	var answer struct {
		Embedding []float32 `json:"embedding"`
	}
	if err := json.Unmarshal(res.Body, &answer); err != nil || len(answer.Embedding) == 0 {
		return nil, fmt.Errorf("malformed answer from %s", e.model)
	}
	return answer.Embedding, nil
}

func bedrockRetryable(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "ServiceUnavailableException", "InternalServerException", "ModelNotReadyException", "ModelTimeoutException":
			return true
		}
		return false
	}
	return errors.Is(err, context.DeadlineExceeded)
}
