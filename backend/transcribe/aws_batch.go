package transcribe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/transcribe"
	"github.com/aws/aws-sdk-go-v2/service/transcribe/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/uuid"
	"github.com/healthhub/healthhub/backend/domain"
)

// AWSJobsAPI is the part of the Amazon Transcribe client (a
// *transcribe.Client) the batch engine uses.
type AWSJobsAPI interface {
	StartMedicalTranscriptionJob(ctx context.Context, in *transcribe.StartMedicalTranscriptionJobInput, optFns ...func(*transcribe.Options)) (*transcribe.StartMedicalTranscriptionJobOutput, error)
	GetMedicalTranscriptionJob(ctx context.Context, in *transcribe.GetMedicalTranscriptionJobInput, optFns ...func(*transcribe.Options)) (*transcribe.GetMedicalTranscriptionJobOutput, error)
}

// AWSObjectsAPI is the part of the S3 client (a *s3.Client) the batch
// engine uses.
type AWSObjectsAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// AWSBatchOptions configure transcription of uploaded recordings through
// Amazon Transcribe Medical's batch jobs.
type AWSBatchOptions struct {
	// Jobs and S3 are the service clients, as a rule
	// transcribe.NewFromConfig(cfg) and s3.NewFromConfig(cfg); required.
	Jobs AWSJobsAPI
	S3   AWSObjectsAPI
	// Bucket holds the recording while it is transcribed and receives the
	// transcript, under Prefix (for example "transcribe/"); both are
	// deleted when the job is done. Amazon Transcribe must be allowed to
	// read and write there. A lifecycle rule expiring the prefix after a
	// day removes what a job abandoned mid-way writes later.
	Bucket string
	Prefix string
	// KMSKeyID, when set, encrypts the recording and the transcript with
	// that KMS key (SSE-KMS).
	KMSKeyID string
	// Specialty is PRIMARYCARE, the only one batch jobs take; Type is
	// CONVERSATION (default) or DICTATION; LanguageCode is en-US.
	Specialty    string
	Type         string
	LanguageCode string
	// MaxSpeakers is the most speakers told apart, 2–30; 0 is 2.
	MaxSpeakers int
	// PollInterval is the first wait before asking for the job's status,
	// doubled for each next one up to MaxPollInterval; 0 is 5 s and 1
	// minute. The context given to Transcribe bounds the whole.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// MaxTranscriptBytes bounds the transcript read back; 0 is 64 MiB.
	MaxTranscriptBytes int64
	// Logger tells of jobs and of objects left behind; nil logs nothing.
	Logger *slog.Logger
}

// AWSBatch transcribes a recording as an Amazon Transcribe Medical job:
// the recording is uploaded to S3 as WAV, the job started with speaker
// labels and PHI identification, polled until it ends, its transcript read
// back from S3 and turned into segments; then both objects are deleted.
type AWSBatch struct {
	opts AWSBatchOptions
}

var _ Engine = (*AWSBatch)(nil)

