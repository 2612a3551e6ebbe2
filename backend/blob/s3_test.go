package blob_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/blob/blobtest"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

const (
	testBucket = "healthhub-blobs"
	testKMSKey = "arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// fakeS3 is an S3-compatible server in the test process behind a handler
// that acts as the bucket policy the deployment sets: a write that does not
// ask for SSE-KMS with the bucket's key is refused. It also does the
// UploadPartCopy the in-process server lacks, and counts operations.
type fakeS3 struct {
	t      *testing.T
	inner  http.Handler
	client *s3.Client

	mu  sync.Mutex
	ops map[string]int
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	f := &fakeS3{t: t, inner: gofakes3.New(s3mem.New()).Server(), ops: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.client = s3.New(s3.Options{
		Region: "eu-central-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	if _, err := f.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(testBucket)}); err != nil {
		t.Fatal(err)
	}
	return f
}

// operation names the S3 operation of a path-style request.
func operation(r *http.Request) string {
	bucket, object, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	copySource := r.Header.Get("X-Amz-Copy-Source") != ""
	switch {
	case object == "":
		return r.Method + " bucket " + bucket
	case r.Method == "POST" && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == "POST" && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == "PUT" && q.Has("uploadId") && copySource:
		return "UploadPartCopy"
	case r.Method == "PUT" && q.Has("uploadId"):
		return "UploadPart"
	case r.Method == "PUT" && copySource:
		return "CopyObject"
	case r.Method == "PUT":
		return "PutObject"
	case r.Method == "DELETE" && q.Has("uploadId"):
		return "AbortMultipartUpload"
	case r.Method == "DELETE":
		return "DeleteObject"
	case r.Method == "HEAD":
		return "HeadObject"
	default:
		return "GetObject"
	}
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := operation(r)
	f.mu.Lock()
	f.ops[op]++
	f.mu.Unlock()
	switch op {
	case "PutObject", "CopyObject", "CreateMultipartUpload":
		if r.Header.Get("X-Amz-Server-Side-Encryption") != "aws:kms" || r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != testKMSKey {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?>`+
				`<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>policy</HostId></Error>`)
			return
		}
	case "UploadPartCopy":
		f.uploadPartCopy(w, r)
		return
	}
	f.inner.ServeHTTP(w, r)
}

// uploadPartCopy reads the source range and uploads it as the part.
func (f *fakeS3) uploadPartCopy(w http.ResponseWriter, r *http.Request) {
	source, err := url.PathUnescape(r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	get := httptest.NewRequest("GET", "/"+strings.TrimPrefix(source, "/"), nil)
	get.Header.Set("Range", r.Header.Get("X-Amz-Copy-Source-Range"))
	got := httptest.NewRecorder()
	f.inner.ServeHTTP(got, get)
	if got.Code != http.StatusPartialContent {
		http.Error(w, "copy source: "+got.Body.String(), got.Code)
		return
	}
	put := httptest.NewRequest("PUT", r.URL.RequestURI(), bytes.NewReader(got.Body.Bytes()))
	put.ContentLength = int64(got.Body.Len())
	put.Header.Set("Content-Length", fmt.Sprint(got.Body.Len()))
	part := httptest.NewRecorder()
	f.inner.ServeHTTP(part, put)
	if part.Code != http.StatusOK {
		http.Error(w, "copy part: "+part.Body.String(), part.Code)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	xml.NewEncoder(w).Encode(struct {
		XMLName      xml.Name `xml:"CopyPartResult"`
		ETag         string
		LastModified string
	}{ETag: part.Header().Get("ETag"), LastModified: "2026-01-01T00:00:00.000Z"})
}

func (f *fakeS3) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops[op]
}

func (f *fakeS3) resetCounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.ops)
}

// objects lists every object in the bucket, and uploads every multipart
// upload not completed or aborted.
func (f *fakeS3) objects() (objects, uploads []string) {
	f.t.Helper()
	ctx := context.Background()
	out, err := f.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket)})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range out.Contents {
		objects = append(objects, aws.ToString(o.Key))
	}
	up, err := f.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket)})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload" {
		return objects, nil // the in-process server's answer for a bucket that never had an upload
	}
	if err != nil {
		f.t.Fatal(err)
	}
	for _, u := range up.Uploads {
		uploads = append(uploads, aws.ToString(u.Key))
	}
	return objects, uploads
}

// store opens a store in the fake bucket with parts of 5 MiB and copies of
// more than 24 MiB in 8 MiB ranges, so the suite's large blob is uploaded
// in parts and copied by range; listings come 7 keys a page.
func (f *fakeS3) store(prefix, kmsKey string) *blob.S3 {
	f.t.Helper()
	s, err := blob.NewS3(f.client, blob.S3Options{Bucket: testBucket, Prefix: prefix, KMSKeyID: kmsKey})
	if err != nil {
		f.t.Fatal(err)
	}
	blob.SetS3Sizes(s, 5<<20, 24<<20, 8<<20, 7)
	return s
}

func TestS3(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		f := newFakeS3(t)
		// Other objects in the bucket are no blobs of this store.
		put(t, f.client, "other/sha256/"+string(blobtest.KeyOf([]byte("elsewhere"))), "elsewhere")
		return f.store("clinic-a/", testKMSKey)
	})
}

func put(t *testing.T, c *s3.Client, name, body string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(name),
		Body: strings.NewReader(body), ServerSideEncryption: "aws:kms", SSEKMSKeyId: aws.String(testKMSKey)}); err != nil {
		t.Fatal(err)
	}
}

func TestS3Tamper(t *testing.T) {
	blobtest.RunTamper(t, func(t *testing.T) (blob.Store, func(blob.Key)) {
		f := newFakeS3(t)
		return f.store("", testKMSKey), func(k blob.Key) {
			r, err := f.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String("sha256/" + string(k))})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if len(b) > 0 {
				b[len(b)/2] ^= 1
			} else {
				b = []byte{0}
			}
			put(t, f.client, "sha256/"+string(k), string(b))
		}
	})
}

// TestS3Writes: a small blob is one PutObject; a large one is uploaded in
// parts to a temporary object, copied to its key and the temporary object
// removed; the same content again is not copied; nothing is left over.
func TestS3Writes(t *testing.T) {
	ctx := context.Background()
	f := newFakeS3(t)
	s := f.store("/clinic-a/", testKMSKey)
	small := blobtest.Random(100_000, 1)
	if _, err := s.Put(ctx, bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	if f.count("PutObject") != 1 || f.count("CreateMultipartUpload") != 0 || f.count("CopyObject") != 0 {
		t.Fatalf("a small blob took %v; want one PutObject", f.ops)
	}
	for _, c := range []struct {
		size  int
		copy  string
		parts int
	}{
		{12 << 20, "CopyObject", 3},
		{30 << 20, "UploadPartCopy", 6},
	} {
		f.resetCounts()
		content := blobtest.Random(c.size, uint64(c.size))
		ref, err := s.Put(ctx, bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		if f.count("CreateMultipartUpload") == 0 || f.count("UploadPart") != c.parts || f.count(c.copy) == 0 || f.count("DeleteObject") != 1 {
			t.Fatalf("a blob of %d MiB took %v; want %d parts, a %s and the temporary object deleted", c.size>>20, f.ops, c.parts, c.copy)
		}
		r, err := s.Open(ctx, ref.Key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("a blob of %d MiB read back %d bytes: %v", c.size>>20, len(got), err)
		}
		f.resetCounts()
		if _, err := s.Put(ctx, bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		if f.count("CopyObject")+f.count("UploadPartCopy") != 0 || f.count("DeleteObject") != 1 {
			t.Fatalf("the same %d MiB again took %v; want no copy", c.size>>20, f.ops)
		}
	}
	objects, uploads := f.objects()
	if len(objects) != 3 || len(uploads) != 0 {
		t.Fatalf("the bucket holds %v and uploads %v; want three blobs", objects, uploads)
	}
	for _, o := range objects {
		if !strings.HasPrefix(o, "clinic-a/sha256/") {
			t.Errorf("object %q is not under clinic-a/sha256/", o)
		}
	}
}

// TestS3FailedPutsLeaveNothing: a reader that fails mid-way aborts the
// upload and leaves no object.
func TestS3FailedPutsLeaveNothing(t *testing.T) {
	f := newFakeS3(t)
	s := f.store("", testKMSKey)
	for _, n := range []int64{1 << 20, 5 << 20, 23 << 20} {
		r := io.MultiReader(blobtest.Stream(n, 1), iotestErr{})
		if _, err := s.Put(context.Background(), r); err == nil {
			t.Fatalf("a reader failing after %d bytes stored a blob", n)
		}
	}
	if objects, uploads := f.objects(); len(objects) != 0 || len(uploads) != 0 {
		t.Fatalf("failed puts left objects %v and uploads %v", objects, uploads)
	}
}

// TestS3RefusedWithoutTheKMSKey: the bucket policy refuses writes that do
// not ask for its KMS key, and the store says what to set.
func TestS3RefusedWithoutTheKMSKey(t *testing.T) {
	for _, c := range []struct{ name, key, hint string }{
		{"no key", "", "HEALTHHUB_BLOB_KMS_KEY_ID"},
		{"another key", "arn:aws:kms:eu-central-1:111122223333:key/another", "key/another"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeS3(t)
			s := f.store("", c.key)
			for _, size := range []int{10, 6 << 20} {
				_, err := s.Put(context.Background(), bytes.NewReader(blobtest.Random(size, 2)))
				if !domain.IsCode(err, domain.EUNAVAILABLE) || !strings.Contains(err.Error(), "AccessDenied") || !strings.Contains(err.Error(), c.hint) {
					t.Fatalf("a %d-byte put: %v; want an unavailable error that names AccessDenied and %q", size, err, c.hint)
				}
			}
			if objects, uploads := f.objects(); len(objects) != 0 || len(uploads) != 0 {
				t.Fatalf("refused puts left objects %v and uploads %v", objects, uploads)
			}
		})
	}
}

func TestS3Check(t *testing.T) {
	f := newFakeS3(t)
	if err := f.store("", testKMSKey).Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, _ := blob.NewS3(f.client, blob.S3Options{Bucket: "no-such-bucket"})
	if err := s.Check(context.Background()); !domain.IsCode(err, domain.EUNAVAILABLE) || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("a missing bucket: %v", err)
	}
	if _, err := blob.NewS3(f.client, blob.S3Options{}); err == nil {
		t.Fatal("a store without a bucket")
	}
}

// TestS3ContextEndsMidUpload: a Put whose context ends while parts are in
// flight returns the context's error and aborts the upload.
func TestS3ContextEndsMidUpload(t *testing.T) {
	f := newFakeS3(t)
	s := f.store("", testKMSKey)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{r: blobtest.Stream(40<<20, 3), n: 12 << 20, cancel: cancel}
	if _, err := s.Put(ctx, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("put: %v; want the context's error", err)
	}
	if objects, uploads := f.objects(); len(objects) != 0 || len(uploads) != 0 {
		t.Fatalf("a cancelled put left objects %v and uploads %v", objects, uploads)
	}
}

// cancelAfter cancels a context once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= int64(n); c.n <= 0 {
		c.cancel()
	}
	return n, err
}
