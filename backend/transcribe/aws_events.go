package transcribe

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// The event-stream messages Amazon Transcribe's WebSocket API speaks: audio
// goes out as AudioEvent messages, transcripts and exceptions come back.

// audioEvent encodes pcm (16-bit little-endian) as one AudioEvent message;
// an empty pcm is the message that ends the stream.
func audioEvent(enc *eventstream.Encoder, pcm []int16) ([]byte, error) {
	payload := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(payload[2*i:], uint16(s))
	}
	msg := eventstream.Message{Payload: payload}
	msg.Headers.Set(":message-type", eventstream.StringValue("event"))
	msg.Headers.Set(":event-type", eventstream.StringValue("AudioEvent"))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/octet-stream"))
	var b bytes.Buffer
	if err := enc.Encode(&b, msg); err != nil {
		return nil, fmt.Errorf("encode an audio event: %w", err)
	}
	return b.Bytes(), nil
}

// streamEvent is what one message from Amazon Transcribe says: results of
// a TranscriptEvent, or an exception.
type streamEvent struct {
	Results   []awsResult
	Exception *AWSError
}

// awsResult is a TranscriptEvent's result as Amazon Transcribe Medical
// sends it; times are seconds from the start of the audio of the
// connection.
type awsResult struct {
	ResultID     string  `json:"ResultId"`
	StartTime    float64 `json:"StartTime"`
	EndTime      float64 `json:"EndTime"`
	IsPartial    bool    `json:"IsPartial"`
	ChannelID    string  `json:"ChannelId"`
	Alternatives []struct {
		Transcript string    `json:"Transcript"`
		Items      []awsItem `json:"Items"`
		Entities   []struct {
			StartTime  float64 `json:"StartTime"`
			EndTime    float64 `json:"EndTime"`
			Category   string  `json:"Category"`
			Content    string  `json:"Content"`
			Confidence float64 `json:"Confidence"`
		} `json:"Entities"`
	} `json:"Alternatives"`
}

type awsItem struct {
	StartTime  float64 `json:"StartTime"`
	EndTime    float64 `json:"EndTime"`
	Type       string  `json:"Type"` // pronunciation | punctuation
	Content    string  `json:"Content"`
	Speaker    string  `json:"Speaker"`
	Confidence float64 `json:"Confidence"`
}

// maxStreamSeconds bounds the times believed from the service: a stream
// lasts at most four hours, and a time past a day is a broken message.
const maxStreamSeconds = 24 * 3600

// maxHeaderBytes bounds the headers of a message from the service, which
// sends a handful.
const maxHeaderBytes = 4 << 10

