package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/secret"
)

// blobCheckTimeout bounds the start-up check of an S3 blob store.
const blobCheckTimeout = 30 * time.Second

// openBlobs opens the store of files: the S3 bucket when one is configured
// (hosted mode; region and credentials from the usual AWS environment),
// otherwise the local folder, encrypted under the keyring. A bucket that
// is missing or refuses this server stops the start, with the reason, rather
// than the first upload.
func openBlobs(ctx context.Context, c Config, keys *secret.Keyring) (blob.Store, error) {
	if c.BlobS3Bucket == "" {
		dir := c.BlobDir
		if dir == "" {
			dir = filepath.Join(c.DataDir, "blobs")
		}
		return blob.NewLocal(dir, keys)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration for the S3 blob store: %w", err)
	}
	s, err := blob.NewS3(s3.NewFromConfig(awsCfg), blob.S3Options{Bucket: c.BlobS3Bucket, Prefix: c.BlobS3Prefix, KMSKeyID: c.BlobKMSKeyID})
	if err != nil {
		return nil, err
	}
	checkCtx, cancel := context.WithTimeout(ctx, blobCheckTimeout)
	defer cancel()
	if err := s.Check(checkCtx); err != nil {
		return nil, fmt.Errorf("S3 blob store (HEALTHHUB_BLOB_S3_BUCKET): %w", err)
	}
	return s, nil
}
