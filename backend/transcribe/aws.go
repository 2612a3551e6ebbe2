package transcribe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/domain"
)

// The medical specialties Amazon Transcribe Medical streams in.
const (
	SpecialtyPrimaryCare = "PRIMARYCARE"
	SpecialtyCardiology  = "CARDIOLOGY"
	SpecialtyNeurology   = "NEUROLOGY"
	SpecialtyOncology    = "ONCOLOGY"
	SpecialtyRadiology   = "RADIOLOGY"
	SpecialtyUrology     = "UROLOGY"
)

// The kinds of speech it is tuned for.
const (
	TypeConversation = "CONVERSATION"
	TypeDictation    = "DICTATION"
)

// AWSSpecialties lists the specialties a stream may be set to.
func AWSSpecialties() []string {
	return []string{SpecialtyPrimaryCare, SpecialtyCardiology, SpecialtyNeurology, SpecialtyOncology, SpecialtyRadiology, SpecialtyUrology}
}

// AWSOptions configure streaming transcription through Amazon Transcribe
// Medical's WebSocket API.
type AWSOptions struct {
	// Region is the AWS region of the service (us-east-1, …); required.
	Region string
	// Specialty is one of AWSSpecialties(); empty is PRIMARYCARE.
	Specialty string
	// Type is CONVERSATION (default) or DICTATION.
	Type string
	// LanguageCode is en-US, the only language the service transcribes
	// medically; empty is en-US.
	LanguageCode string
	// Endpoint replaces wss://transcribestreaming.<region>.amazonaws.com:8443
	// (a test server, a VPC endpoint); only here may it be ws://.
	Endpoint string
	// Credentials sign each connection; required (the default AWS
	// configuration's provider, as a rule).
	Credentials aws.CredentialsProvider
	// HTTPClient makes the WebSocket handshake; nil is
	// http.DefaultClient. Its Timeout bounds the handshake only.
	HTTPClient *http.Client
	// MaxRetries bounds the reconnections in a row that bring no new final
	// result, after a cut connection or a retryable exception; 0 is 3,
	// negative is none.
	MaxRetries int
	// RetryBackoff is the wait before the first reconnection, doubled for
	// each next one up to 30 s; 0 is 500 ms.
	RetryBackoff time.Duration
	// Frame is the audio sent in one AudioEvent, 50–200 ms; 0 is 100 ms.
	Frame time.Duration
	// Lead is how far ahead of real time audio is sent: the service
	// hears a stream as it would be spoken and wants a recording's audio
	// paced to match, so a recording takes about its length to
	// transcribe (batch jobs suit uploads better). 0 is 1 s; negative
	// sends as fast as the connection takes it, for servers that allow
	// that.
	Lead time.Duration
	// OnPartial, when set, is called with each partial result while the
	// service is still hearing it (times in the recording's timeline), so
	// a caller can show text early. It is called from Transcribe's
	// goroutine and must not block long.
	OnPartial func(Segment)
	// Now is the clock connections are signed with; nil is time.Now.
	Now func() time.Time
	// Logger tells of reconnections; nil logs nothing.
	Logger *slog.Logger
}

// AWS transcribes through Amazon Transcribe Medical streaming over a
// WebSocket: each recording goes through one session; a connection cut
// mid-stream is made again with the same session id, the audio resent
// from the end of the last final result.
type AWS struct {
	opts     AWSOptions
	endpoint *url.URL
	signer   *v4.Signer
}

var _ Engine = (*AWS)(nil)

var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// validateMedical checks the settings streaming and batch share and fills
// in their defaults.
func validateMedical(specialty, typ, language *string, specialties []string) error {
	if *specialty == "" {
		*specialty = SpecialtyPrimaryCare
	}
	*specialty = strings.ToUpper(strings.TrimSpace(*specialty))
	known := false
	for _, s := range specialties {
		known = known || s == *specialty
	}
	if !known {
		return domain.Invalid("specialty", "Amazon Transcribe Medical has no specialty %q here: use one of %s", *specialty, strings.Join(specialties, ", "))
	}
	if *typ == "" {
		*typ = TypeConversation
	}
	*typ = strings.ToUpper(strings.TrimSpace(*typ))
	if *typ != TypeConversation && *typ != TypeDictation {
		return domain.Invalid("type", "the transcription type %q is neither %s nor %s", *typ, TypeConversation, TypeDictation)
	}
	if *language == "" {
		*language = "en-US"
	}
	if *language != "en-US" {
		return domain.Invalid("language_code", "Amazon Transcribe Medical transcribes US English (en-US) only, not %q", *language)
	}
	return nil
}