// readFrame decodes the event-stream messages of one WebSocket message.
// Anything it cannot make sense of is an error, never a panic.
func readFrame(dec *eventstream.Decoder, frame []byte) ([]streamEvent, error) {
	var out []streamEvent
	for len(frame) > 0 {
		// The prelude is checked before the decoder trusts it: lengths
		// that do not add up, or more headers than a message has, are a
		// broken message (and many tiny headers cost the decoder time
		// growing with their square).
		if len(frame) < 16 {
			return out, fmt.Errorf("the stream from Amazon Transcribe has %d bytes that are no event-stream message", len(frame))
		}
		total, headers := binary.BigEndian.Uint32(frame[0:]), binary.BigEndian.Uint32(frame[4:])
		if total < 16 || uint64(total) > uint64(len(frame)) || headers > total-16 || headers > maxHeaderBytes {
			return out, fmt.Errorf("the stream from Amazon Transcribe has an event-stream message of %d bytes with %d of headers in %d bytes", total, headers, len(frame))
		}
		msg, err := dec.Decode(bytes.NewReader(frame[:total]), nil)
		frame = frame[total:]
		if err != nil {
			return out, fmt.Errorf("the stream from Amazon Transcribe has a message that is not an event-stream message: %w", err)
		}
		ev, err := readMessage(msg)
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func readMessage(msg eventstream.Message) (streamEvent, error) {
	header := func(name string) string {
		if v, ok := msg.Headers.Get(name).(eventstream.StringValue); ok {
			return string(v)
		}
		return ""
	}
	switch header(":message-type") {
	case "exception":
		return streamEvent{Exception: exceptionOf(header(":exception-type"), msg.Payload)}, nil
	case "error":
		// A failure the service describes with headers only.
		return streamEvent{Exception: exceptionOf(header(":error-code"), []byte(`{"Message":`+quote(header(":error-message"))+`}`))}, nil
	case "event":
		if header(":event-type") != "TranscriptEvent" {
			return streamEvent{}, nil // nothing this engine uses
		}
		var ev struct {
			Transcript struct {
				Results []awsResult `json:"Results"`
			} `json:"Transcript"`
		}
		if err := json.Unmarshal(msg.Payload, &ev); err != nil {
			return streamEvent{}, fmt.Errorf("the stream from Amazon Transcribe has a TranscriptEvent that is not JSON: %w", err)
		}
		return streamEvent{Results: ev.Transcript.Results}, nil
	default:
		return streamEvent{}, fmt.Errorf("the stream from Amazon Transcribe has a message of unknown type %q", header(":message-type"))
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// exceptionOf reads an exception message's payload ({"Message": "…"}).
func exceptionOf(kind string, payload []byte) *AWSError {
	var body struct {
		Message  string `json:"Message"`
		Message2 string `json:"message"`
	}
	_ = json.Unmarshal(payload, &body) // a payload that is no JSON still names the exception
	msg := body.Message
	if msg == "" {
		msg = body.Message2
	}
	if kind == "" {
		kind = "UnknownException"
	}
	return newAWSError(kind, msg)
}

// awsSeconds turns the service's seconds into a duration, refusing what no
// recording has.
func awsSeconds(s float64) (time.Duration, bool) {
	if math.IsNaN(s) || s < 0 || s > maxStreamSeconds {
		return 0, false
	}
	return time.Duration(math.Round(s * float64(time.Second))), true
}

// token is a word or punctuation mark of a transcript, timed in the
// recording; turn numbers the stretch of speech the service put it in.
type token struct {
	text       string
	start, end time.Duration
	speaker    string
	punct      bool
	turn       int
}

// speakerLabel names a speaker as the batch output does ("spk_0"), the
// streaming API sending either that or a bare number.
func speakerLabel(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return s
		}
	}
	return "spk_" + s
}

// resultSegments turns a result into segments in the recording's
// timeline (offset is where the connection's audio starts), one per run
// of one speaker's words. A result with broken times gives none.
func resultSegments(r awsResult, offset time.Duration) []Segment {
	if len(r.Alternatives) == 0 {
		return nil
	}
	start, ok1 := awsSeconds(r.StartTime)
	end, ok2 := awsSeconds(r.EndTime)
	if !ok1 || !ok2 || end < start {
		return nil
	}
	alt := r.Alternatives[0]
	var toks []token
	for _, it := range alt.Items {
		s, ok1 := awsSeconds(it.StartTime)
		e, ok2 := awsSeconds(it.EndTime)
		text := strings.TrimSpace(it.Content)
		if text == "" {
			continue
		}
		punct := it.Type == "punctuation"
		if !punct && (!ok1 || !ok2 || e < s) {
			return nil
		}
		toks = append(toks, token{text: text, start: offset + s, end: offset + e, speaker: speakerLabel(it.Speaker), punct: punct})
	}
	segs := joinTokens(toks, false)
	if len(segs) <= 1 {
		// One speaker: the service's own transcript, timed by the result.
		text := strings.TrimSpace(alt.Transcript)
		if text == "" {
			return nil
		}
		speaker := ""
		if len(segs) == 1 {
			speaker = segs[0].Speaker
		}
		return []Segment{{Start: offset + start, End: offset + end, Speaker: speaker, Text: text}}
	}
	return segs
}

// joinTokens makes segments of tokens: a new one where the speaker or the
// turn changes, and after a full stop when bySentence. Punctuation joins
// the word before it.
func joinTokens(toks []token, bySentence bool) []Segment {
	var out []Segment
	var cur *Segment
	var b strings.Builder
	turn, words := -1, 0
	flush := func() {
		if cur != nil && words > 0 {
			cur.Text = b.String()
			out = append(out, *cur)
		}
		cur, words = nil, 0
		b.Reset()
	}
	sentenceEnded := false
	for _, t := range toks {
		if t.punct {
			if cur != nil {
				b.WriteString(t.text)
				sentenceEnded = strings.ContainsAny(t.text, ".?!")
			}
			continue
		}
		if cur != nil && (t.speaker != cur.Speaker || t.turn != turn || (bySentence && sentenceEnded)) {
			flush()
		}
		sentenceEnded = false
		if cur == nil {
			cur, turn = &Segment{Start: t.start, Speaker: t.speaker}, t.turn
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
		cur.End = max(cur.End, t.end)
		words++
	}
	flush()
	return out
}
