package llm

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	openai "github.com/sashabaranov/go-openai"
)

// OpenAI streams from the OpenAI chat completions API or any server that
// speaks it (Ollama, llama.cpp server, vLLM, …) at baseURL.
type OpenAI struct {
	client *openai.Client
}

// NewOpenAI makes the provider. baseURL ends in /v1 for most servers; an
// empty apiKey suits local servers that need none.
func NewOpenAI(baseURL, apiKey string, hc *http.Client) *OpenAI {
	cfg := openai.DefaultConfig(apiKey)
	if baseURL != "" {
		cfg.BaseURL = strings.TrimRight(baseURL, "/")
	}
	if hc != nil {
		cfg.HTTPClient = hc
	}
	return &OpenAI{client: openai.NewClientWithConfig(cfg)}
}

func (o *OpenAI) Stream(ctx context.Context, req Request, emit func(string) error) (Result, error) {
	msgs := make([]openai.ChatCompletionMessage, 0, len(req.Messages)+1)
	if req.System != "" {
		msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleSystem, Content: req.System})
	}
	for _, m := range req.Messages {
		msgs = append(msgs, openai.ChatCompletionMessage{Role: m.Role, Content: m.Content})
	}
	stream, err := o.client.CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{
		Model:    req.Model,
		Messages: msgs,
		//lint:ignore SA1019 local OpenAI-compatible servers (Ollama, llama.cpp, vLLM) read max_tokens, not max_completion_tokens
		MaxTokens:     req.MaxTokens,
		Stream:        true,
		StreamOptions: &openai.StreamOptions{IncludeUsage: true},
	})
	if err != nil {
		return Result{}, openAIError(err)
	}
	defer stream.Close()
	var res Result
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if res.FinishReason == "" {
				// The stream ended without saying why: cut short.
				return res, &Error{Retryable: true, Message: "The language model's answer was cut off", Err: io.ErrUnexpectedEOF}
			}
			return res, nil
		}
		if err != nil {
			return res, openAIError(err)
		}
		if chunk.Usage != nil {
			res.TokensIn, res.TokensOut = chunk.Usage.PromptTokens, chunk.Usage.CompletionTokens
		}
		for _, c := range chunk.Choices {
			if c.Delta.Content != "" {
				if err := emit(c.Delta.Content); err != nil {
					return res, err
				}
			}
			if c.FinishReason != "" {
				res.FinishReason = string(c.FinishReason)
			}
		}
	}
}

func openAIError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	var api *openai.APIError
	if errors.As(err, &api) && api.HTTPStatusCode != 0 {
		return statusError(api.HTTPStatusCode, err)
	}
	var re *openai.RequestError
	if errors.As(err, &re) && re.HTTPStatusCode != 0 {
		return statusError(re.HTTPStatusCode, err)
	}
	if strings.Contains(err.Error(), "unmarshal") || strings.Contains(err.Error(), "invalid character") {
		return &Error{Message: "The language model sent an answer that could not be read", Err: err}
	}
	return transportError(err)
}
