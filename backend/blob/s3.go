package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/healthhub/healthhub/backend/domain"
)

// S3API is the part of the S3 client the store uses; *s3.Client is one.
type S3API interface {
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, opts ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, opts ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	CopyObject(ctx context.Context, in *s3.CopyObjectInput, opts ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	s3.ListObjectsV2APIClient
}

var _ S3API = (*s3.Client)(nil)

// S3Options say where blobs go in S3.
type S3Options struct {
	Bucket string
	// Prefix is a folder in the bucket ("" for its top); blobs are kept
	// under <Prefix>/sha256/ and uploads in progress under <Prefix>/tmp/.
	Prefix string
	// KMSKeyID is the KMS key (its ARN, as the bucket policy names it)
	// every write asks S3 to encrypt with (SSE-KMS). Empty leaves
	// encryption to the bucket's default.
	KMSKeyID string
}

// S3 keeps blobs in an S3 bucket, one object per blob named by its key. A
// blob that fits one part (16 MiB) is hashed before it is sent and written
// under its key at once; a larger one is uploaded in parts to a temporary
// object while it is hashed, then copied within S3 to its key (unless that
// is there already) and the temporary object removed. A lifecycle rule
// should expire <Prefix>/tmp/ and abort incomplete multipart uploads after
// a day, for uploads a dying process leaves behind.
type S3 struct {
	client S3API
	bucket string
	prefix string
	kmsKey string
	// partSize is the size of upload parts; parallel of them are held
	// and sent at once.
	partSize int64
	parallel int
	// copyLimit is the largest object one CopyObject copies (S3 takes 5
	// GiB); larger ones are copied in copyPart ranges.
	copyLimit int64
	copyPart  int64
	listPage  int32
}

var _ Store = (*S3)(nil)

const (
	maxParts = 10000 // S3's limit for one multipart upload
	gib      = 1 << 30
)

// NewS3 returns the store in o.Bucket, through client.
func NewS3(client S3API, o S3Options) (*S3, error) {
	if client == nil || o.Bucket == "" {
		return nil, errors.New("blob: the S3 store needs a client and a bucket")
	}
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: client, bucket: o.Bucket, prefix: prefix, kmsKey: o.KMSKeyID,
		partSize: 16 << 20, parallel: 4, copyLimit: 5 * gib, copyPart: 512 << 20}, nil
}

func (s *S3) object(k Key) string { return s.prefix + "sha256/" + string(k) }

// Check asks S3 whether the bucket is there and this server may use it.
func (s *S3) Check(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return s.fault("reach the bucket", err)
	}
	return nil
}

// sse returns the encryption settings every write carries.
func (s *S3) sse() (types.ServerSideEncryption, *string) {
	if s.kmsKey == "" {
		return "", nil
	}
	return types.ServerSideEncryptionAwsKms, aws.String(s.kmsKey)
}

// Put uploads r; see S3 for the steps.
func (s *S3) Put(ctx context.Context, r io.Reader) (Ref, error) {
	if err := ctx.Err(); err != nil {
		return Ref{}, err
	}
	h := sha256.New()
	// Read up to a part, in a buffer that grows only as far as r goes.
	first, err := io.ReadAll(io.LimitReader(r, s.partSize))
	if err != nil {
		return Ref{}, fmt.Errorf("read blob: %w", err)
	}
	h.Write(first)
	if int64(len(first)) == s.partSize {
		return s.putLarge(ctx, r, h, first)
	}
	n := len(first)
	ref := Ref{Key: keyOf(h), Size: int64(n)}
	if there, err := s.exists(ctx, ref.Key); err != nil {
		return Ref{}, err
	} else if there {
		return ref, nil
	}
	mode, keyID := s.sse()
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.object(ref.Key)),
		Body: bytes.NewReader(first), ContentLength: aws.Int64(int64(n)), ServerSideEncryption: mode, SSEKMSKeyId: keyID}); err != nil {
		return Ref{}, s.fault("store a blob", err)
	}
	return ref, nil
}

