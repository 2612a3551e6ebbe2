package transcribe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/domain"
)

const (
	testRegion    = "eu-central-1"
	testAccessKey = "AKIDEXAMPLE"
	testSecretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

var testCreds = aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey, Source: "test"}

// speakerOf is who says word n in the synthetic consultations: two
// speakers taking turns every three words.
func speakerOf(n int) string { return fmt.Sprintf("spk_%d", (n/3)%2) }

// checkPresigned verifies a presigned request as the service does: the
// signature is computed again from the query with the known credentials,
// and the request must be within its validity.
func checkPresigned(r *http.Request, now time.Time) error {
	q := r.URL.Query()
	got := q.Get("X-Amz-Signature")
	q.Del("X-Amz-Signature")
	signedAt, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || expires <= 0 || expires > 300 {
		return fmt.Errorf("X-Amz-Expires %q", q.Get("X-Amz-Expires"))
	}
	if now.After(signedAt.Add(time.Duration(expires)*time.Second)) || signedAt.After(now.Add(5*time.Minute)) {
		return fmt.Errorf("signed at %s, valid %d s, now %s", signedAt, expires, now)
	}
	scope := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(scope) != 5 || scope[0] != testAccessKey || scope[2] != testRegion || scope[3] != "transcribe" || scope[4] != "aws4_request" {
		return fmt.Errorf("credential scope %q", q.Get("X-Amz-Credential"))
	}
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || q.Get("X-Amz-SignedHeaders") != "host" {
		return fmt.Errorf("algorithm %q, signed headers %q", q.Get("X-Amz-Algorithm"), q.Get("X-Amz-SignedHeaders"))
	}
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	const emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), testCreds, req, emptyPayload, "transcribe", testRegion, signedAt)
	if err != nil {
		return err
	}
	su, err := url.Parse(signed)
	if err != nil {
		return err
	}
	if want := su.Query().Get("X-Amz-Signature"); !hmac.Equal([]byte(want), []byte(got)) {
		return errors.New("the signature does not match")
	}
	return nil
}

// fakeMedical speaks Amazon Transcribe Medical's WebSocket API: it checks
// the presigned URL, decodes the AudioEvents, and answers with partial and
// final TranscriptEvents naming each burst of sound by its loudness, two
// words to a final result.
type fakeMedical struct {
	t *testing.T
	// exception, when set, is sent after the first audio instead of any
	// transcript; cutAfter cuts the first connection once it has sent
	// that many final results and hears a word not yet final; hold keeps
	// a finished stream open.
	exception string
	cutAfter  int
	hold      bool

	audioSeen chan struct{}
	once      sync.Once

	// running counts the connections being served, which the HTTP
	// server no longer tracks once they are WebSockets.
	running sync.WaitGroup

	mu        sync.Mutex
	conns     []*fakeConn
	handshake int
}

// fakeConn is what one connection heard and said.
type fakeConn struct {
	query      url.Values
	audio      []int16
	finals     int
	finalEnd   int // sample of the connection's audio the last final result ended at
	finalWords []int
	// arrivals is when each audio event with audio came after the
	// handshake, and positions how much audio had come before it.
	arrivals  []time.Duration
	positions []int
}

func newFakeMedical(t *testing.T) (*fakeMedical, *httptest.Server) {
	f := &fakeMedical{t: t, audioSeen: make(chan struct{})}
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		srv.Close()
		f.running.Wait()
	})
	return f, srv
}

func (f *fakeMedical) connections() []*fakeConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.conns)
}

