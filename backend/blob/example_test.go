package blob_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/healthhub/healthhub/backend/blob"
	"github.com/healthhub/healthhub/backend/secret"
)

func Example() {
	dir, _ := os.MkdirTemp("", "blobs")
	defer os.RemoveAll(dir)
	store, err := blob.NewLocal(filepath.Join(dir, "blobs"), secret.NewEphemeral())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	// Put streams the content in and names it by its SHA-256.
	ref, err := store.Put(ctx, strings.NewReader("chest X-ray, 2026-03-02"))
	if err != nil {
		panic(err)
	}
	fmt.Println(ref.Key, ref.Size)

	// Open streams it out; reading to the end checks it against the key.
	r, err := store.Open(ctx, ref.Key)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	content, err := io.ReadAll(r)
	fmt.Printf("%s %v\n", content, err)

	// Keys are checked: nothing but a SHA-256 names a blob.
	_, err = store.Open(ctx, "../keyring.json")
	fmt.Println(err != nil)
	// Output:
	// 7de082b78bf57e426040b7867c8a3141a890227ca7cac23bb95d0684a1e34ae0 23
	// chest X-ray, 2026-03-02 <nil>
	// true
}
