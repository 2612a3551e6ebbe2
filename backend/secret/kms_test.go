package secret

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

const (
	testKeyARN   = "arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	testKeyAlias = "alias/healthhub-test"
)

// fakeKMS speaks the KMS wire protocol (AWS JSON 1.1) for GenerateDataKey and
// Decrypt. It wraps data keys with AES-GCM under its own master key, binding
// the key ARN and the encryption context, as KMS does.
type fakeKMS struct {
	t      *testing.T
	master cipher.AEAD
	deny   atomic.Bool

	mu       sync.Mutex
	calls    map[string]int
	contexts []map[string]string // encryption context of every request
	keySpecs []string
}

func newFakeKMS(t *testing.T) (*fakeKMS, *httptest.Server) {
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeKMS{t: t, master: aead, calls: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeKMS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeKMS) resolve(keyID string) bool {
	return keyID == testKeyARN || keyID == testKeyAlias || keyID == "1234abcd-12ab-34cd-56ef-1234567890ab"
}

func aad(ec map[string]string) []byte {
	b, _ := json.Marshal(ec) // map keys are sorted: canonical
	return append([]byte(testKeyARN+"\x00"), b...)
}

func (f *fakeKMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		f.fail(w, "UnknownOperationException", "want POST /, got "+r.Method+" "+r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.fail(w, "ValidationException", "content type "+ct)
		return
	}
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKID/") ||
		!strings.Contains(auth, "/eu-central-1/kms/aws4_request") {
		f.fail(w, "IncompleteSignatureException", "unsigned or wrongly scoped request: "+auth)
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	if !ok {
		f.fail(w, "UnknownOperationException", "target "+r.Header.Get("X-Amz-Target"))
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req struct {
		KeyId             string
		KeySpec           string
		NumberOfBytes     *int
		EncryptionContext map[string]string
		CiphertextBlob    []byte
	}
	if err := json.Unmarshal(body, &req); err != nil {
		f.fail(w, "SerializationException", err.Error())
		return
	}
	f.mu.Lock()
	f.calls[op]++
	f.contexts = append(f.contexts, maps.Clone(req.EncryptionContext))
	if op == "GenerateDataKey" {
		f.keySpecs = append(f.keySpecs, req.KeySpec)
	}
	f.mu.Unlock()

	if f.deny.Load() {
		f.fail(w, "AccessDeniedException", "User: arn:aws:sts::111122223333:assumed-role/healthhub/i-0abc is not authorized to perform: kms:"+op+
			" on resource: "+testKeyARN+" because no identity-based policy allows the kms:"+op+" action")
		return
	}
	switch op {
	case "GenerateDataKey":
		if !f.resolve(req.KeyId) {
			f.fail(w, "NotFoundException", "Alias arn:aws:kms:eu-central-1:111122223333:"+req.KeyId+" is not found.")
			return
		}
		n := 0
		switch {
		case req.KeySpec == "AES_256" && req.NumberOfBytes == nil:
			n = 32
		case req.KeySpec == "AES_128" && req.NumberOfBytes == nil:
			n = 16
		case req.KeySpec == "" && req.NumberOfBytes != nil && *req.NumberOfBytes > 0 && *req.NumberOfBytes <= 1024:
			n = *req.NumberOfBytes
		default:
			f.fail(w, "ValidationException", "specify exactly one of KeySpec and NumberOfBytes")
			return
		}
		plain := make([]byte, n)
		rand.Read(plain)
		nonce := make([]byte, f.master.NonceSize())
		rand.Read(nonce)
		blob := f.master.Seal(append([]byte{1}, nonce...), nonce, plain, aad(req.EncryptionContext))
		f.reply(w, map[string]any{"CiphertextBlob": blob, "Plaintext": plain, "KeyId": testKeyARN})
	case "Decrypt":
		if req.KeyId != "" && !f.resolve(req.KeyId) {
			f.fail(w, "NotFoundException", "Key '"+req.KeyId+"' does not exist")
			return
		}
		ns := f.master.NonceSize()
		if len(req.CiphertextBlob) < 1+ns+f.master.Overhead() || req.CiphertextBlob[0] != 1 {
			f.fail(w, "InvalidCiphertextException", "")
			return
		}
		nonce := req.CiphertextBlob[1 : 1+ns]
		plain, err := f.master.Open(nil, nonce, req.CiphertextBlob[1+ns:], aad(req.EncryptionContext))
		if err != nil {
			f.fail(w, "InvalidCiphertextException", "")
			return
		}
		f.reply(w, map[string]any{"Plaintext": plain, "KeyId": testKeyARN, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
	default:
		f.fail(w, "UnknownOperationException", op)
	}
}

func (f *fakeKMS) reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeKMS) fail(w http.ResponseWriter, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func newTestKMSClient(url string) *kms.Client {
	cfg := aws.Config{
		Region:      "eu-central-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:     func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 2) },
	}
	return kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(url) })
}

type wrappedFile struct {
	Format    string            `json:"format"`
	MasterKey string            `json:"master_key"`
	Active    string            `json:"active"`
	Keys      map[string]string `json:"keys"`
}

// checkWrappedFile checks the file at path is a 0600 kms-v1 keyring holding
// exactly k's keys, each only in wrapped form, and that KMS unwraps each one
// back to the key k holds in memory.
func checkWrappedFile(t *testing.T, path string, k *Keyring, client *kms.Client) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f wrappedFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.Format != "kms-v1" || f.MasterKey != testKeyAlias {
		t.Fatalf("format, master_key = %q, %q", f.Format, f.MasterKey)
	}
	k.mu.RLock()
	active, raw := k.active, maps.Clone(k.raw)
	k.mu.RUnlock()
	if f.Active != active || len(f.Keys) != len(raw) {
		t.Fatalf("file active %q with %d keys; ring active %q with %d keys", f.Active, len(f.Keys), active, len(raw))
	}
	for id, plain := range raw {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(plain), base64.RawURLEncoding.EncodeToString(plain), hex.EncodeToString(plain)} {
			if bytes.Contains(b, []byte(enc)) {
				t.Fatalf("plain key %s visible in the keyring file", id)
			}
		}
		blob, err := base64.StdEncoding.DecodeString(f.Keys[id])
		if err != nil {
			t.Fatalf("key %s: %v", id, err)
		}
		if len(plain) != 32 || bytes.Equal(blob, plain) || bytes.Contains(blob, plain) {
			t.Fatalf("key %s stored unwrapped", id)
		}
		out, err := client.Decrypt(context.Background(), &kms.DecryptInput{
			CiphertextBlob:    blob,
			KeyId:             aws.String(testKeyAlias),
			EncryptionContext: map[string]string{"purpose": "healthhub-keyring"},
		})
		if err != nil {
			t.Fatalf("KMS Decrypt of stored key %s: %v", id, err)
		}
		if !bytes.Equal(out.Plaintext, plain) {
			t.Fatalf("stored key %s does not unwrap to the key in memory", id)
		}
	}
}

func TestWrappedKeyringWithKMS(t *testing.T) {
	ctx := context.Background()
	fake, srv := newFakeKMS(t)
	client := newTestKMSClient(srv.URL)
	w := NewKMSWrapper(client, testKeyAlias)
	if w.ID() != testKeyAlias {
		t.Fatalf("ID = %q", w.ID())
	}
	path := filepath.Join(t.TempDir(), "keys", "keyring.json")

	k, err := LoadOrCreateWrapped(ctx, path, w)
	if err != nil {
		t.Fatal(err)
	}
	if fake.count("GenerateDataKey") != 1 || fake.count("Decrypt") != 0 {
		t.Fatalf("calls on create: GenerateDataKey %d, Decrypt %d", fake.count("GenerateDataKey"), fake.count("Decrypt"))
	}
	fake.mu.Lock()
	if len(fake.keySpecs) != 1 || fake.keySpecs[0] != "AES_256" {
		t.Errorf("KeySpec = %q; want AES_256", fake.keySpecs)
	}
	fake.mu.Unlock()
	checkWrappedFile(t, path, k, client)

	old, err := k.Seal([]byte("JBSWY3DPEHPK3PXP"), "user:1:mfa")
	if err != nil {
		t.Fatal(err)
	}

	// The stored key does not unwrap under another encryption context.
	var f wrappedFile
	b, _ := os.ReadFile(path)
	json.Unmarshal(b, &f)
	blob, _ := base64.StdEncoding.DecodeString(f.Keys[f.Active])
	_, err = client.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, KeyId: aws.String(testKeyAlias),
		EncryptionContext: map[string]string{"purpose": "something-else"}})
	var invalid *types.InvalidCiphertextException
	if !errors.As(err, &invalid) {
		t.Fatalf("Decrypt under another encryption context = %v; want InvalidCiphertextException", err)
	}

	// Reloading unwraps through KMS and opens what was sealed before.
	before := fake.count("Decrypt")
	k2, err := LoadOrCreateWrapped(ctx, path, w)
	if err != nil {
		t.Fatal(err)
	}
	if got := fake.count("Decrypt") - before; got != 1 {
		t.Fatalf("Decrypt calls on reload = %d; want 1", got)
	}
	pt, err := k2.Open(old, "user:1:mfa")
	if err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open after reload = %q, %v", pt, err)
	}

	// Rotation asks KMS for a new data key and stores it wrapped.
	id, err := k2.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if fake.count("GenerateDataKey") != 2 {
		t.Fatalf("GenerateDataKey calls after rotation = %d; want 2", fake.count("GenerateDataKey"))
	}
	if ids := k2.KeyIDs(); len(ids) != 2 {
		t.Fatalf("keys after rotation = %v", ids)
	}
	checkWrappedFile(t, path, k2, client)
	if !k2.NeedsRotation(old) {
		t.Fatal("old value not flagged for re-sealing")
	}
	id2, err := k2.RotateContext(ctx)
	if err != nil || id2 == id {
		t.Fatalf("RotateContext = %q, %v", id2, err)
	}
	checkWrappedFile(t, path, k2, client)

	k3, err := LoadOrCreateWrapped(ctx, path, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(k3.KeyIDs()) != 3 {
		t.Fatalf("keys after reload = %v", k3.KeyIDs())
	}
	pt, err = k3.Open(old, "user:1:mfa")
	if err != nil || string(pt) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open of a value sealed before rotation = %q, %v", pt, err)
	}
	fresh, err := k3.Seal([]byte("x"), "c")
	if err != nil {
		t.Fatal(err)
	}
	if k3.NeedsRotation(fresh) || !strings.HasPrefix(fresh, prefix+id2+".") {
		t.Fatalf("fresh value %q not under the active key %s", fresh, id2)
	}
	if _, err := k.Open(fresh, "c"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("ring without the new key opened a value sealed under it: %v", err)
	}

	fake.mu.Lock()
	defer fake.mu.Unlock()
	for i, ec := range fake.contexts {
		if len(ec) != 1 || ec["purpose"] != "healthhub-keyring" {
			// Only the deliberate wrong-context Decrypt above may differ.
			if ec["purpose"] == "something-else" {
				continue
			}
			t.Errorf("request %d encryption context = %v", i, ec)
		}
	}
}

