package llm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/healthhub/healthhub/backend/llm"
	"github.com/healthhub/healthhub/backend/llm/llmtest"
)

var answer = []string{"Our ", "clinic ", "opens ", "at ", "eight."}

type upstream struct {
	name     string
	server   *llmtest.Server
	provider llm.Provider
}

// upstreams starts both fake services with the default behaviour def and
// providers for them, wrapped to retry quickly.
func upstreams(t *testing.T, def llmtest.Behaviour, o llm.Options) []upstream {
	t.Helper()
	oa := llmtest.OpenAI(def)
	br := llmtest.Bedrock(def)
	t.Cleanup(oa.Close)
	t.Cleanup(br.Close)
	client := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(br.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIATEST", "secret", ""), RetryMaxAttempts: 1})
	if o.Backoff == 0 {
		o.Backoff = time.Millisecond
	}
	return []upstream{
		{"openai", oa, llm.Resilient(llm.NewOpenAI(oa.URL+"/v1", "sk-test", nil), "openai", o)},
		{"bedrock", br, llm.Resilient(llm.NewBedrock(client), "bedrock", o)},
	}
}

func stream(p llm.Provider, ctx context.Context, model string) ([]string, llm.Result, error) {
	var got []string
	res, err := p.Stream(ctx, llm.Request{Model: model, System: "Be brief.", Messages: []llm.Message{{Role: "user", Content: "When do you open?"}}}, func(s string) error {
		got = append(got, s)
		return nil
	})
	return got, res, err
}

func TestStreamsDeltasWithUsage(t *testing.T) {
	for _, u := range upstreams(t, llmtest.Behaviour{Answer: answer, TokensIn: 42}, llm.Options{}) {
		t.Run(u.name, func(t *testing.T) {
			got, res, err := stream(u.provider, context.Background(), "model-a")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(answer, "|") {
				t.Fatalf("deltas %q, want %q (each piece once)", got, answer)
			}
			if res.TokensIn != 42 || res.TokensOut != len(answer) || res.FinishReason == "" {
				t.Fatalf("result %+v", res)
			}
			reqs := u.server.Requests()
			if len(reqs) != 1 || !strings.Contains(reqs[0].Body, "Be brief.") || !strings.Contains(reqs[0].Body, "When do you open?") {
				t.Fatalf("upstream saw %+v", reqs)
			}
		})
	}
}

func TestRetriesBeforeFirstToken(t *testing.T) {
	for _, status := range []int{429, 500} {
		for _, u := range upstreams(t, llmtest.Behaviour{Answer: answer, FailFirst: 2, Status: status}, llm.Options{Attempts: 3}) {
			t.Run(u.name, func(t *testing.T) {
				got, _, err := stream(u.provider, context.Background(), "m")
				if err != nil || strings.Join(got, "") != strings.Join(answer, "") {
					t.Fatalf("after two %d answers: %q, %v", status, got, err)
				}
				if n := u.server.Calls.Load(); n != 3 {
					t.Fatalf("%d calls, want 3", n)
				}
			})
		}
	}
}

func TestGivesUpWithAClearError(t *testing.T) {
	for _, u := range upstreams(t, llmtest.Behaviour{Answer: answer, FailFirst: 100, Status: 500}, llm.Options{Attempts: 2}) {
		t.Run(u.name, func(t *testing.T) {
			got, _, err := stream(u.provider, context.Background(), "m")
			var pe *llm.Error
			if !errors.As(err, &pe) || !pe.Retryable || len(got) != 0 {
				t.Fatalf("got %q, %v", got, err)
			}
			if strings.Contains(pe.Message, "upstream says") {
				t.Fatalf("the user-facing message repeats the upstream's body: %q", pe.Message)
			}
			if n := u.server.Calls.Load(); n != 2 {
				t.Fatalf("%d calls, want 2", n)
			}
		})
	}
	// A refusal that trying again cannot fix is not tried again.
	for _, u := range upstreams(t, llmtest.Behaviour{Answer: answer, FailFirst: 100, Status: 400}, llm.Options{Attempts: 3}) {
		t.Run(u.name+"/400", func(t *testing.T) {
			if _, _, err := stream(u.provider, context.Background(), "m"); err == nil || u.server.Calls.Load() != 1 {
				t.Fatalf("err %v after %d calls", err, u.server.Calls.Load())
			}
		})
	}
}

func TestTimeoutBeforeFirstToken(t *testing.T) {
	for _, u := range upstreams(t, llmtest.Behaviour{Answer: answer, FirstDelay: 2 * time.Second}, llm.Options{FirstToken: 100 * time.Millisecond, Attempts: 2}) {
		t.Run(u.name, func(t *testing.T) {
			start := time.Now()
			got, _, err := stream(u.provider, context.Background(), "m")
			if err == nil || len(got) != 0 {
				t.Fatalf("got %q, %v", got, err)
			}
			if !strings.Contains(err.Error(), "did not answer in time") && !strings.Contains(err.Error(), "in time") {
				t.Fatalf("error %v does not say it timed out", err)
			}
			if el := time.Since(start); el > 1500*time.Millisecond {
				t.Fatalf("took %v; the first-token timeout is 100 ms per try", el)
			}
			if n := u.server.Calls.Load(); n != 2 {
				t.Fatalf("%d calls, want 2 (a timeout is tried again)", n)
			}
		})
	}
}

// TestFailureMidStream: once text has been sent, a cut connection or a
// malformed chunk ends the answer with an error and is not retried, so no
// text is sent twice.
func TestFailureMidStream(t *testing.T) {
	for _, b := range []llmtest.Behaviour{{Answer: answer, CutAfter: 2}, {Answer: answer, Malformed: true}} {
		for _, u := range upstreams(t, b, llm.Options{Attempts: 3}) {
			t.Run(u.name, func(t *testing.T) {
				got, _, err := stream(u.provider, context.Background(), "m")
				if err == nil {
					t.Fatalf("no error after %q", got)
				}
				if len(got) == 0 || strings.Join(got, "") == strings.Join(answer, "") {
					t.Fatalf("got %q; want the part before the failure", got)
				}
				if n := u.server.Calls.Load(); n != 1 {
					t.Fatalf("%d calls: a failure after text must not be retried", n)
				}
			})
		}
	}
}

// TestClientStop: cancelling the context stops the stream and the upstream
// sees the client go away.
func TestClientStop(t *testing.T) {
	for _, u := range upstreams(t, llmtest.Behaviour{Answer: answer, Delay: 200 * time.Millisecond}, llm.Options{}) {
		t.Run(u.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var got []string
			_, err := u.provider.Stream(ctx, llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Content: "hi"}}}, func(s string) error {
				got = append(got, s)
				cancel()
				return nil
			})
			if !errors.Is(err, context.Canceled) || len(got) != 1 {
				t.Fatalf("got %q, %v", got, err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for u.server.Disconnected.Load() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the upstream did not see the client go away")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestOffline(t *testing.T) {
	req := llm.Request{
		Messages: []llm.Message{{Role: "user", Content: "How do I order repeat prescriptions?"}},
		Passages: []llm.Passage{
			{N: 1, Title: "Repeat prescriptions", Heading: "Ordering", Text: "Order repeat prescriptions through the portal. Allow two working days. The pharmacy is next door."},
			{N: 2, Title: "Opening hours", Text: "We open at eight."},
		},
	}
	var b strings.Builder
	res, err := llm.Offline{}.Stream(context.Background(), req, func(s string) error { b.WriteString(s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{llm.OfflineIntro, "Repeat prescriptions › Ordering** [1]", "> Order repeat prescriptions through the portal."} {
		if !strings.Contains(out, want) {
			t.Fatalf("answer lacks %q:\n%s", want, out)
		}
	}
	if res.FinishReason != "stop" || res.TokensOut == 0 {
		t.Fatalf("result %+v", res)
	}
	b.Reset()
	llm.Offline{}.Stream(context.Background(), llm.Request{Messages: req.Messages}, func(s string) error { b.WriteString(s); return nil })
	if !strings.Contains(b.String(), llm.OfflineNothingAnswers) {
		t.Fatalf("with no passages: %s", b.String())
	}
}

// Concurrent answers through one Bedrock client each get their own text,
// whole: the SDK client shares its event-stream decoder between streams,
// so the provider gives each stream a client of its own (without that,
// the race detector flags the decoder and about 1 stream in 2,400 failed
// with "decode event").
func TestConcurrentBedrockStreamsOnOneClient(t *testing.T) {
	u := upstreams(t, llmtest.Behaviour{Answer: answer, TokensIn: 42}, llm.Options{})[1]
	models := map[string][]string{}
	for i := range 4 {
		model := fmt.Sprintf("model-%d", i)
		pieces := make([]string, 12)
		for j := range pieces {
			pieces[j] = fmt.Sprintf("%s piece %d; ", model, j)
		}
		models[model] = pieces
		u.server.Behave(model, llmtest.Behaviour{Answer: pieces, TokensIn: 10 + i})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*60)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				model := fmt.Sprintf("model-%d", (w+i)%4)
				got, res, err := stream(u.provider, context.Background(), model)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", model, err)
					continue
				}
				if strings.Join(got, "") != strings.Join(models[model], "") || res.TokensIn != 10+(w+i)%4 {
					errs <- fmt.Errorf("%s answered %q (tokens in %d)", model, strings.Join(got, ""), res.TokensIn)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
