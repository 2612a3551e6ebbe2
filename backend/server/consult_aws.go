package server

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awstranscribe "github.com/aws/aws-sdk-go-v2/service/transcribe"
	"github.com/healthhub/healthhub/backend/consult"
	"github.com/healthhub/healthhub/backend/transcribe"
)

// awsTranscriber streams live recordings through Amazon Transcribe Medical
// and, where the clinic gave a bucket for it, sends uploads as batch jobs.
type awsTranscriber struct {
	*transcribe.AWS
	batch *transcribe.AWSBatch
}

// TranscribeWhole sends a whole uploaded recording as one batch job, or
// streams it when there is no bucket for jobs.
func (a awsTranscriber) TranscribeWhole(ctx context.Context, pcm []int16, rate int) ([]transcribe.Segment, error) {
	if a.batch == nil {
		return a.AWS.Transcribe(ctx, pcm, rate)
	}
	return a.batch.Transcribe(ctx, pcm, rate)
}

// newAWSTranscriber makes the Amazon Transcribe Medical engines, with the
// credentials of the server's AWS configuration.
func newAWSTranscriber(cfg aws.Config, st consult.Settings) (transcribe.Engine, error) {
	stream, err := transcribe.NewAWS(transcribe.AWSOptions{Region: st.Region, Specialty: st.Specialty, Type: st.ConversationType,
		LanguageCode: "en-US", Credentials: cfg.Credentials})
	if err != nil {
		return nil, err
	}
	out := awsTranscriber{AWS: stream}
	if st.UploadBucket != "" {
		// Batch jobs take primary care only.
		if out.batch, err = transcribe.NewAWSBatch(transcribe.AWSBatchOptions{Jobs: awstranscribe.NewFromConfig(cfg), S3: s3.NewFromConfig(cfg),
			Bucket: st.UploadBucket, Prefix: "transcribe/", Specialty: transcribe.SpecialtyPrimaryCare, Type: st.ConversationType, LanguageCode: "en-US"}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