func TestWrappedKeyringDenied(t *testing.T) {
	ctx := context.Background()
	fake, srv := newFakeKMS(t)
	client := newTestKMSClient(srv.URL)
	w := NewKMSWrapper(client, testKeyAlias)
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring.json")
	k, err := LoadOrCreateWrapped(ctx, path, w)
	if err != nil {
		t.Fatal(err)
	}
	plain := base64.StdEncoding.EncodeToString(k.raw[k.active])
	saved, _ := os.ReadFile(path)

	fake.deny.Store(true)
	before := fake.count("Decrypt")
	_, err = LoadOrCreateWrapped(ctx, path, w)
	if err == nil {
		t.Fatal("keyring loaded although KMS denied Decrypt")
	}
	msg := err.Error()
	for _, want := range []string{path, testKeyAlias, "kms:Decrypt", "region", "AccessDeniedException"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, plain) {
		t.Fatal("error reveals the plain key")
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("error does not carry the KMS error code: %v", err)
	}
	if got := fake.count("Decrypt") - before; got != 1 {
		t.Fatalf("Decrypt attempts under denial = %d; want 1 (not retried)", got)
	}

	// Rotation under denial fails and leaves ring and file as they were.
	if _, err := k.Rotate(); err == nil || !strings.Contains(err.Error(), "kms:GenerateDataKey") || !strings.Contains(err.Error(), testKeyAlias) {
		t.Fatalf("rotation under denial = %v", err)
	}
	if len(k.KeyIDs()) != 1 {
		t.Fatalf("keys after failed rotation = %v", k.KeyIDs())
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, saved) {
		t.Fatal("failed rotation changed the keyring file")
	}

	// Creation under denial leaves no file behind.
	other := filepath.Join(dir, "new.json")
	if _, err := LoadOrCreateWrapped(ctx, other, w); err == nil || !strings.Contains(err.Error(), "kms:GenerateDataKey") {
		t.Fatalf("create under denial = %v", err)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file left after failed creation: %v", err)
	}

	// An unknown master key is reported as such.
	fake.deny.Store(false)
	_, err = LoadOrCreateWrapped(ctx, other, NewKMSWrapper(client, "alias/missing"))
	var notFound *types.NotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), "alias/missing") {
		t.Fatalf("create with unknown key = %v; want NotFoundException naming the key", err)
	}

	// Allowed again, the ring loads.
	if _, err := LoadOrCreateWrapped(ctx, path, w); err != nil {
		t.Fatal(err)
	}
}