func (f *fakeMedical) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Before the handshake is answered, so before the client can start
	// sending.
	accepted := time.Now()
	f.running.Add(1)
	defer f.running.Done()
	f.mu.Lock()
	f.handshake++
	f.mu.Unlock()
	if r.URL.Path != "/medical-stream-transcription-websocket" {
		http.NotFound(w, r)
		return
	}
	if err := checkPresigned(r, time.Now()); err != nil {
		http.Error(w, "The request signature we calculated does not match the signature you provided: "+err.Error(), http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	for k, v := range map[string]string{"language-code": "en-US", "media-encoding": "pcm", "show-speaker-label": "true",
		"content-identification-type": "PHI", "type": TypeConversation, "specialty": SpecialtyCardiology} {
		if q.Get(k) != v {
			f.t.Errorf("query %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if _, err := uuid.Parse(q.Get("session-id")); err != nil {
		f.t.Errorf("session-id %q is no UUID", q.Get("session-id"))
	}
	hw := &hijackRecorder{ResponseWriter: w}
	conn, err := websocket.Accept(hw, r, nil)
	if err != nil {
		f.t.Errorf("accept: %v", err)
		return
	}
	defer conn.CloseNow()
	c := &fakeConn{query: q}
	f.mu.Lock()
	first := len(f.conns) == 0
	f.conns = append(f.conns, c)
	f.mu.Unlock()
	ctx := r.Context()
	if q.Get("sample-rate") != "16000" {
		f.send(ctx, conn, exceptionFrame("BadRequestException", "The sample rate "+q.Get("sample-rate")+" doesn't match the audio."))
		conn.Close(websocket.StatusNormalClosure, "")
		return
	}
	det := &bursts{rate: SampleRate}
	var pending []heardWord
	dec := eventstream.NewDecoder()
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return // the client went
		}
		if typ != websocket.MessageBinary {
			f.t.Errorf("a %v message", typ)
			return
		}
		msg, err := dec.Decode(bytes.NewReader(data), nil)
		if err != nil {
			f.t.Errorf("decode an audio event: %v", err)
			return
		}
		for name, want := range map[string]string{":message-type": "event", ":event-type": "AudioEvent", ":content-type": "application/octet-stream"} {
			if v := msg.Headers.Get(name); v == nil || v.String() != want {
				f.t.Errorf("header %s = %v, want %s", name, v, want)
			}
		}
		if len(msg.Payload)%2 != 0 || len(msg.Payload) > 2*SampleRate/5 {
			f.t.Errorf("an audio event of %d bytes", len(msg.Payload))
		}
		f.once.Do(func() { close(f.audioSeen) })
		if f.exception != "" {
			f.send(ctx, conn, exceptionFrame(f.exception, "Something went wrong on our side."))
			conn.Close(websocket.StatusNormalClosure, "")
			return
		}
		end := len(msg.Payload) == 0
		f.mu.Lock()
		if !end {
			c.arrivals, c.positions = append(c.arrivals, time.Since(accepted)), append(c.positions, len(c.audio))
		}
		for i := 0; i+1 < len(msg.Payload); i += 2 {
			c.audio = append(c.audio, int16(binary.LittleEndian.Uint16(msg.Payload[i:])))
		}
		audio := c.audio
		f.mu.Unlock()
		pending = append(pending, det.feed(audio, end)...)
		for len(pending) >= 2 || (end && len(pending) > 0) {
			k := min(2, len(pending))
			f.send(ctx, conn, transcriptFrame(pending[:k], false))
			f.mu.Lock()
			c.finals++
			c.finalEnd = pending[k-1].end
			for _, w := range pending[:k] {
				c.finalWords = append(c.finalWords, w.n)
			}
			finals := c.finals
			f.mu.Unlock()
			pending = pending[k:]
			if first && f.cutAfter > 0 && finals == f.cutAfter {
				f.cutAfter = -1 // the cut comes once the next word is heard
			}
		}
		if end {
			if f.hold {
				conn.Read(ctx) // until the client goes
				return
			}
			conn.Close(websocket.StatusNormalClosure, "")
			return
		}
		partial := slices.Clone(pending)
		if det.inWord {
			partial = append(partial, heardWord{n: det.number(), start: det.start, end: len(audio)})
		}
		if first && f.cutAfter < 0 && len(partial) > 0 {
			f.cutAfter = 0
			// The network drops the connection: what was sent arrives,
			// then the stream ends without a closing handshake.
			if err := hw.conn.(*net.TCPConn).CloseWrite(); err != nil {
				f.t.Errorf("cut: %v", err)
			}
			for {
				if _, _, err := conn.Read(ctx); err != nil {
					return
				}
			}
		}
		if len(partial) > 0 {
			f.send(ctx, conn, transcriptFrame(partial, true))
		}
	}
}

func (f *fakeMedical) handshakes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handshake
}

// hijackRecorder keeps the connection the WebSocket is made on, so that
// a test can cut it as a network would.
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.conn = c
	return c, rw, err
}

