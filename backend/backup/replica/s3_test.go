package replica_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/healthhub/healthhub/backend/backup/replica"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

const (
	testBucket = "healthhub-replica"
	testKMSKey = "arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// fakeS3 is an S3-compatible server in the test process behind a handler
// that acts as the bucket policy: a write that does not ask for SSE-KMS
// with the bucket's key is refused. down makes it answer 503 to everything.
type fakeS3 struct {
	inner  http.Handler
	url    string
	client *s3.Client
	down   atomic.Bool

	mu      sync.Mutex
	refused int
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	// The replica's S3 client takes its credentials from the environment,
	// as the server's does.
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CA_BUNDLE", "") // the fake speaks plain HTTP
	f := &fakeS3{inner: gofakes3.New(s3mem.New()).Server()}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	f.client = s3.New(s3.Options{Region: "eu-central-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	if _, err := f.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(testBucket)}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	_, object, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	isWrite := object != "" && (r.Method == "PUT" && !r.URL.Query().Has("uploadId") || r.Method == "POST" && r.URL.Query().Has("uploads"))
	if isWrite && (r.Header.Get("X-Amz-Server-Side-Encryption") != "aws:kms" || r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != testKMSKey) {
		f.mu.Lock()
		f.refused++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
		return
	}
	f.inner.ServeHTTP(w, r)
}

func (f *fakeS3) target(prefix string) *replica.S3 {
	return &replica.S3{Bucket: testBucket, Prefix: prefix, Endpoint: f.url, Region: "eu-central-1", KMSKeyID: testKMSKey}
}

// objects lists the keys in the bucket.
func (f *fakeS3) objects(t *testing.T) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(f.client, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// TestS3Replica: replication to a bucket (every write with the bucket's
// KMS key, under the prefix), restored at a point in time and at the
// latest.
func TestS3Replica(t *testing.T) {
	f := newFakeS3(t)
	path := filepath.Join(t.TempDir(), "healthhub.db")
	cfg := replica.Config{S3: f.target("/clinic-a/db/")}
	db := openStore(t, path)
	rep := startReplicator(t, path, cfg)
	insertRound(t, db, 1, 1, 30)
	syncNow(t, rep)
	mark := time.Now()
	nextMillisecond(mark)
	insertRound(t, db, 2, 31, 30)
	syncNow(t, rep)

	if st := rep.Status(); st.Lag != 0 || st.LastError != "" || st.TXID != st.LocalTXID || len(st.Targets) != 1 || st.Targets[0] != "s3://"+testBucket+"/clinic-a/db" {
		t.Fatalf("status: %+v", st)
	}
	keys := f.objects(t)
	if len(keys) == 0 || f.refused != 0 {
		t.Fatalf("the bucket holds %d objects and refused %d writes; want objects and no write without the KMS key", len(keys), f.refused)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "clinic-a/db/") {
			t.Errorf("object %q is not under the prefix", k)
		}
	}

	out, res := restore(t, cfg, mark)
	ids, _ := readRows(t, out)
	wantIDs(t, "restore from the bucket to between the rounds", ids, span(1, 30))
	if res.Source != "s3://"+testBucket+"/clinic-a/db" || res.RestoredAt.After(mark) {
		t.Errorf("restore result %+v", res)
	}
	out, _ = restore(t, cfg, time.Time{})
	ids, _ = readRows(t, out)
	wantIDs(t, "restore from the bucket to the latest", ids, span(1, 60))
}

// TestFileReplicaCopiedToS3: with both a folder and a bucket, the folder
// is written first and the bucket kept a copy of it; while the bucket is
// down the folder goes on, Status names the failure and the lag, and once
// the bucket is back it catches up.
func TestFileReplicaCopiedToS3(t *testing.T) {
	f := newFakeS3(t)
	path := filepath.Join(t.TempDir(), "healthhub.db")
	cfg := replica.Config{Dir: t.TempDir(), S3: f.target("db"), MirrorInterval: time.Hour}
	db := openStore(t, path)
	rep := startReplicator(t, path, cfg)
	insertRound(t, db, 1, 1, 20)
	syncNow(t, rep)
	fromS3 := func() []int {
		out := filepath.Join(t.TempDir(), "restored.db")
		if _, err := replica.Restore(context.Background(), replica.RestoreOptions{Config: cfg, FromS3: true, OutputPath: out}); err != nil {
			t.Fatal(err)
		}
		ids, _ := readRows(t, out)
		return ids
	}
	wantIDs(t, "restore from the bucket", fromS3(), span(1, 20))

	f.down.Store(true)
	insertRound(t, db, 2, 21, 20)
	if err := rep.Sync(context.Background()); err == nil {
		t.Fatal("a sync with the bucket down succeeded")
	}
	st := rep.Status()
	if !strings.Contains(st.LastError, "s3://"+testBucket+"/db") || st.Lag <= 0 || len(st.Targets) != 2 {
		t.Fatalf("status with the bucket down: %+v; want its error and a lag", st)
	}
	out, _ := restore(t, cfg, time.Time{}) // the folder
	ids, _ := readRows(t, out)
	wantIDs(t, "restore from the folder while the bucket is down", ids, span(1, 40))

	f.down.Store(false)
	syncNow(t, rep)
	if st := rep.Status(); st.LastError != "" || st.Lag != 0 {
		t.Fatalf("status once the bucket is back: %+v", st)
	}
	wantIDs(t, "restore from the bucket once it is back", fromS3(), span(1, 40))
}

// TestEmptiedFolderDoesNotEmptyTheBucket: the bucket copies the folder's
// compactions and retention, but a folder emptied (a disk swapped, files
// deleted by hand) does not take the bucket's history with it.
func TestEmptiedFolderDoesNotEmptyTheBucket(t *testing.T) {
	f := newFakeS3(t)
	path := filepath.Join(t.TempDir(), "healthhub.db")
	cfg := replica.Config{Dir: t.TempDir(), S3: f.target("db"), MirrorInterval: time.Hour}
	db := openStore(t, path)
	rep := startReplicator(t, path, cfg)
	insertRound(t, db, 1, 1, 20)
	syncNow(t, rep)
	before := len(f.objects(t))

	if err := os.RemoveAll(filepath.Join(cfg.Dir, "ltx")); err != nil {
		t.Fatal(err)
	}
	insertRound(t, db, 2, 21, 5)
	syncNow(t, rep)
	if after := len(f.objects(t)); after <= before {
		t.Fatalf("the bucket held %d objects and holds %d after the folder was emptied; want none deleted and the new ones added", before, after)
	}
	out := filepath.Join(t.TempDir(), "restored.db")
	if _, err := replica.Restore(context.Background(), replica.RestoreOptions{Config: cfg, FromS3: true, OutputPath: out}); err != nil {
		t.Fatal(err)
	}
	ids, _ := readRows(t, out)
	wantIDs(t, "restore from the bucket after the folder was emptied", ids, span(1, 25))
}
