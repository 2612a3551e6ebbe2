package transcribe

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/transcribe"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

const testBucket = "healthhub-transcribe"

// newFakeS3 is an S3-compatible server in the test process with the
// bucket made, and a client of it.
func newFakeS3(t *testing.T) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	c := s3.New(s3.Options{Region: testRegion, BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, "")})
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(testBucket)}); err != nil {
		t.Fatal(err)
	}
	return c
}

// wantEmptyBucket fails the test if anything is left in the bucket.
func wantEmptyBucket(t *testing.T, c *s3.Client) {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(testBucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		t.Errorf("left in the bucket: %s", aws.ToString(o.Key))
	}
}

// checkSigned verifies a header-signed request as the service does: the
// Authorization header's signature is computed again over the headers it
// names, the body and the known credentials.
func checkSigned(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return fmt.Errorf("authorization %q", auth)
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ", ") {
		k, v, _ := strings.Cut(f, "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] != testAccessKey || scope[2] != testRegion || scope[3] != "transcribe" {
		return fmt.Errorf("credential scope %q", fields["Credential"])
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return err
	}
	if d := time.Since(signedAt); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("signed at %s", signedAt)
	}
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" && h != "content-length" {
			req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, req, hex.EncodeToString(sum[:]), "transcribe", testRegion, signedAt); err != nil {
		return err
	}
	_, want, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return errors.New("the signature does not match")
	}
	return nil
}

// fakeJobs speaks Amazon Transcribe's JSON 1.1 API for medical jobs: a job
// reads its recording from the fake S3 and, at its second poll, writes the
// transcript there (speaker turns of the words heard, named by loudness)
// or fails.
type fakeJobs struct {
	t      *testing.T
	s3     *s3.Client
	failAs string // the FailureReason of every job, when set
	never  bool   // jobs never finish

	mu    sync.Mutex
	jobs  map[string]*fakeJob
	polls int
}

type fakeJob struct {
	in     startMedicalJob
	polls  int
	status string
}

type startMedicalJob struct {
	MedicalTranscriptionJobName string
	LanguageCode                string
	Media                       struct{ MediaFileUri string }
	MediaFormat                 string
	MediaSampleRateHertz        int
	Specialty                   string
	Type                        string
	ContentIdentificationType   string
	OutputBucketName            string
	OutputKey                   string
	OutputEncryptionKMSKeyId    string
	Settings                    struct {
		ShowSpeakerLabels bool
		MaxSpeakerLabels  int
	}
}

func (f *fakeJobs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		f.t.Errorf("%s %s %s", r.Method, r.URL, r.Header.Get("Content-Type"))
	}
	if err := checkSigned(r, body); err != nil {
		f.fail(w, http.StatusForbidden, "InvalidSignatureException", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch target := r.Header.Get("X-Amz-Target"); target {
	case "Transcribe.StartMedicalTranscriptionJob":
		var in startMedicalJob
		if err := json.Unmarshal(body, &in); err != nil {
			f.fail(w, http.StatusBadRequest, "SerializationException", err.Error())
			return
		}
		if in.LanguageCode != "en-US" || in.Specialty != "PRIMARYCARE" || in.Type != "CONVERSATION" || in.ContentIdentificationType != "PHI" ||
			!in.Settings.ShowSpeakerLabels || in.Settings.MaxSpeakerLabels != 2 || in.MediaFormat != "wav" || in.MediaSampleRateHertz != SampleRate ||
			in.OutputBucketName != testBucket || !strings.HasPrefix(in.OutputKey, "consults/") || !strings.HasSuffix(in.OutputKey, ".json") {
			f.t.Errorf("start job: %+v", in)
		}
		if f.jobs[in.MedicalTranscriptionJobName] != nil {
			f.fail(w, http.StatusBadRequest, "ConflictException", "The requested job name already exists.")
			return
		}
		f.jobs[in.MedicalTranscriptionJobName] = &fakeJob{in: in, status: "IN_PROGRESS"}
		f.answer(w, in, "IN_PROGRESS", "")
	case "Transcribe.GetMedicalTranscriptionJob":
		var in struct{ MedicalTranscriptionJobName string }
		json.Unmarshal(body, &in)
		job := f.jobs[in.MedicalTranscriptionJobName]
		if job == nil {
			f.fail(w, http.StatusBadRequest, "BadRequestException", "The requested job couldn't be found.")
			return
		}
		f.polls++
		if job.polls++; job.polls >= 2 && job.status == "IN_PROGRESS" && !f.never {
			job.status = "COMPLETED"
			if f.failAs == "" {
				if err := f.complete(r.Context(), job.in); err != nil {
					f.t.Errorf("complete the job: %v", err)
				}
			} else {
				job.status = "FAILED"
			}
		}
		f.answer(w, job.in, job.status, f.failAs)
	default:
		f.fail(w, http.StatusBadRequest, "UnknownOperationException", target)
	}
}

func (f *fakeJobs) fail(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": kind, "Message": msg})
}

func (f *fakeJobs) answer(w http.ResponseWriter, in startMedicalJob, status, reason string) {
	job := map[string]any{"MedicalTranscriptionJobName": in.MedicalTranscriptionJobName, "TranscriptionJobStatus": status,
		"LanguageCode": in.LanguageCode, "Specialty": in.Specialty, "Type": in.Type, "Media": map[string]string{"MediaFileUri": in.Media.MediaFileUri}}
	if status == "COMPLETED" {
		job["Transcript"] = map[string]string{"TranscriptFileUri": "https://s3." + testRegion + ".amazonaws.com/" + in.OutputBucketName + "/" + in.OutputKey}
	}
	if reason != "" {
		job["FailureReason"] = reason
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"MedicalTranscriptionJob": job})
}