// send writes a frame; one the client has gone before reading is no
// matter.
func (f *fakeMedical) send(ctx context.Context, conn *websocket.Conn, frame []byte) {
	_ = conn.Write(ctx, websocket.MessageBinary, frame)
}

// heardWord is a burst of sound the fake recogniser heard, in samples of
// the connection's audio.
type heardWord struct{ n, start, end int }

// bursts finds words in audio as it grows, as hear does in one go.
type bursts struct {
	rate                int
	next, start, silent int
	inWord              bool
	peak                int16
}

func (b *bursts) number() int { return int(math.Round(float64(b.peak-500) / 600)) }

func (b *bursts) feed(pcm []int16, end bool) []heardWord {
	const quiet = 200
	var out []heardWord
	for ; b.next < len(pcm); b.next++ {
		s := abs(pcm[b.next])
		switch {
		case !b.inWord && s > quiet:
			b.inWord, b.start, b.peak, b.silent = true, b.next, s, 0
		case b.inWord && s > quiet:
			b.peak, b.silent = max(b.peak, s), 0
		case b.inWord:
			if b.silent++; b.silent >= b.rate/20 {
				out = append(out, heardWord{n: b.number(), start: b.start, end: b.next + 1})
				b.inWord = false
			}
		}
	}
	if end && b.inWord {
		out = append(out, heardWord{n: b.number(), start: b.start, end: len(pcm)})
		b.inWord = false
	}
	return out
}

func seconds16k(sample int) float64 { return float64(sample) / SampleRate }

// transcriptFrame is a TranscriptEvent of one result saying the words,
// with a full stop at its end.
func transcriptFrame(words []heardWord, partial bool) []byte {
	var items []map[string]any
	var text []string
	for _, w := range words {
		items = append(items, map[string]any{"StartTime": seconds16k(w.start), "EndTime": seconds16k(w.end), "Type": "pronunciation",
			"Content": fmt.Sprintf("word%d", w.n), "Speaker": speakerOf(w.n), "Confidence": 0.9})
		text = append(text, fmt.Sprintf("word%d", w.n))
	}
	last := words[len(words)-1]
	items = append(items, map[string]any{"StartTime": seconds16k(last.end), "EndTime": seconds16k(last.end), "Type": "punctuation", "Content": "."})
	payload, _ := json.Marshal(map[string]any{"Transcript": map[string]any{"Results": []any{map[string]any{
		"ResultId": fmt.Sprintf("result-%d", words[0].n), "StartTime": seconds16k(words[0].start), "EndTime": seconds16k(last.end),
		"IsPartial": partial, "ChannelId": "ch_0",
		"Alternatives": []any{map[string]any{"Transcript": strings.Join(text, " ") + ".", "Items": items, "Entities": []any{}}},
	}}}})
	msg := eventstream.Message{Payload: payload}
	msg.Headers.Set(":message-type", eventstream.StringValue("event"))
	msg.Headers.Set(":event-type", eventstream.StringValue("TranscriptEvent"))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	return encodeMessage(msg)
}

func exceptionFrame(kind, message string) []byte {
	payload, _ := json.Marshal(map[string]string{"Message": message})
	msg := eventstream.Message{Payload: payload}
	msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
	msg.Headers.Set(":exception-type", eventstream.StringValue(kind))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	return encodeMessage(msg)
}