func TestWrappedAndPlainFilesNotMixed(t *testing.T) {
	ctx := context.Background()
	fake, srv := newFakeKMS(t)
	w := NewKMSWrapper(newTestKMSClient(srv.URL), testKeyAlias)
	dir := t.TempDir()

	wrappedPath := filepath.Join(dir, "wrapped.json")
	if _, err := LoadOrCreateWrapped(ctx, wrappedPath, w); err != nil {
		t.Fatal(err)
	}
	wrappedBytes, _ := os.ReadFile(wrappedPath)
	_, err := LoadOrCreate(wrappedPath)
	if err == nil || !strings.Contains(err.Error(), testKeyAlias) || !strings.Contains(err.Error(), "kms-v1") {
		t.Fatalf("wrapped file loaded without a wrapper: %v", err)
	}

	plainPath := filepath.Join(dir, "plain.json")
	if _, err := LoadOrCreate(plainPath); err != nil {
		t.Fatal(err)
	}
	plainBytes, _ := os.ReadFile(plainPath)
	calls := fake.count("Decrypt") + fake.count("GenerateDataKey")
	_, err = LoadOrCreateWrapped(ctx, plainPath, w)
	if err == nil || !strings.Contains(err.Error(), "plain") || !strings.Contains(err.Error(), testKeyAlias) {
		t.Fatalf("plain file loaded with a wrapper: %v", err)
	}

	// A file wrapped under another master key is refused before any KMS call.
	_, err = LoadOrCreateWrapped(ctx, wrappedPath, NewKMSWrapper(newTestKMSClient(srv.URL), testKeyARN))
	if err == nil || !strings.Contains(err.Error(), testKeyAlias) || !strings.Contains(err.Error(), testKeyARN) {
		t.Fatalf("file loaded under another master key name: %v", err)
	}
	if got := fake.count("Decrypt") + fake.count("GenerateDataKey"); got != calls {
		t.Fatalf("refused loads called KMS %d times", got-calls)
	}
	if b, _ := os.ReadFile(wrappedPath); !bytes.Equal(b, wrappedBytes) {
		t.Fatal("refused load changed the wrapped file")
	}
	if b, _ := os.ReadFile(plainPath); !bytes.Equal(b, plainBytes) {
		t.Fatal("refused load changed the plain file")
	}

	// A wrapped file readable by others is refused like a plain one.
	os.Chmod(wrappedPath, 0o640)
	if _, err := LoadOrCreateWrapped(ctx, wrappedPath, w); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("loose wrapped keyring accepted: %v", err)
	}

	if _, err := LoadOrCreateWrapped(ctx, filepath.Join(dir, "x.json"), nil); err == nil {
		t.Fatal("wrapped keyring without a wrapper accepted")
	}
	if _, err := LoadOrCreateWrapped(ctx, filepath.Join(dir, "x.json"), NewKMSWrapper(newTestKMSClient(srv.URL), "")); err == nil {
		t.Fatal("wrapped keyring with an empty master key accepted")
	}
}

// shortKeyWrapper hands out data keys of the wrong size.
type shortKeyWrapper struct{}

func (shortKeyWrapper) NewDataKey(context.Context) ([]byte, []byte, error) {
	return make([]byte, 16), []byte("wrapped"), nil
}
func (shortKeyWrapper) Unwrap(context.Context, []byte) ([]byte, error) { return make([]byte, 16), nil }
func (shortKeyWrapper) ID() string                                     { return "short" }

func TestWrappedRejectsWrongKeySize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	if _, err := LoadOrCreateWrapped(context.Background(), path, shortKeyWrapper{}); err == nil {
		t.Fatal("16-byte data key accepted")
	}
	os.WriteFile(path, []byte(`{"format":"kms-v1","master_key":"short","active":"k1","keys":{"k1":"d3JhcHBlZA=="}}`), 0o600)
	if _, err := LoadOrCreateWrapped(context.Background(), path, shortKeyWrapper{}); err == nil || !strings.Contains(err.Error(), "not 32") {
		t.Fatalf("16-byte unwrapped key accepted: %v", err)
	}
}