// complete hears the recording and writes the transcript as a medical job
// does: items with times as strings, a full stop after every second word,
// and speaker turns whose items name the speaker.
func (f *fakeJobs) complete(ctx context.Context, in startMedicalJob) error {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(in.Media.MediaFileUri, "s3://"), "/")
	obj, err := f.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	defer obj.Body.Close()
	pcm, rate, err := DecodeWAV(obj.Body, 64<<20)
	if err != nil {
		return err
	}
	secs := func(s float64) string { return fmt.Sprintf("%.3f", s) }
	var items, turns []map[string]any
	var text []string
	var turnItems []map[string]any
	turnStart, turnSpeaker := "", ""
	heard := hear(pcm, rate)
	for i, h := range heard {
		var n int
		fmt.Sscanf(h["text"].(string), " word%d", &n)
		start, end := secs(h["start"].(float64)), secs(h["end"].(float64))
		if turnSpeaker != "" && speakerOf(n) != turnSpeaker {
			turns = append(turns, map[string]any{"start_time": turnStart, "end_time": turnItems[len(turnItems)-1]["end_time"], "speaker_label": turnSpeaker, "items": turnItems})
			turnItems = nil
		}
		if turnItems == nil {
			turnStart, turnSpeaker = start, speakerOf(n)
		}
		turnItems = append(turnItems, map[string]any{"start_time": start, "end_time": end, "speaker_label": speakerOf(n)})
		items = append(items, map[string]any{"start_time": start, "end_time": end, "type": "pronunciation",
			"alternatives": []any{map[string]string{"confidence": "0.99", "content": fmt.Sprintf("word%d", n)}}})
		text = append(text, fmt.Sprintf("word%d", n))
		if n%2 == 0 || i == len(heard)-1 {
			items = append(items, map[string]any{"type": "punctuation", "alternatives": []any{map[string]string{"confidence": "0.0", "content": "."}}})
		}
	}
	if turnItems != nil {
		turns = append(turns, map[string]any{"start_time": turnStart, "end_time": turnItems[len(turnItems)-1]["end_time"], "speaker_label": turnSpeaker, "items": turnItems})
	}
	out, _ := json.Marshal(map[string]any{"jobName": in.MedicalTranscriptionJobName, "accountId": "111122223333", "status": "COMPLETED",
		"results": map[string]any{"transcripts": []any{map[string]string{"transcript": strings.Join(text, " ")}}, "items": items,
			"speaker_labels": map[string]any{"speakers": 2, "segments": turns}, "entities": []any{}}})
	_, err = f.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(in.OutputBucketName), Key: aws.String(in.OutputKey), Body: bytes.NewReader(out)})
	return err
}

