package server

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/secret"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func loadConfig(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	load := bindFlags(fs, func(k string) string { return env[k] })
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return load()
}

func TestBlobSettings(t *testing.T) {
	dataDir := t.TempDir()
	c, err := loadConfig(t, map[string]string{"HEALTHHUB_DATA_DIR": dataDir})
	if err != nil {
		t.Fatal(err)
	}
	if c.BlobDir != filepath.Join(dataDir, "blobs") || c.BlobS3Bucket != "" {
		t.Fatalf("default blob folder %q, bucket %q; want <data dir>/blobs and none", c.BlobDir, c.BlobS3Bucket)
	}
	c, err = loadConfig(t, map[string]string{"HEALTHHUB_BLOB_S3_BUCKET": "b", "HEALTHHUB_BLOB_S3_PREFIX": "clinic/", "HEALTHHUB_BLOB_KMS_KEY_ID": "arn:k"},
		"--blob-dir", "/srv/blobs")
	if err != nil || c.BlobDir != "/srv/blobs" || c.BlobS3Bucket != "b" || c.BlobS3Prefix != "clinic/" || c.BlobKMSKeyID != "arn:k" {
		t.Fatalf("blob settings %+v, %v", c, err)
	}
	_, err = loadConfig(t, map[string]string{"HEALTHHUB_BLOB_KMS_KEY_ID": "arn:k"})
	if err == nil || !strings.Contains(err.Error(), "HEALTHHUB_BLOB_S3_BUCKET") {
		t.Fatalf("a KMS key without a bucket: %v", err)
	}
}

func TestOpenBlobs(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	s, err := openBlobs(ctx, Config{DataDir: dataDir}, secret.NewEphemeral())
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.Put(ctx, strings.NewReader("an x-ray"))
	if err != nil {
		t.Fatal(err)
	}
	// The folder store in <data dir>/blobs, whether configured or not.
	again, err := openBlobs(ctx, Config{DataDir: t.TempDir(), BlobDir: filepath.Join(dataDir, "blobs")}, secret.NewEphemeral())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Stat(ctx, ref.Key); err != nil {
		t.Fatalf("the blob is not in <data dir>/blobs: %v", err)
	}
	r, err := s.Open(ctx, ref.Key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, []byte("an x-ray")) {
		t.Fatalf("read back %q", got)
	}
}

// TestOpenS3Blobs: a configured bucket is opened through the AWS
// environment and checked at start; a missing one stops the start.
func TestOpenS3Blobs(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	for k, v := range map[string]string{"AWS_REGION": "eu-central-1", "AWS_ENDPOINT_URL_S3": srv.URL,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"} {
		t.Setenv(k, v)
	}
	client := s3.New(s3.Options{Region: "eu-central-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("healthhub-blobs")}); err != nil {
		t.Fatal(err)
	}
	s, err := openBlobs(ctx, Config{DataDir: t.TempDir(), BlobS3Bucket: "healthhub-blobs", BlobS3Prefix: "clinic"}, secret.NewEphemeral())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*blob.S3); !ok {
		t.Fatalf("a configured bucket opened %T", s)
	}
	ref, err := s.Put(ctx, strings.NewReader("a recording"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("healthhub-blobs"), Key: aws.String("clinic/sha256/" + string(ref.Key))}); err != nil {
		t.Fatalf("the blob is not in the bucket under the prefix: %v", err)
	}
	_, err = openBlobs(ctx, Config{DataDir: t.TempDir(), BlobS3Bucket: "no-such-bucket"}, secret.NewEphemeral())
	if err == nil || !strings.Contains(err.Error(), "no-such-bucket") || !strings.Contains(err.Error(), "HEALTHHUB_BLOB_S3_BUCKET") {
		t.Fatalf("a missing bucket: %v", err)
	}
}
