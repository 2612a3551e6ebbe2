package knowledge_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/store/storetest"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// s3Server runs an S3-compatible server in the test process and returns a
// real SDK client for it.
func s3Server(t *testing.T, bucket string) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region: "eu-central-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return client
}

func put(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte(body))}); err != nil {
		t.Fatal(err)
	}
}

func TestS3Source(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			c := s3Server(t, "clinic-docs")
			// More objects than one listing page holds (1,000), so paging is used.
			for i := range 1005 {
				put(t, c, "clinic-docs", fmt.Sprintf("leaflets/generated/%04d.md", i), fmt.Sprintf("# Leaflet %d\n\nTopic word%d.", i, i))
			}
			put(t, c, "clinic-docs", "leaflets/asthma.md", "# Asthma\n\nBring your inhaler to every review.")
			put(t, c, "clinic-docs", "leaflets/../escape.md", "# Escape\n\nA key with dots is only a name.")
			put(t, c, "clinic-docs", "other/not-this.md", "# Elsewhere\n\nOutside the prefix: peanuts.")

			f := newService(t, e.Open(t), knowledge.Options{S3: c, S3Interval: time.Hour})
			st, err := f.svc.AddSource(as(admin), knowledge.NewSource{Kind: domain.SourceS3, Bucket: "clinic-docs", Prefix: "leaflets/", Visibility: domain.VisibilityEveryone})
			if err != nil {
				t.Fatal(err)
			}
			f.waitFound("inhaler", "leaflets/asthma.md")
			f.waitFound("word1004", "leaflets/generated/1004.md")
			f.waitFound("dots", "leaflets/../escape.md")
			f.waitFound("peanuts")

			// Changed, deleted and new objects, picked up on demand.
			put(t, c, "clinic-docs", "leaflets/asthma.md", "# Asthma\n\nA spacer helps children use inhalers.")
			if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("clinic-docs"), Key: aws.String("leaflets/generated/0007.md")}); err != nil {
				t.Fatal(err)
			}
			put(t, c, "clinic-docs", "leaflets/travel.md", "# Travel\n\nYellow fever vaccine needs ten days.")
			if _, err := f.svc.Sync(as(admin), st.ID); err != nil {
				t.Fatal(err)
			}
			f.waitFound("spacer", "leaflets/asthma.md")
			f.waitFound("yellow fever", "leaflets/travel.md")
			f.waitFound("word7")
			f.waitFound("review")
			counts, err := f.db.SourceCounts(context.Background(), st.ID)
			if err != nil || counts.Indexed != 1005+2 || counts.Failed != 0 {
				t.Fatalf("counts = %+v, %v", counts, err)
			}
		})
	}
}

// TestS3ObjectVanishesBetweenListAndGet: an object deleted after the
// listing is treated as deleted, not failed, and the rest is indexed.
func TestS3ObjectVanishesBetweenListAndGet(t *testing.T) {
	c := s3Server(t, "kb-docs")
	put(t, c, "kb-docs", "a.md", "# A\n\nAlpha text.")
	put(t, c, "kb-docs", "b.md", "# B\n\nBravo text.")
	f := newService(t, storetest.OpenSQLite(t), knowledge.Options{S3: vanishing{Client: c, key: "b.md"}, S3Interval: time.Hour})
	st, err := f.svc.AddSource(as(admin), knowledge.NewSource{Kind: domain.SourceS3, Bucket: "kb-docs", Visibility: domain.VisibilityStaff})
	if err != nil {
		t.Fatal(err)
	}
	f.waitFound("alpha", "a.md")
	eventually(t, "the scan ends", func() bool {
		s, _ := f.db.Source(context.Background(), st.ID)
		return s != nil && !s.LastScanAt.IsZero()
	})
	if got := f.found("bravo"); len(got) != 0 {
		t.Fatalf("a vanished object is searchable: %v", got)
	}
	if failed, _ := f.svc.Failures(as(admin), st.ID); len(failed) != 0 {
		t.Fatalf("a vanished object was recorded as failed: %+v", failed)
	}
}

// vanishing deletes one object right after it is listed.
type vanishing struct {
	*s3.Client
	key string
}

func (v vanishing) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out, err := v.Client.ListObjectsV2(ctx, in, opts...)
	if err == nil {
		for _, o := range out.Contents {
			if strings.EqualFold(aws.ToString(o.Key), v.key) {
				v.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: in.Bucket, Key: o.Key})
			}
		}
	}
	return out, err
}