// NewAWSBatch checks the options and returns the engine.
func NewAWSBatch(o AWSBatchOptions) (*AWSBatch, error) {
	if o.Jobs == nil || o.S3 == nil {
		return nil, domain.Invalid("clients", "batch transcription needs an Amazon Transcribe and an S3 client")
	}
	if o.Bucket == "" || strings.ContainsAny(o.Bucket, "/ ") {
		return nil, domain.Invalid("bucket", "the S3 bucket %q for recordings being transcribed is not a bucket name", o.Bucket)
	}
	if strings.HasPrefix(o.Prefix, "/") {
		return nil, domain.Invalid("prefix", "the S3 prefix %q must not start with /", o.Prefix)
	}
	if o.Specialty != "" && !strings.EqualFold(o.Specialty, SpecialtyPrimaryCare) {
		return nil, domain.Invalid("specialty", "Amazon Transcribe Medical batch jobs take the specialty %s only, not %q (streaming takes %s)",
			SpecialtyPrimaryCare, o.Specialty, strings.Join(AWSSpecialties(), ", "))
	}
	if err := validateMedical(&o.Specialty, &o.Type, &o.LanguageCode, []string{SpecialtyPrimaryCare}); err != nil {
		return nil, err
	}
	if o.MaxSpeakers == 0 {
		o.MaxSpeakers = 2
	}
	if o.MaxSpeakers < 2 || o.MaxSpeakers > 30 {
		return nil, domain.Invalid("max_speakers", "Amazon Transcribe tells 2 to 30 speakers apart, not %d", o.MaxSpeakers)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.MaxPollInterval <= 0 {
		o.MaxPollInterval = time.Minute
	}
	o.MaxPollInterval = max(o.MaxPollInterval, o.PollInterval)
	if o.MaxTranscriptBytes <= 0 {
		o.MaxTranscriptBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &AWSBatch{opts: o}, nil
}

// Name is "aws-batch".
func (b *AWSBatch) Name() string { return "aws-batch" }

// Transcribe runs one job for the recording and returns its segments.
func (b *AWSBatch) Transcribe(ctx context.Context, pcm []int16, rate int) ([]Segment, error) {
	if rate < 16000 || rate > 48000 {
		return nil, domain.Invalid("sample_rate", "Amazon Transcribe Medical takes audio at 16000–48000 Hz, not %d Hz", rate)
	}
	if len(pcm) == 0 {
		return nil, nil
	}
	job := "healthhub-" + uuid.NewString()
	in, out := b.opts.Prefix+job+".wav", b.opts.Prefix+job+".json"
	defer b.cleanup(ctx, job, in, out)

	put := &s3.PutObjectInput{Bucket: aws.String(b.opts.Bucket), Key: aws.String(in), Body: bytes.NewReader(WAVBytes(pcm, rate)),
		ContentType: aws.String("audio/wav")}
	if b.opts.KMSKeyID != "" {
		put.ServerSideEncryption, put.SSEKMSKeyId = s3types.ServerSideEncryptionAwsKms, aws.String(b.opts.KMSKeyID)
	}
	if _, err := b.opts.S3.PutObject(ctx, put); err != nil {
		return nil, batchError(ctx, "upload the recording to s3://"+b.opts.Bucket+"/"+in, err)
	}
	start := &transcribe.StartMedicalTranscriptionJobInput{
		MedicalTranscriptionJobName: aws.String(job),
		LanguageCode:                types.LanguageCode(b.opts.LanguageCode),
		Media:                       &types.Media{MediaFileUri: aws.String("s3://" + b.opts.Bucket + "/" + in)},
		MediaFormat:                 types.MediaFormatWav,
		MediaSampleRateHertz:        aws.Int32(int32(rate)),
		Specialty:                   types.Specialty(b.opts.Specialty),
		Type:                        types.Type(b.opts.Type),
		ContentIdentificationType:   types.MedicalContentIdentificationTypePhi,
		OutputBucketName:            aws.String(b.opts.Bucket),
		OutputKey:                   aws.String(out),
		Settings: &types.MedicalTranscriptionSetting{
			ShowSpeakerLabels: aws.Bool(true),
			MaxSpeakerLabels:  aws.Int32(int32(b.opts.MaxSpeakers)),
		},
	}
	if b.opts.KMSKeyID != "" {
		start.OutputEncryptionKMSKeyId = aws.String(b.opts.KMSKeyID)
	}
	if _, err := b.opts.Jobs.StartMedicalTranscriptionJob(ctx, start); err != nil {
		return nil, batchError(ctx, "start the Amazon Transcribe Medical job", err)
	}
	b.opts.Logger.InfoContext(ctx, "amazon transcribe medical job started", "job", job)
	if err := b.wait(ctx, job); err != nil {
		return nil, err
	}
	return b.transcript(ctx, out)
}

// wait polls the job with backoff until it completes or fails.
func (b *AWSBatch) wait(ctx context.Context, job string) error {
	interval := b.opts.PollInterval
	for {
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for Amazon Transcribe Medical job %s: %w", job, context.Cause(ctx))
		case <-t.C:
		}
		got, err := b.opts.Jobs.GetMedicalTranscriptionJob(ctx, &transcribe.GetMedicalTranscriptionJobInput{MedicalTranscriptionJobName: aws.String(job)})
		if err != nil {
			return batchError(ctx, "ask for the Amazon Transcribe Medical job's status", err)
		}
		if got.MedicalTranscriptionJob == nil {
			return fmt.Errorf("the answer about job %s from Amazon Transcribe Medical has no job", job)
		}
		switch j := got.MedicalTranscriptionJob; j.TranscriptionJobStatus {
		case types.TranscriptionJobStatusCompleted:
			return nil
		case types.TranscriptionJobStatusFailed:
			return &domain.Error{Code: domain.EUNAVAILABLE, Message: fmt.Sprintf("the Amazon Transcribe Medical job %s failed: %s", job, aws.ToString(j.FailureReason))}
		}
		interval = min(2*interval, b.opts.MaxPollInterval)
	}
}

// transcript reads the job's output and turns it into segments.
func (b *AWSBatch) transcript(ctx context.Context, key string) ([]Segment, error) {
	obj, err := b.opts.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.opts.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, batchError(ctx, "read the transcript s3://"+b.opts.Bucket+"/"+key, err)
	}
	defer obj.Body.Close()
	data, err := io.ReadAll(io.LimitReader(obj.Body, b.opts.MaxTranscriptBytes+1))
	if err != nil {
		return nil, batchError(ctx, "read the transcript s3://"+b.opts.Bucket+"/"+key, err)
	}
	if int64(len(data)) > b.opts.MaxTranscriptBytes {
		return nil, fmt.Errorf("the transcript s3://%s/%s is larger than the %d bytes allowed", b.opts.Bucket, key, b.opts.MaxTranscriptBytes)
	}
	return batchSegments(data)
}

