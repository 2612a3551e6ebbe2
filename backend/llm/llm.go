// Package llm streams answers from language models behind one small
// interface: OpenAI and any OpenAI-compatible server, AWS Bedrock, and an
// offline mode that needs no model at all.
package llm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// Message is one turn of the prompt.
type Message struct {
	Role    string // "user" or "assistant"
	Content string
}

// Passage is knowledge-base text the answer may quote; the offline mode
// answers from passages alone.
type Passage struct {
	N       int
	Title   string
	Heading string
	Text    string
}

// Request is what a provider is asked.
type Request struct {
	Model     string
	System    string
	Messages  []Message
	MaxTokens int
	// Passages are the retrieved passages, already included in System for
	// models; the offline mode quotes them.
	Passages []Passage
	// QuoteBy is more words the offline mode chooses what to quote by:
	// the documents' own words for what the question describes ("lost
	// consciousness" for "fainted").
	QuoteBy string
}

// Result is what a finished stream reports.
type Result struct {
	TokensIn, TokensOut int
	FinishReason        string
}

// Provider streams an answer, calling emit with each piece of text as it
// arrives. It returns when the answer is finished, emit returns an error, or
// ctx ends.
type Provider interface {
	Stream(ctx context.Context, req Request, emit func(text string) error) (Result, error)
}

// Error is a provider's failure. Retryable failures (rate limits, server
// errors, timeouts and broken connections) may succeed when tried again.
type Error struct {
	Status    int // the upstream HTTP status, 0 when there was none
	Retryable bool
	Message   string // for the user: never the upstream's body
	Err       error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// ErrFirstTokenTimeout: the model did not start answering in time.
var ErrFirstTokenTimeout = errors.New("the language model did not start answering in time")

// statusError classifies an upstream HTTP status.
func statusError(status int, err error) *Error {
	switch {
	case status == http.StatusTooManyRequests:
		return &Error{Status: status, Retryable: true, Message: "The language model service is busy (rate limited)", Err: err}
	case status >= 500:
		return &Error{Status: status, Retryable: true, Message: "The language model service failed", Err: err}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return &Error{Status: status, Message: "The language model service refused the clinic's credentials", Err: err}
	case status == http.StatusNotFound:
		return &Error{Status: status, Message: "The language model service does not know this model", Err: err}
	case status >= 400:
		return &Error{Status: status, Message: "The language model service refused the request", Err: err}
	}
	return &Error{Status: status, Retryable: true, Message: "The language model service could not be reached", Err: err}
}

// transportError classifies a failure without an HTTP status.
func transportError(err error) *Error {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrFirstTokenTimeout) {
		return &Error{Retryable: true, Message: "The language model service did not answer in time", Err: err}
	}
	return &Error{Retryable: true, Message: "The language model service could not be reached", Err: err}
}

// Options bound a stream in time and say how failures are tried again.
type Options struct {
	FirstToken time.Duration // until the first piece of text (default 30 s)
	Total      time.Duration // for the whole answer (default 5 min)
	Attempts   int           // tries before the first piece of text (default 3)
	Backoff    time.Duration // before the second try, doubling after (default 500 ms)
	Logger     *slog.Logger
}

func (o *Options) defaults() {
	if o.FirstToken <= 0 {
		o.FirstToken = 30 * time.Second
	}
	if o.Total <= 0 {
		o.Total = 5 * time.Minute
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Resilient wraps a provider: each try must start answering within
// FirstToken and finish within Total; retryable failures before the first
// piece of text are tried again after a growing, jittered pause. Once text
// has been emitted a failure is final, so no text is ever sent twice.
func Resilient(p Provider, name string, o Options) Provider {
	o.defaults()
	return &resilient{p: p, name: name, o: o}
}

type resilient struct {
	p    Provider
	name string
	o    Options
}

func (r *resilient) Stream(ctx context.Context, req Request, emit func(string) error) (Result, error) {
	var last error
	for attempt := 1; attempt <= r.o.Attempts; attempt++ {
		started := false
		res, err := r.try(ctx, req, func(s string) error {
			started = true
			return emit(s)
		})
		if err == nil || started || ctx.Err() != nil {
			return res, err
		}
		var pe *Error
		if !errors.As(err, &pe) || !pe.Retryable {
			return res, err
		}
		last = err
		if attempt == r.o.Attempts {
			break
		}
		pause := r.o.Backoff << (attempt - 1)
		pause += time.Duration(rand.Int64N(int64(pause)/4 + 1))
		r.o.Logger.Warn("llm: retrying", "provider", r.name, "attempt", attempt, "status", pe.Status, "pause", pause, "err", pe.Message)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return Result{}, ctx.Err()
		case <-t.C:
		}
	}
	return Result{}, fmt.Errorf("after %d tries: %w", r.o.Attempts, last)
}

// try runs one stream under the first-token and total deadlines.
func (r *resilient) try(ctx context.Context, req Request, emit func(string) error) (Result, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, r.o.Total, context.DeadlineExceeded)
	defer cancel()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	first := time.AfterFunc(r.o.FirstToken, func() { stop(ErrFirstTokenTimeout) })
	defer first.Stop()
	res, err := r.p.Stream(ctx, req, func(s string) error {
		first.Stop()
		return emit(s)
	})
	if err != nil && context.Cause(ctx) != nil && ctx.Err() != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrFirstTokenTimeout) || errors.Is(cause, context.DeadlineExceeded) {
			return res, transportError(cause)
		}
	}
	return res, err
}
