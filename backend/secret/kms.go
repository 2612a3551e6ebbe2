package secret

import (
	"context"
	"fmt"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// kmsEncryptionContext is sent with every KMS call; KMS binds it to the
// wrapped key, so a key wrapped for the keyring does not unwrap for anything
// else, and it shows in CloudTrail.
var kmsEncryptionContext = map[string]string{"purpose": "healthhub-keyring"}

// KMSWrapper is a KeyWrapper backed by an AWS KMS symmetric key: data keys
// come from GenerateDataKey and are unwrapped with Decrypt.
type KMSWrapper struct {
	client *kms.Client
	keyID  string
}

var _ KeyWrapper = (*KMSWrapper)(nil)

// NewKMSWrapper returns a KeyWrapper using the KMS key keyID (key ID, key
// ARN, alias name or alias ARN) through client.
func NewKMSWrapper(client *kms.Client, keyID string) *KMSWrapper {
	return &KMSWrapper{client: client, keyID: keyID}
}

// ID returns the KMS key id the wrapper was made with.
func (w *KMSWrapper) ID() string { return w.keyID }

// NewDataKey asks KMS for a fresh AES-256 data key.
func (w *KMSWrapper) NewDataKey(ctx context.Context) (plain, wrapped []byte, err error) {
	out, err := w.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(w.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: encryptionContext(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kms GenerateDataKey: %w", err)
	}
	if len(out.Plaintext) != 32 || len(out.CiphertextBlob) == 0 {
		return nil, nil, fmt.Errorf("kms GenerateDataKey returned a %d-byte key and a %d-byte ciphertext blob; want 32 bytes and a blob",
			len(out.Plaintext), len(out.CiphertextBlob))
	}
	return out.Plaintext, out.CiphertextBlob, nil
}

// Unwrap decrypts a data key from NewDataKey with KMS, naming the key so KMS
// refuses a blob made under any other key.
func (w *KMSWrapper) Unwrap(ctx context.Context, wrapped []byte) ([]byte, error) {
	out, err := w.client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    wrapped,
		KeyId:             aws.String(w.keyID),
		EncryptionContext: encryptionContext(),
	})
	if err != nil {
		return nil, fmt.Errorf("kms Decrypt: %w", err)
	}
	return out.Plaintext, nil
}

func encryptionContext() map[string]string { return maps.Clone(kmsEncryptionContext) }