// newFakeJobs starts the fake service and returns a client of it signing
// with secret.
func newFakeJobs(t *testing.T, s3c *s3.Client, secret string) (*fakeJobs, *transcribe.Client) {
	f := &fakeJobs{t: t, s3: s3c, jobs: map[string]*fakeJob{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, transcribe.New(transcribe.Options{Region: testRegion, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, secret, "")})
}

func newTestBatch(t *testing.T, jobs AWSJobsAPI, s3c AWSObjectsAPI) *AWSBatch {
	t.Helper()
	b, err := NewAWSBatch(AWSBatchOptions{Jobs: jobs, S3: s3c, Bucket: testBucket, Prefix: "consults/", PollInterval: time.Millisecond, MaxPollInterval: 4 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantTurns is what the fake job's transcript comes to: one segment per
// speaker turn, the full stops where the job put them.
func wantTurns(words []word) []Segment {
	var out []Segment
	for i, w := range words {
		text := fmt.Sprintf("word%d", w.n)
		if w.n%2 == 0 || i == len(words)-1 {
			text += "."
		}
		if len(out) > 0 && out[len(out)-1].Speaker == speakerOf(w.n) {
			last := &out[len(out)-1]
			last.Text += " " + text
			last.End = w.end
			continue
		}
		out = append(out, Segment{Start: w.start, End: w.end, Speaker: speakerOf(w.n), Text: text})
	}
	return out
}

// A recording is uploaded, transcribed as a medical job polled until it
// completes, its transcript read back and turned into speaker turns; then
// nothing of it is left in the bucket.
func TestAWSBatchTranscribesThroughAJob(t *testing.T) {
	s3c := newFakeS3(t)
	f, jobs := newFakeJobs(t, s3c, testSecretKey)
	b := newTestBatch(t, jobs, s3c)
	if b.Name() != "aws-batch" {
		t.Errorf("name %q", b.Name())
	}
	pcm, words := recording(10)
	segs, err := b.Transcribe(context.Background(), pcm, SampleRate)
	if err != nil {
		t.Fatal(err)
	}
	compareSegments(t, segs, wantTurns(words))
	f.mu.Lock()
	polls := f.polls
	f.mu.Unlock()
	if polls < 2 {
		t.Errorf("%d polls", polls)
	}
	wantEmptyBucket(t, s3c)
}

// A failed job says why; a job that never ends is given up when the
// context ends; either way the bucket is left empty.
func TestAWSBatchFailures(t *testing.T) {
	pcm, _ := recording(3)
	t.Run("failed", func(t *testing.T) {
		s3c := newFakeS3(t)
		f, jobs := newFakeJobs(t, s3c, testSecretKey)
		f.failAs = "The media format provided does not match the detected media format."
		_, err := newTestBatch(t, jobs, s3c).Transcribe(context.Background(), pcm, SampleRate)
		if err == nil || !strings.Contains(err.Error(), "failed: The media format provided") || domain.ErrorCode(err) != domain.EUNAVAILABLE {
			t.Fatalf("%v", err)
		}
		wantEmptyBucket(t, s3c)
	})
	t.Run("cancelled", func(t *testing.T) {
		s3c := newFakeS3(t)
		f, jobs := newFakeJobs(t, s3c, testSecretKey)
		f.never = true
		ctx, cancel := context.WithCancel(context.Background())
		polled := &pollCounter{AWSJobsAPI: jobs, after: 3, cancel: cancel}
		_, err := newTestBatch(t, polled, s3c).Transcribe(ctx, pcm, SampleRate)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v, want context.Canceled", err)
		}
		wantEmptyBucket(t, s3c)
	})
	t.Run("wrong credentials", func(t *testing.T) {
		s3c := newFakeS3(t)
		_, jobs := newFakeJobs(t, s3c, "not-the-secret")
		_, err := newTestBatch(t, jobs, s3c).Transcribe(context.Background(), pcm, SampleRate)
		if err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") || !strings.Contains(err.Error(), "check the AWS credentials") {
			t.Fatalf("%v", err)
		}
		wantEmptyBucket(t, s3c)
	})
	t.Run("no bucket", func(t *testing.T) {
		s3c := newFakeS3(t)
		_, jobs := newFakeJobs(t, s3c, testSecretKey)
		b, err := NewAWSBatch(AWSBatchOptions{Jobs: jobs, S3: s3c, Bucket: "no-such-bucket", PollInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Transcribe(context.Background(), pcm, SampleRate)
		if err == nil || !strings.Contains(err.Error(), "NoSuchBucket") || !strings.Contains(err.Error(), "create the bucket") {
			t.Fatalf("%v", err)
		}
	})
}

// pollCounter cancels the context after a number of status requests.
type pollCounter struct {
	AWSJobsAPI
	after  int
	cancel context.CancelFunc
	n      int
}

func (p *pollCounter) GetMedicalTranscriptionJob(ctx context.Context, in *transcribe.GetMedicalTranscriptionJobInput, optFns ...func(*transcribe.Options)) (*transcribe.GetMedicalTranscriptionJobOutput, error) {
	if p.n++; p.n == p.after {
		p.cancel()
	}
	return p.AWSJobsAPI.GetMedicalTranscriptionJob(ctx, in, optFns...)
}

func TestAWSBatchRefusesBadOptions(t *testing.T) {
	s3c := newFakeS3(t)
	_, jobs := newFakeJobs(t, s3c, testSecretKey)
	for _, tc := range []struct {
		opts  AWSBatchOptions
		field string
		want  string
	}{
		{AWSBatchOptions{S3: s3c, Bucket: testBucket}, "clients", "Amazon Transcribe"},
		{AWSBatchOptions{Jobs: jobs, S3: s3c}, "bucket", "bucket"},
		{AWSBatchOptions{Jobs: jobs, S3: s3c, Bucket: testBucket, Specialty: "CARDIOLOGY"}, "specialty", "PRIMARYCARE only"},
		{AWSBatchOptions{Jobs: jobs, S3: s3c, Bucket: testBucket, Type: "interview"}, "type", "DICTATION"},
		{AWSBatchOptions{Jobs: jobs, S3: s3c, Bucket: testBucket, MaxSpeakers: 40}, "max_speakers", "2 to 30"},
		{AWSBatchOptions{Jobs: jobs, S3: s3c, Bucket: testBucket, Prefix: "/abs"}, "prefix", "must not start"},
	} {
		_, err := NewAWSBatch(tc.opts)
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.EINVALID || de.Field != tc.field || !strings.Contains(de.Message, tc.want) {
			t.Errorf("%+v: %v, want an invalid %s saying %q", tc.opts, err, tc.field, tc.want)
		}
	}
	pcm, _ := recording(1)
	if _, err := newTestBatch(t, jobs, s3c).Transcribe(context.Background(), pcm, 8000); domain.ErrorCode(err) != domain.EINVALID {
		t.Errorf("8 kHz: %v", err)
	}
}

// Without speaker labels a transcript is cut into sentences.
func TestAWSBatchSentencesWithoutSpeakers(t *testing.T) {
	out := `{"results":{"transcripts":[{"transcript":"Chest pain since Monday. No fever?"}],"items":[
	{"start_time":"0.10","end_time":"0.40","type":"pronunciation","alternatives":[{"content":"Chest"}]},
	{"start_time":"0.40","end_time":"0.70","type":"pronunciation","alternatives":[{"content":"pain"}]},
	{"start_time":"0.70","end_time":"0.90","type":"pronunciation","alternatives":[{"content":"since"}]},
	{"start_time":"0.90","end_time":"1.30","type":"pronunciation","alternatives":[{"content":"Monday"}]},
	{"type":"punctuation","alternatives":[{"content":"."}]},
	{"start_time":"2.00","end_time":"2.20","type":"pronunciation","alternatives":[{"content":"No"}]},
	{"start_time":"2.20","end_time":"2.60","type":"pronunciation","alternatives":[{"content":"fever"}]},
	{"type":"punctuation","alternatives":[{"content":"?"}]}]}}`
	segs, err := batchSegments([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Segment{{Start: 100 * time.Millisecond, End: 1300 * time.Millisecond, Text: "Chest pain since Monday."},
		{Start: 2 * time.Second, End: 2600 * time.Millisecond, Text: "No fever?"}}
	if fmt.Sprint(segs) != fmt.Sprint(want) {
		t.Fatalf("%+v, want %+v", segs, want)
	}
}

func FuzzAWSBatchTranscript(f *testing.F) {
	f.Add([]byte(`{"results":{"items":[{"start_time":"0.1","end_time":"0.4","type":"pronunciation","alternatives":[{"content":"a"}]},{"type":"punctuation","alternatives":[{"content":"."}]}],` +
		`"speaker_labels":{"segments":[{"start_time":"0.1","end_time":"0.4","speaker_label":"spk_0","items":[{"start_time":"0.1","end_time":"0.4","speaker_label":"spk_0"}]}]}}}`))
	f.Add([]byte(`{"results":{"items":[{"start_time":"NaN","end_time":"-1","alternatives":[{"content":"x"}]}]}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		segs, err := batchSegments(data)
		if err != nil {
			return
		}
		for _, s := range segs {
			if s.Start < 0 || s.End < s.Start || s.Text == "" {
				t.Fatalf("segment %+v", s)
			}
		}
	})
}
