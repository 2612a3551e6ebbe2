package knowledge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Opener is the part of the S3 client the knowledge base uses;
// *s3.Client is one.
type S3Opener interface {
	s3.ListObjectsV2APIClient
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ S3Opener = (*s3.Client)(nil)

// pollS3 lists the source's bucket and prefix at start, on its schedule and
// on request, and brings the store in line with it.
func (s *Service) pollS3(ctx context.Context, r *runner) {
	tick := time.NewTicker(s.opts.S3Interval)
	defer tick.Stop()
	for {
		s.syncS3(ctx, r)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.scanReq:
		}
	}
}

// listS3 lists every object under the prefix, page by page. Keys are
// identifiers here, never paths on disk, so "../" in a key reaches nothing;
// folder markers (keys ending in "/") are skipped.
func listS3(ctx context.Context, client S3Opener, bucket, prefix string) ([]candidate, error) {
	var out []candidate
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if key == "" || strings.HasSuffix(key, "/") || ignored(key[strings.LastIndexByte(key, '/')+1:]) {
				continue
			}
			out = append(out, candidate{
				Path: key, Size: aws.ToInt64(o.Size), ModTime: modTime(aws.ToTime(o.LastModified)),
				ETag: strings.Trim(aws.ToString(o.ETag), `"`), Open: openObject(client, bucket, key, strings.Trim(aws.ToString(o.ETag), `"`)),
			})
		}
	}
	return out, nil
}

// openObject fetches one object, as listed: an object replaced since is
// fetched only if its ETag still matches, so what is stored is what was
// listed (the next listing picks up the new version).
func openObject(client S3Opener, bucket, key, etag string) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if etag != "" {
			in.IfMatch = aws.String(`"` + etag + `"`)
		}
		out, err := client.GetObject(ctx, in)
		var nsk *types.NoSuchKey
		var api smithy.APIError
		switch {
		case errors.As(err, &nsk):
			return nil, errVanished
		case errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "PreconditionFailed"):
			return nil, errVanished
		case err != nil:
			return nil, fmt.Errorf("S3 refused the object: %v", err)
		}
		return out.Body, nil
	}
}

func (s *Service) syncS3(ctx context.Context, r *runner) {
	found, err := listS3(ctx, s.s3, r.src.Bucket, r.src.Prefix)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		s.logger.Warn("knowledge: S3 listing failed", "source", r.src.ID, "err", err)
		//lint:ignore ST1005 the administrator reads this sentence as written, beside the source
		s.syncPass(ctx, r, nil, nil, true, fmt.Errorf("The bucket could not be listed: %v", err))
		return
	}
	stored, err := s.store.Files(ctx, r.src.ID)
	if err != nil {
		s.logger.Error("knowledge: read stored files", "source", r.src.ID, "err", err)
		return
	}
	todo, gone := diff(found, stored, func(string) bool { return true })
	s.syncPass(ctx, r, todo, gone, true, nil)
}