// cleanup deletes the recording and the transcript, even when the caller
// has given up.
func (b *AWSBatch) cleanup(ctx context.Context, job string, keys ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, k := range keys {
		if _, err := b.opts.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.opts.Bucket), Key: aws.String(k)}); err != nil {
			b.opts.Logger.WarnContext(ctx, "could not delete an object of an Amazon Transcribe Medical job; a lifecycle rule on the prefix will",
				"job", job, "bucket", b.opts.Bucket, "key", k, "err", err)
		}
	}
}

// batchError says what an admin can do about a failed call.
func batchError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return domain.Unavailable(err, "could not %s: %v", what, err)
	}
	status := 0
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	code := api.ErrorCode()
	msg := fmt.Sprintf("could not %s: %s: %s", what, code, api.ErrorMessage())
	switch {
	case code == "AccessDenied" || code == "AccessDeniedException" || code == "UnrecognizedClientException" ||
		code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || status == http.StatusForbidden:
		return domain.Errorf(domain.EUNAVAILABLE, "%s (check the AWS credentials and that they may use s3:PutObject, s3:GetObject and s3:DeleteObject on the bucket and transcribe:StartMedicalTranscriptionJob and transcribe:GetMedicalTranscriptionJob)", msg)
	case code == "NoSuchBucket":
		return domain.Errorf(domain.EUNAVAILABLE, "%s (create the bucket or configure another)", msg)
	case code == "LimitExceededException" || code == "ThrottlingException" || code == "SlowDown" || status == http.StatusTooManyRequests:
		return domain.Errorf(domain.ERATELIMITED, "%s (an AWS limit was reached: try again later)", msg)
	case code == "BadRequestException":
		return domain.Errorf(domain.EINVALID, "%s (check the bucket, the prefix and the transcription settings)", msg)
	}
	return domain.Errorf(domain.EUNAVAILABLE, "%s", msg)
}

// awsBatchOutput is the transcript a medical job writes.
type awsBatchOutput struct {
	Results struct {
		Transcripts []struct {
			Transcript string `json:"transcript"`
		} `json:"transcripts"`
		Items         []awsBatchItem `json:"items"`
		SpeakerLabels *struct {
			Segments []struct {
				StartTime    string `json:"start_time"`
				EndTime      string `json:"end_time"`
				SpeakerLabel string `json:"speaker_label"`
				Items        []struct {
					StartTime    string `json:"start_time"`
					EndTime      string `json:"end_time"`
					SpeakerLabel string `json:"speaker_label"`
				} `json:"items"`
			} `json:"segments"`
		} `json:"speaker_labels"`
	} `json:"results"`
}

type awsBatchItem struct {
	StartTime    string `json:"start_time"`
	EndTime      string `json:"end_time"`
	Type         string `json:"type"`
	SpeakerLabel string `json:"speaker_label"`
	Alternatives []struct {
		Content string `json:"content"`
	} `json:"alternatives"`
}

func batchSeconds(s string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return awsSeconds(f)
}

// batchSegments turns a medical job's transcript into segments: one per
// speaker turn where the job told speakers apart, else one per sentence.
func batchSegments(data []byte) ([]Segment, error) {
	var out awsBatchOutput
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("the Amazon Transcribe Medical transcript is not the JSON expected: %w", err)
	}
	type turn struct {
		start, end time.Duration
		speaker    string
	}
	var turns []turn
	speakers := map[string]int{} // "start end" of an item → its turn
	if sl := out.Results.SpeakerLabels; sl != nil {
		for _, s := range sl.Segments {
			start, ok1 := batchSeconds(s.StartTime)
			end, ok2 := batchSeconds(s.EndTime)
			if !ok1 || !ok2 || end < start {
				continue
			}
			for _, it := range s.Items {
				speakers[it.StartTime+" "+it.EndTime] = len(turns)
			}
			turns = append(turns, turn{start, end, speakerLabel(s.SpeakerLabel)})
		}
	}
	var toks []token
	at := 0 // the turn the last word was in
	for _, it := range out.Results.Items {
		if len(it.Alternatives) == 0 || strings.TrimSpace(it.Alternatives[0].Content) == "" {
			continue
		}
		t := token{text: strings.TrimSpace(it.Alternatives[0].Content), punct: it.Type == "punctuation"}
		if !t.punct {
			var ok1, ok2 bool
			t.start, ok1 = batchSeconds(it.StartTime)
			t.end, ok2 = batchSeconds(it.EndTime)
			if !ok1 || !ok2 || t.end < t.start {
				continue
			}
			if i, ok := speakers[it.StartTime+" "+it.EndTime]; ok {
				at = i
			} else {
				for at+1 < len(turns) && turns[at+1].start <= t.start {
					at++ // items and turns both come in time order
				}
			}
			if len(turns) > 0 {
				t.turn, t.speaker = at, turns[at].speaker
			}
			if it.SpeakerLabel != "" {
				t.speaker = speakerLabel(it.SpeakerLabel)
			}
		}
		toks = append(toks, t)
	}
	return joinTokens(toks, len(turns) == 0), nil
}
