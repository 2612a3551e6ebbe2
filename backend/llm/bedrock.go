package llm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"
)

// ConverseStreamer is the part of the Bedrock runtime client the provider
// uses; *bedrockruntime.Client is one.
type ConverseStreamer interface {
	ConverseStream(ctx context.Context, in *bedrockruntime.ConverseStreamInput, opts ...func(*bedrockruntime.Options)) (*bedrockruntime.ConverseStreamOutput, error)
}

// Bedrock streams from a model on AWS Bedrock with ConverseStream (Claude
// and the other models the Converse API serves).
type Bedrock struct {
	client ConverseStreamer
}

// NewBedrock makes the provider. The client's own retries should be off:
// Resilient retries, and only before the first piece of text.
func NewBedrock(client ConverseStreamer) *Bedrock { return &Bedrock{client: client} }

func (b *Bedrock) Stream(ctx context.Context, req Request, emit func(string) error) (Result, error) {
	in := &bedrockruntime.ConverseStreamInput{ModelId: aws.String(req.Model)}
	if req.System != "" {
		in.System = []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: req.System}}
	}
	for _, m := range req.Messages {
		role := types.ConversationRoleUser
		if m.Role == "assistant" {
			role = types.ConversationRoleAssistant
		}
		in.Messages = append(in.Messages, types.Message{Role: role, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: m.Content}}})
	}
	if req.MaxTokens > 0 {
		in.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(int32(req.MaxTokens))}
	}
	out, err := b.client.ConverseStream(ctx, in, func(o *bedrockruntime.Options) {
		// A codec of its own for each stream. The SDK keeps the
		// event-stream decoder, with its payload buffer, in the client's
		// protocol, which all of the client's streams share, so concurrent
		// answers raced on it (seen under the race detector). A new protocol
		// for the call costs no I/O; the streams still share the client's
		// HTTP connections.
		o.Protocol = restjson1.New(schemas.AmazonBedrockFrontendService)
		o.HTTPClient = ownBody{o.HTTPClient}
	})
	if err != nil {
		return Result{}, bedrockError(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	var res Result
	for ev := range stream.Events() {
		switch e := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			if d, ok := e.Value.Delta.(*types.ContentBlockDeltaMemberText); ok && d.Value != "" {
				if err := emit(d.Value); err != nil {
					return res, err
				}
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			res.FinishReason = string(e.Value.StopReason)
		case *types.ConverseStreamOutputMemberMetadata:
			if u := e.Value.Usage; u != nil {
				res.TokensIn, res.TokensOut = int(aws.ToInt32(u.InputTokens)), int(aws.ToInt32(u.OutputTokens))
			}
		}
	}
	if err := stream.Err(); err != nil {
		return res, bedrockError(err)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.FinishReason == "" {
		return res, &Error{Retryable: true, Message: "The language model's answer was cut off"}
	}
	return res, nil
}

// ownBody sends a copy of the request body, which the transport alone
// closes. The SDK closes the body it built as soon as the response headers
// are in, while net/http may still be reading it (it reads once more after
// the last byte to see that nothing follows); that read then fails and the
// transport closes the connection, under the answer being streamed on it:
// answers failed mid-way with "decode event: … use of closed network
// connection" (aws/aws-sdk-go-v2#2737).
type ownBody struct{ next bedrockruntime.HTTPClient }

func (c ownBody) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return c.next.Do(req)
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	r.ContentLength = int64(len(b))
	return c.next.Do(r)
}

func bedrockError(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "ServiceQuotaExceededException":
			return &Error{Status: 429, Retryable: true, Message: "The language model service is busy (rate limited)", Err: err}
		case "ServiceUnavailableException", "InternalServerException", "ModelNotReadyException", "ModelTimeoutException", "ModelStreamErrorException":
			return &Error{Status: 503, Retryable: true, Message: "The language model service failed", Err: err}
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		return statusError(re.HTTPStatusCode(), err)
	}
	if api != nil {
		return &Error{Message: "The language model service refused the request", Err: err}
	}
	return transportError(err)
}