func encodeMessage(msg eventstream.Message) []byte {
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, msg); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func newTestAWS(t *testing.T, srv *httptest.Server, edit func(*AWSOptions)) *AWS {
	t.Helper()
	o := AWSOptions{Region: testRegion, Specialty: "cardiology", Endpoint: "ws" + strings.TrimPrefix(srv.URL, "http"),
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""), RetryBackoff: time.Millisecond, Lead: -1}
	if edit != nil {
		edit(&o)
	}
	e, err := NewAWS(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// wantSegments is what the fake's results come to: two words to a result,
// a result split where the speaker changes, the full stop on its last
// word.
func wantSegments(words []word) []Segment {
	var out []Segment
	for i := 0; i < len(words); i += 2 {
		pair := words[i:min(i+2, len(words))]
		last := pair[len(pair)-1]
		if len(pair) == 2 && speakerOf(pair[0].n) != speakerOf(pair[1].n) {
			out = append(out, Segment{Start: pair[0].start, End: pair[0].end, Speaker: speakerOf(pair[0].n), Text: fmt.Sprintf("word%d", pair[0].n)})
			out = append(out, Segment{Start: last.start, End: last.end, Speaker: speakerOf(last.n), Text: fmt.Sprintf("word%d.", last.n)})
			continue
		}
		var text []string
		for _, w := range pair {
			text = append(text, fmt.Sprintf("word%d", w.n))
		}
		out = append(out, Segment{Start: pair[0].start, End: last.end, Speaker: speakerOf(last.n), Text: strings.Join(text, " ") + "."})
	}
	return out
}

func compareSegments(t *testing.T, got, want []Segment) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d segments, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	const slack = 60 * time.Millisecond // the recogniser hears the silence ending a word
	for i := range want {
		g, w := got[i], want[i]
		if g.Text != w.Text || g.Speaker != w.Speaker || (g.Start-w.Start).Abs() > slack || (g.End-w.End).Abs() > slack {
			t.Fatalf("segment %d = %+v, want %+v", i, g, w)
		}
	}
}