func (s *S3) putLarge(ctx context.Context, r io.Reader, h hash.Hash, first []byte) (Ref, error) {
	tmp := s.prefix + "tmp/" + randomName()
	mode, keyID := s.sse()
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(tmp),
		ServerSideEncryption: mode, SSEKMSKeyId: keyID, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		return Ref{}, s.fault("start an upload", err)
	}
	parts, size, err := s.uploadParts(ctx, tmp, up.UploadId, r, h, first)
	if err == nil {
		_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(tmp),
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		err = s.fault("finish an upload", err)
	}
	if err != nil {
		s.abort(ctx, tmp, up.UploadId)
		return Ref{}, err
	}
	defer s.remove(ctx, tmp)
	ref := Ref{Key: keyOf(h), Size: size}
	if there, err := s.exists(ctx, ref.Key); err != nil {
		return Ref{}, err
	} else if there {
		return ref, nil
	}
	if err := s.copy(ctx, tmp, s.object(ref.Key), size); err != nil {
		return Ref{}, err
	}
	return ref, nil
}

// uploadParts sends first and the rest of r as the parts of an upload, up
// to s.parallel at once, hashing what it reads into h.
func (s *S3) uploadParts(ctx context.Context, tmp string, uploadID *string, r io.Reader, h hash.Hash, first []byte) ([]types.CompletedPart, int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		parts []types.CompletedPart
	)
	free := make(chan []byte, s.parallel)
	for range s.parallel - 1 {
		free <- nil // made when first needed
	}
	send := func(num int32, data []byte) {
		defer wg.Done()
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(s.bucket), Key: aws.String(tmp), UploadId: uploadID,
			PartNumber: aws.Int32(num), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			cancel(s.fault("upload a part", err))
		} else {
			mu.Lock()
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
			mu.Unlock()
		}
		free <- data[:cap(data)]
	}
	size, num := int64(len(first)), int32(1)
	wg.Add(1)
	go send(num, first)
	for ctx.Err() == nil {
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
			continue
		}
		if int64(cap(buf)) < s.partSize {
			buf = make([]byte, s.partSize)
		}
		buf = buf[:s.partSize]
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if num == maxParts {
				cancel(domain.Errorf(domain.ETOOLARGE, "The file is larger than file storage takes (%d GiB).", int64(maxParts)*s.partSize/gib))
				break
			}
			h.Write(buf[:n])
			size += int64(n)
			num++
			wg.Add(1)
			go send(num, buf[:n])
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			cancel(fmt.Errorf("read blob: %w", err))
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, 0, err
	}
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	return parts, size, nil
}

// copy copies the object src to dst within the bucket, in ranges when it is
// larger than one CopyObject takes.
func (s *S3) copy(ctx context.Context, src, dst string, size int64) error {
	source := aws.String(url.PathEscape(s.bucket) + "/" + escapeKey(src))
	mode, keyID := s.sse()
	if size <= s.copyLimit {
		_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(dst), CopySource: source,
			ServerSideEncryption: mode, SSEKMSKeyId: keyID})
		return s.fault("copy a blob to its key", err)
	}
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(dst),
		ServerSideEncryption: mode, SSEKMSKeyId: keyID})
	if err != nil {
		return s.fault("start a copy", err)
	}
	var parts []types.CompletedPart
	for num, from := int32(1), int64(0); from < size; num, from = num+1, from+s.copyPart {
		to := min(from+s.copyPart, size) - 1
		out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String(s.bucket), Key: aws.String(dst), UploadId: up.UploadId,
			PartNumber: aws.Int32(num), CopySource: source, CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", from, to))})
		if err != nil {
			s.abort(ctx, dst, up.UploadId)
			return s.fault("copy a part", err)
		}
		part := types.CompletedPart{PartNumber: aws.Int32(num)}
		if out.CopyPartResult != nil {
			part.ETag = out.CopyPartResult.ETag
		}
		parts = append(parts, part)
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(dst),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		s.abort(ctx, dst, up.UploadId)
		return s.fault("finish a copy", err)
	}
	return nil
}

// cleanupTimeout bounds the requests that tidy up after a failed or
// finished upload; they run even when the caller's context has ended.
const cleanupTimeout = time.Minute

func (s *S3) abort(ctx context.Context, name string, uploadID *string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(name), UploadId: uploadID})
}

func (s *S3) remove(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(name)})
}

func (s *S3) exists(ctx context.Context, k Key) (bool, error) {
	_, err := s.Stat(ctx, k)
	if domain.IsCode(err, domain.ENOTFOUND) {
		return false, nil
	}
	return err == nil, err
}