// NewAWS checks the options and returns the engine.
func NewAWS(o AWSOptions) (*AWS, error) {
	if !regionPattern.MatchString(o.Region) {
		return nil, domain.Invalid("region", "the AWS region %q is not a region name such as us-east-1", o.Region)
	}
	if err := validateMedical(&o.Specialty, &o.Type, &o.LanguageCode, AWSSpecialties()); err != nil {
		return nil, err
	}
	if o.Credentials == nil {
		return nil, domain.Invalid("credentials", "Amazon Transcribe needs AWS credentials")
	}
	base := "wss://transcribestreaming." + o.Region + ".amazonaws.com:8443"
	if o.Endpoint != "" {
		base = strings.TrimRight(o.Endpoint, "/")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, domain.Invalid("endpoint", "the endpoint %q is not a wss:// (or ws://) address without query", o.Endpoint)
	}
	u.Path += "/medical-stream-transcription-websocket"
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = 3
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 500 * time.Millisecond
	}
	if o.Frame == 0 {
		o.Frame = 100 * time.Millisecond
	}
	if o.Frame < 50*time.Millisecond || o.Frame > 200*time.Millisecond {
		return nil, domain.Invalid("frame", "an audio frame of %s is outside the 50–200 ms Amazon Transcribe takes", o.Frame)
	}
	if o.Lead == 0 {
		o.Lead = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &AWS{opts: o, endpoint: u, signer: v4.NewSigner()}, nil
}

// Name is "aws".
func (e *AWS) Name() string { return "aws" }

// stream is what a recording's session has come to across connections.
type stream struct {
	sessionID string
	pcm       []int16
	rate      int
	segments  []Segment
	// final is the end of the last final result in the recording, and
	// resume the sample the next connection starts its audio at.
	final  time.Duration
	resume int
}

// errCut is a connection that ended before the service finished.
var errCut = errors.New("the connection to Amazon Transcribe was cut")