// A recording goes through one stream: only final results become
// segments, split where the speaker changes, partial ones reach OnPartial.
func TestAWSStreamsFinalResultsBySpeaker(t *testing.T) {
	f, srv := newFakeMedical(t)
	pcm, words := recording(12)
	var mu sync.Mutex
	var partials []Segment
	e := newTestAWS(t, srv, func(o *AWSOptions) {
		o.OnPartial = func(s Segment) {
			mu.Lock()
			defer mu.Unlock()
			partials = append(partials, s)
		}
	})
	if e.Name() != "aws" {
		t.Errorf("name %q", e.Name())
	}
	segs, err := e.Transcribe(context.Background(), pcm, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	compareSegments(t, segs, wantSegments(words))
	conns := f.connections()
	if len(conns) != 1 || !slices.Equal(conns[0].audio, pcm) {
		t.Fatalf("%d connections; the first heard %d of %d samples", len(conns), len(conns[0].audio), len(pcm))
	}
	if conns[0].query.Get("sample-rate") != "16000" {
		t.Errorf("sample-rate %q", conns[0].query.Get("sample-rate"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(partials) == 0 {
		t.Fatal("no partial result reached OnPartial")
	}
	total := Duration(len(pcm), SampleRate)
	for _, p := range partials {
		if p.Start < 0 || p.End < p.Start || p.End > total || !strings.HasPrefix(p.Text, "word") {
			t.Fatalf("partial %+v", p)
		}
	}
}

// A connection cut mid-stream is made again with the same session id; the
// audio after the last final result is sent again from exactly there, and
// the segments come once each, at their times in the whole recording.
func TestAWSReconnectsAfterACut(t *testing.T) {
	f, srv := newFakeMedical(t)
	f.cutAfter = 3
	pcm, words := recording(20)
	e := newTestAWS(t, srv, nil)
	segs, err := e.Transcribe(context.Background(), pcm, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	conns := f.connections()
	if len(conns) != 2 {
		t.Fatalf("%d connections, want the first cut and a second", len(conns))
	}
	first, second := conns[0], conns[1]
	if id := first.query.Get("session-id"); id == "" || second.query.Get("session-id") != id {
		t.Fatalf("session ids %q then %q", id, second.query.Get("session-id"))
	}
	if first.finals != 3 || len(first.audio) <= first.finalEnd {
		t.Fatalf("the first connection sent %d final results and heard %d samples, up to %d final", first.finals, len(first.audio), first.finalEnd)
	}
	if !slices.Equal(first.audio, pcm[:len(first.audio)]) {
		t.Fatal("the first connection heard audio other than the recording's start")
	}
	if !slices.Equal(second.audio, pcm[first.finalEnd:]) {
		t.Fatalf("the second connection heard %d samples, want the %d after the last final result at sample %d",
			len(second.audio), len(pcm)-first.finalEnd, first.finalEnd)
	}
	heard := append(slices.Clone(first.finalWords), second.finalWords...)
	for i, n := range heard {
		if n != i+1 {
			t.Fatalf("final words %v: each once, in order", heard)
		}
	}
	compareSegments(t, segs, wantSegments(words))
}

// A recording's audio is sent no faster than it would be spoken, the
// lead allowed aside.
func TestAWSPacesAudio(t *testing.T) {
	f, srv := newFakeMedical(t)
	pcm, words := recording(2)
	const lead = 300 * time.Millisecond
	e := newTestAWS(t, srv, func(o *AWSOptions) { o.Lead = lead })
	segs, err := e.Transcribe(context.Background(), pcm, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	compareSegments(t, segs, wantSegments(words))
	c := f.connections()[0]
	for i, at := range c.arrivals {
		if early := Duration(c.positions[i], SampleRate) - lead - at; early > 0 {
			t.Fatalf("the audio from %s came %s after the stream began, %s early", Duration(c.positions[i], SampleRate), at, early)
		}
	}
}

func TestAWSRefusesBadOptions(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")
	for _, tc := range []struct {
		opts  AWSOptions
		field string
		want  string
	}{
		{AWSOptions{Region: "us-east-1", Specialty: "DERMATOLOGY", Credentials: creds}, "specialty", "PRIMARYCARE, CARDIOLOGY, NEUROLOGY, ONCOLOGY, RADIOLOGY, UROLOGY"},
		{AWSOptions{Region: "us-east-1", Type: "MONOLOGUE", Credentials: creds}, "type", "CONVERSATION"},
		{AWSOptions{Region: "us-east-1", LanguageCode: "de-DE", Credentials: creds}, "language_code", "en-US"},
		{AWSOptions{Region: "", Credentials: creds}, "region", "region"},
		{AWSOptions{Region: "evil.example.com/x", Credentials: creds}, "region", "region"},
		{AWSOptions{Region: "us-east-1"}, "credentials", "credentials"},
		{AWSOptions{Region: "us-east-1", Credentials: creds, Endpoint: "https://transcribe.example"}, "endpoint", "wss://"},
		{AWSOptions{Region: "us-east-1", Credentials: creds, Frame: time.Second}, "frame", "50–200 ms"},
	} {
		_, err := NewAWS(tc.opts)
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.EINVALID || de.Field != tc.field || !strings.Contains(de.Message, tc.want) {
			t.Errorf("%+v: %v, want an invalid %s saying %q", tc.opts, err, tc.field, tc.want)
		}
	}
	f, srv := newFakeMedical(t)
	e := newTestAWS(t, srv, nil)
	pcm, _ := recording(1)
	if _, err := e.Transcribe(context.Background(), pcm, 8000); domain.ErrorCode(err) != domain.EINVALID || !strings.Contains(err.Error(), "16000–48000 Hz") {
		t.Errorf("8 kHz audio: %v", err)
	}
	if n := f.handshakes(); n != 0 {
		t.Errorf("%d connections for refused audio", n)
	}
}

// Audio at a rate the stream was not opened for is refused by the service
// with a BadRequestException, which is not tried again.
func TestAWSWrongSampleRate(t *testing.T) {
	f, srv := newFakeMedical(t)
	e := newTestAWS(t, srv, nil)
	pcm, _ := recording(2)
	_, err := e.Transcribe(context.Background(), pcm, 44100)
	var aerr *AWSError
	if !errors.As(err, &aerr) || aerr.Exception != "BadRequestException" || aerr.Retryable || !strings.Contains(err.Error(), "sample rate") {
		t.Fatalf("%v, want a BadRequestException about the sample rate", err)
	}
	if domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("code %s", domain.ErrorCode(err))
	}
	if n := len(f.connections()); n != 1 {
		t.Errorf("%d connections", n)
	}
}

// An exception the service sends ends the stream with an error naming it;
// a retryable one is tried again a bounded number of times.
func TestAWSServerExceptions(t *testing.T) {
	pcm, _ := recording(3)
	for _, tc := range []struct {
		exception string
		retryable bool
		code      string
		conns     int
	}{
		{"ServiceUnavailableException", true, domain.EUNAVAILABLE, 3},
		{"LimitExceededException", true, domain.ERATELIMITED, 3},
		{"ConflictException", false, domain.ECONFLICT, 1},
	} {
		t.Run(tc.exception, func(t *testing.T) {
			f, srv := newFakeMedical(t)
			f.exception = tc.exception
			e := newTestAWS(t, srv, func(o *AWSOptions) { o.MaxRetries = 2 })
			_, err := e.Transcribe(context.Background(), pcm, SampleRate)
			var aerr *AWSError
			if !errors.As(err, &aerr) || aerr.Exception != tc.exception || aerr.Retryable != tc.retryable || aerr.Message == "" {
				t.Fatalf("%v (%+v)", err, aerr)
			}
			if domain.ErrorCode(err) != tc.code {
				t.Errorf("code %s, want %s", domain.ErrorCode(err), tc.code)
			}
			if n := len(f.connections()); n != tc.conns {
				t.Errorf("%d connections, want %d", n, tc.conns)
			}
		})
	}
}

// A signature made with the wrong secret or too long ago is refused with
// 403 at the handshake; the error says to check the credentials and the
// clock, and is not tried again.
func TestAWSSignatureRefused(t *testing.T) {
	pcm, _ := recording(2)
	for name, edit := range map[string]func(*AWSOptions){
		"wrong secret": func(o *AWSOptions) {
			o.Credentials = credentials.NewStaticCredentialsProvider(testAccessKey, "not-the-secret", "")
		},
		"expired": func(o *AWSOptions) { o.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) } },
	} {
		t.Run(name, func(t *testing.T) {
			f, srv := newFakeMedical(t)
			e := newTestAWS(t, srv, edit)
			_, err := e.Transcribe(context.Background(), pcm, SampleRate)
			var aerr *AWSError
			if !errors.As(err, &aerr) || aerr.Status != http.StatusForbidden || aerr.Retryable || !strings.Contains(err.Error(), "credentials") ||
				!strings.Contains(err.Error(), "clock") {
				t.Fatalf("%v, want a refused signature", err)
			}
			if n := f.handshakes(); n != 1 {
				t.Errorf("%d handshakes", n)
			}
		})
	}
}

// Cancelling the context ends the stream at once.
func TestAWSCancelled(t *testing.T) {
	f, srv := newFakeMedical(t)
	f.hold = true
	pcm, _ := recording(4)
	e := newTestAWS(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-f.audioSeen
		cancel()
	}()
	_, err := e.Transcribe(ctx, pcm, SampleRate)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v, want context.Canceled", err)
	}
}

func TestAWSErrorAndSpeakerLabels(t *testing.T) {
	for in, want := range map[string]string{"0": "spk_0", "12": "spk_12", "spk_1": "spk_1", " ": ""} {
		if got := speakerLabel(in); got != want {
			t.Errorf("speakerLabel(%q) = %q, want %q", in, got, want)
		}
	}
	events, err := readFrame(eventstream.NewDecoder(), append(exceptionFrame("InternalFailureException", "boom"), transcriptFrame([]heardWord{{n: 1, start: 0, end: 1600}}, false)...))
	if err != nil || len(events) != 2 || events[0].Exception == nil || !events[0].Exception.Retryable || len(events[1].Results) != 1 {
		t.Fatalf("%+v, %v", events, err)
	}
}

// Whatever arrives on the socket, decoding it and turning its results into
// segments never panics, and what comes out is well formed.
func FuzzAWSFrame(f *testing.F) {
	f.Add(transcriptFrame([]heardWord{{n: 1, start: 100, end: 4000}, {n: 4, start: 5000, end: 9000}}, false))
	f.Add(transcriptFrame([]heardWord{{n: 2, start: 0, end: 10}}, true))
	f.Add(exceptionFrame("BadRequestException", "bad"))
	f.Add([]byte("\x00\x00\x00\x10\x00\x00\x00\x00garbage!"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		events, _ := readFrame(eventstream.NewDecoder(), frame)
		const offset = 3 * time.Second
		for _, ev := range events {
			if ev.Exception != nil && ev.Exception.Error() == "" {
				t.Fatal("an exception without words")
			}
			for _, r := range ev.Results {
				for _, s := range resultSegments(r, offset) {
					if s.Start < offset || s.End < s.Start || s.Text == "" {
						t.Fatalf("segment %+v", s)
					}
				}
			}
		}
	})
}