// Open streams the object; reading it to the end checks it against key.
func (s *S3) Open(ctx context.Context, key Key) (io.ReadCloser, error) {
	if err := key.check(); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.object(key))})
	if err != nil {
		return nil, s.readFault(key, err)
	}
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return newVerifier(out.Body, key, size), nil
}

// OpenRange asks S3 for the range alone.
func (s *S3) OpenRange(ctx context.Context, key Key, offset, length int64) (io.ReadCloser, error) {
	if err := key.check(); err != nil {
		return nil, err
	}
	if offset < 0 {
		_, err := checkRange(0, offset, length)
		return nil, err
	}
	if length == 0 {
		return s.emptyRange(ctx, key, offset)
	}
	rng := fmt.Sprintf("bytes=%d-", offset)
	if length > 0 && length <= math.MaxInt64-offset {
		rng += fmt.Sprint(offset + length - 1)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.object(key)), Range: aws.String(rng)})
	if status(err) == 416 {
		// S3 has no bytes to give from offset: fine at the very end.
		return s.emptyRange(ctx, key, offset)
	}
	if err != nil {
		return nil, s.readFault(key, err)
	}
	return out.Body, nil
}

func (s *S3) emptyRange(ctx context.Context, key Key, offset int64) (io.ReadCloser, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	if _, err := checkRange(info.Size, offset, 0); err != nil {
		return nil, err
	}
	return io.NopCloser(strings.NewReader("")), nil
}

// Stat asks S3 for the object's head.
func (s *S3) Stat(ctx context.Context, key Key) (Info, error) {
	if err := key.check(); err != nil {
		return Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.object(key))})
	if err != nil {
		return Info{}, s.readFault(key, err)
	}
	return Info{Ref: Ref{Key: key, Size: aws.ToInt64(out.ContentLength)}, Modified: aws.ToTime(out.LastModified)}, nil
}

// Delete removes the object.
func (s *S3) Delete(ctx context.Context, key Key) error {
	if err := key.check(); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.object(key))})
	return s.fault("delete a blob", err)
}

// List pages through the objects under <Prefix>/sha256/, which S3 returns
// in key order.
func (s *S3) List(ctx context.Context, after Key, fn func(Info) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + "sha256/")}
	if after != "" {
		if err := after.check(); err != nil {
			return err
		}
		in.StartAfter = aws.String(s.object(after))
	}
	if s.listPage > 0 {
		in.MaxKeys = aws.Int32(s.listPage)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s.fault("list blobs", err)
		}
		for _, o := range page.Contents {
			key, err := ParseKey(strings.TrimPrefix(aws.ToString(o.Key), *in.Prefix))
			if err != nil {
				continue // not a blob
			}
			if err := fn(Info{Ref: Ref{Key: key, Size: aws.ToInt64(o.Size)}, Modified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// readFault is fault for reads of one blob, where S3's not-found becomes
// the domain's.
func (s *S3) readFault(key Key, err error) error {
	if status(err) == 404 {
		return notFound(key)
	}
	return s.fault("read blob "+string(key), err)
}

// fault wraps an S3 error as the domain's unavailable, with what an
// operator needs to fix a refusal; nil stays nil.
func (s *S3) fault(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "AccessDenied" {
		hint := fmt.Sprintf("check that this server's IAM role may use the bucket and KMS key %q, and that the bucket policy requires that same key (as its ARN)", s.kmsKey)
		if s.kmsKey == "" {
			hint = "the bucket may require server-side encryption with its KMS key: set the blob KMS key (HEALTHHUB_BLOB_KMS_KEY_ID) to that key's ARN, and check that this server's IAM role may use the bucket"
		}
		return domain.Unavailable(fmt.Errorf("%s: S3 bucket %q refused access (AccessDenied); %s: %w", what, s.bucket, hint, err),
			"File storage refused the request.")
	}
	var d *domain.Error
	if errors.As(err, &d) {
		return err
	}
	return domain.Unavailable(fmt.Errorf("%s in S3 bucket %q: %w", what, s.bucket, err), "File storage is not reachable.")
}

// status is the HTTP status of an S3 error, or 0.
func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func randomName() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// escapeKey escapes an object name for a copy source, keeping its slashes.
func escapeKey(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