// Transcribe streams the recording through one session and returns its
// final results as segments, a result split where the speaker changes.
func (e *AWS) Transcribe(ctx context.Context, pcm []int16, rate int) ([]Segment, error) {
	if rate < 16000 || rate > 48000 {
		return nil, domain.Invalid("sample_rate", "Amazon Transcribe Medical takes audio at 16000–48000 Hz, not %d Hz", rate)
	}
	st := &stream{sessionID: uuid.NewString(), pcm: pcm, rate: rate}
	failures := 0
	for {
		before := st.final
		err := e.connect(ctx, st)
		if err == nil {
			return st.segments, nil
		}
		if ctx.Err() != nil {
			return st.segments, fmt.Errorf("transcribing with Amazon Transcribe Medical: %w", context.Cause(ctx))
		}
		var aerr *AWSError
		retryable := errors.Is(err, errCut) || (errors.As(err, &aerr) && aerr.Retryable)
		if st.final > before {
			failures = 0
		}
		failures++
		if !retryable || failures > e.opts.MaxRetries {
			return st.segments, fmt.Errorf("transcribe the audio from %s: %w", Duration(st.resume, rate).Round(time.Millisecond), err)
		}
		wait := min(e.opts.RetryBackoff<<(failures-1), 30*time.Second)
		e.opts.Logger.WarnContext(ctx, "amazon transcribe stream interrupted; reconnecting", "session_id", st.sessionID,
			"attempt", failures, "resume_at", Duration(st.resume, rate), "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return st.segments, fmt.Errorf("transcribing with Amazon Transcribe Medical: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}

// presign returns the signed URL of a connection for the session.
func (e *AWS) presign(ctx context.Context, st *stream) (string, error) {
	creds, err := e.opts.Credentials.Retrieve(ctx)
	if err != nil {
		return "", domain.Unavailable(err, "no AWS credentials for Amazon Transcribe: %v", err)
	}
	u := *e.endpoint
	q := url.Values{}
	q.Set("language-code", e.opts.LanguageCode)
	q.Set("media-encoding", "pcm")
	q.Set("sample-rate", strconv.Itoa(st.rate))
	q.Set("specialty", e.opts.Specialty)
	q.Set("type", e.opts.Type)
	q.Set("show-speaker-label", "true")
	q.Set("content-identification-type", "PHI")
	q.Set("session-id", st.sessionID)
	q.Set("X-Amz-Expires", "300")
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	const emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	signed, _, err := e.signer.PresignHTTP(ctx, creds, req, emptyPayload, "transcribe", e.opts.Region, e.opts.Now())
	if err != nil {
		return "", fmt.Errorf("sign the Amazon Transcribe request: %w", err)
	}
	return signed, nil
}

// connect runs one connection of the session: it sends the audio from
// st.resume and gathers the final results until the service closes the
// stream (nil), cuts it (errCut) or names an exception (*AWSError).
func (e *AWS) connect(ctx context.Context, st *stream) error {
	signed, err := e.presign(ctx, st)
	if err != nil {
		return err
	}
	conn, resp, err := websocket.Dial(ctx, signed, &websocket.DialOptions{HTTPClient: e.opts.HTTPClient, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			aerr := &AWSError{Status: resp.StatusCode, Retryable: resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500}
			if resp.Body != nil {
				b := make([]byte, 512)
				n, _ := resp.Body.Read(b)
				aerr.Message = strings.TrimSpace(string(b[:n]))
			}
			return aerr
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: connect: %v", errCut, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)

	from := st.resume
	offset := Duration(from, st.rate)
	sendCtx, stopSending := context.WithCancel(ctx)
	var allSent atomic.Bool
	sent := make(chan error, 1)
	go func() { sent <- e.send(sendCtx, conn, st.pcm[from:], st.rate, &allSent) }()
	finish := func() {
		stopSending()
		conn.CloseNow()
		<-sent
	}

	dec := eventstream.NewDecoder()
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			finish()
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case websocket.CloseStatus(err) == websocket.StatusNormalClosure && allSent.Load():
				return nil // the service heard all the audio and sent all it had
			}
			return fmt.Errorf("%w: %v", errCut, err)
		}
		if typ != websocket.MessageBinary {
			continue
		}
		events, err := readFrame(dec, data)
		for _, ev := range events {
			if ev.Exception != nil {
				finish()
				return ev.Exception
			}
			for _, r := range ev.Results {
				e.result(st, r, offset)
			}
		}
		if err != nil {
			finish()
			return err
		}
	}
}

// result takes a result of a connection whose audio starts at offset.
func (e *AWS) result(st *stream, r awsResult, offset time.Duration) {
	segs := resultSegments(r, offset)
	if len(segs) == 0 {
		return
	}
	if r.IsPartial {
		if e.opts.OnPartial != nil {
			text := make([]string, len(segs))
			for i, s := range segs {
				text[i] = s.Text
			}
			e.opts.OnPartial(Segment{Start: segs[0].Start, End: segs[len(segs)-1].End, Speaker: segs[0].Speaker, Text: strings.Join(text, " ")})
		}
		return
	}
	end, _ := awsSeconds(r.EndTime)
	end += offset
	if end <= st.final && len(st.segments) > 0 {
		return // heard before the connection was made again
	}
	st.segments = append(st.segments, segs...)
	st.final = end
	st.resume = min(int((int64(end)*int64(st.rate)+int64(time.Second)/2)/int64(time.Second)), len(st.pcm))
}

// send writes the audio in AudioEvents of one frame each, notes in allSent
// that they went out, then sends the empty one that ends the stream.
func (e *AWS) send(ctx context.Context, conn *websocket.Conn, pcm []int16, rate int, allSent *atomic.Bool) error {
	enc := eventstream.NewEncoder()
	n := max(1, int(int64(e.opts.Frame)*int64(rate)/int64(time.Second)))
	began := time.Now()
	for sent := 0; sent < len(pcm); {
		if e.opts.Lead > 0 {
			if ahead := Duration(sent, rate) - e.opts.Lead - time.Since(began); ahead > 0 {
				t := time.NewTimer(ahead)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
		}
		k := min(n, len(pcm)-sent)
		if err := e.write(ctx, conn, enc, pcm[sent:sent+k]); err != nil {
			return err
		}
		sent += k
	}
	allSent.Store(true)
	return e.write(ctx, conn, enc, nil)
}

func (e *AWS) write(ctx context.Context, conn *websocket.Conn, enc *eventstream.Encoder, pcm []int16) error {
	frame, err := audioEvent(enc, pcm)
	if err != nil {
		return err
	}
	return conn.Write(ctx, websocket.MessageBinary, frame)
}
