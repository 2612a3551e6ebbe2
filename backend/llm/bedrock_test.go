package llm_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/healthhub/healthhub/backend/llm"
	"github.com/healthhub/healthhub/backend/llm/llmtest"
)

// lateReader stands for net/http's transport when the response headers
// arrive before it has finished with the request body: Do returns at once,
// and the body it was given is read only after the SDK has its response.
type lateReader struct {
	server string
	bodies []io.ReadCloser
}

func (c *lateReader) Do(req *http.Request) (*http.Response, error) {
	c.bodies = append(c.bodies, req.Body)
	fwd, err := http.NewRequestWithContext(req.Context(), req.Method, c.server+req.URL.Path, strings.NewReader("{}"))
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(fwd)
}

// TestBedrockRequestBodyOutlivesTheResponse: the body the transport is
// handed stays whole however late the transport reads it. The SDK closes
// the body it built once Do returns; when the transport was still reading
// it, it closed the connection under the streaming answer.
func TestBedrockRequestBodyOutlivesTheResponse(t *testing.T) {
	srv := llmtest.Bedrock(llmtest.Behaviour{Answer: answer, TokensIn: 42})
	t.Cleanup(srv.Close)
	transport := &lateReader{server: srv.URL}
	client := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIATEST", "secret", ""), HTTPClient: transport})
	got, _, err := stream(llm.NewBedrock(client), context.Background(), "model-a")
	if err != nil || strings.Join(got, "") != strings.Join(answer, "") {
		t.Fatalf("answer %q, %v", got, err)
	}
	if len(transport.bodies) != 1 {
		t.Fatalf("%d requests", len(transport.bodies))
	}
	body, err := io.ReadAll(transport.bodies[0])
	if err != nil || !strings.Contains(string(body), "When do you open?") {
		t.Fatalf("request body read after the response: %q, %v", body, err)
	}
}
