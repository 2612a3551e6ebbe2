package server

import (
	"bytes"
	"context"
	"flag"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/secret"
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
	t.Setenv("AWS_REGION", "eu-central-1")
	s, err = openBlobs(ctx, Config{DataDir: dataDir, BlobS3Bucket: "healthhub-blobs", BlobKMSKeyID: "arn:k"}, secret.NewEphemeral())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*blob.S3); !ok {
		t.Fatalf("a configured bucket opened %T", s)
	}
}
