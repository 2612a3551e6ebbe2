//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/healthhub/healthhub/backend/store/storetest"
)

// TestImageServesFromChroot builds healthhubd as make image does, builds
// the image, unpacks its layers into a root file system and runs the
// image's entrypoint there as its config says (environment, user, working
// folder), chrooted, against PostgreSQL: the server answers, runs as the
// image's user, keeps its data in the data folder and stops cleanly on
// SIGTERM.
func TestImageServesFromChroot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole server; make test runs it")
	}
	ci := os.Getenv("CI") == "true"
	if os.Geteuid() != 0 {
		if ci {
			t.Fatal("running the image in a chroot needs root, and CI runs the tests as root")
		}
		t.Skip("running the image in a chroot needs root")
	}
	if os.Getenv(storetest.EnvPostgresURL) == "" {
		if ci {
			t.Fatalf("%s is not set: CI runs the image against PostgreSQL", storetest.EnvPostgresURL)
		}
		t.Skipf("%s is not set", storetest.EnvPostgresURL)
	}
	databaseURL := storetest.NewPostgresSchema(t)

	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	version := productVersion(t, filepath.Join(repo, "wails.json"))
	bin := filepath.Join(t.TempDir(), "healthhubd")
	goBuild(t, "github.com/healthhub/healthhub/backend/cmd/healthhubd", bin, []string{"CGO_ENABLED=0", "GOOS=linux"},
		"-trimpath", "-buildvcs=false", "-ldflags", "-s -w -X github.com/healthhub/healthhub/backend/server.Version="+version)

	out := t.TempDir()
	stdout, err := buildImage(t, os.Getenv, "-binary", bin, "-wails", filepath.Join(repo, "wails.json"), "-out", out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the image of healthhubd %s:\n%s", version, stdout)
	img, ref := loadLayout(t, filepath.Join(out, "oci"))
	if d, err := img.Digest(); err != nil || d.String() != printedDigest(t, stdout) {
		t.Errorf("the layout's image is %v (%v), not the digest printed", d, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Labels["org.opencontainers.image.version"]; got != version || ref != version {
		t.Errorf("version label %q, layout name %q; wails.json says %q", got, ref, version)
	}

	root := t.TempDir()
	unpack(t, img, root)
	assertStatic(t, filepath.Join(root, "usr/bin/healthhubd"))
	if _, err := os.Lstat(filepath.Join(root, "bin/sh")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the image has /bin/sh (%v)", err)
	}
	var programs []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil && fi.Mode()&0o111 != 0 {
				programs = append(programs, strings.TrimPrefix(p, root))
			}
		}
		return err
	})
	if len(programs) != 1 || programs[0] != "/usr/bin/healthhubd" {
		t.Errorf("executables in the image: %q, want only /usr/bin/healthhubd", programs)
	}

	srv := startContainer(t, root, cf.Config, databaseURL)
	url := srv.waitForURL(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		srv.waitFor200(t, url+path)
	}
	// The web UI built before the binary (make image depends on ui) is the
	// one the container serves.
	if index, err := os.ReadFile(filepath.Join(repo, "frontend", "dist", "index.html")); err == nil {
		resp, err := http.Get(url + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, index) {
			t.Errorf("GET / = %d (%v), not frontend/dist/index.html:\n%s", resp.StatusCode, err, body)
		}
	}

	status, err := os.ReadFile("/proc/" + strconv.Itoa(srv.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string][]string{}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "Uid" || k == "Gid" || k == "Groups") {
			ids[k] = strings.Fields(v)
		}
	}
	// Real, effective, saved and file-system ids; no supplementary group
	// but its own.
	if !slices.Equal(ids["Uid"], []string{"65532", "65532", "65532", "65532"}) ||
		!slices.Equal(ids["Gid"], []string{"65532", "65532", "65532", "65532"}) ||
		slices.ContainsFunc(ids["Groups"], func(g string) bool { return g != "65532" }) {
		t.Errorf("the server runs with uids %q, gids %q, groups %q; want 65532 only", ids["Uid"], ids["Gid"], ids["Groups"])
	}
	keyring, err := os.Stat(filepath.Join(root, "var/lib/healthhub/keyring.json"))
	if err != nil {
		t.Errorf("no keyring in the data folder: %v", err)
	} else if st := keyring.Sys().(*syscall.Stat_t); st.Uid != 65532 || st.Gid != 65532 {
		t.Errorf("the keyring belongs to %d:%d", st.Uid, st.Gid)
	}

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.done:
		if srv.err != nil {
			t.Errorf("after SIGTERM the server exited with %v\n%s", srv.err, srv.output.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the server did not stop within 2 minutes of SIGTERM\n%s", srv.output.String())
	}
}

// productVersion reads info.productVersion from wails.json.
func productVersion(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Info map[string]any `json:"info"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		t.Fatal(err)
	}
	v, _ := w.Info["productVersion"].(string)
	if v == "" {
		t.Fatalf("%s has no info.productVersion", path)
	}
	return v
}

// unpack writes the image's file system (its layers, flattened) into root
// with the owners, modes and times the layers give.
func unpack(t *testing.T, img v1.Image, root string) {
	t.Helper()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !filepath.IsLocal(h.Name) {
			t.Fatalf("layer entry %q leaves the root", h.Name)
		}
		p := filepath.Join(root, h.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o700)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
				_, err = io.Copy(f, tr)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		default:
			t.Fatalf("layer entry %s is of type %c", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeSymlink {
			if err := os.Chmod(p, h.FileInfo().Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetuid|fs.ModeSetgid)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// assertStatic: the binary has no program interpreter and needs no shared
// library, so it runs in an image without a C library.
func assertStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter", path)
		}
	}
	needed, err := f.DynString(elf.DT_NEEDED)
	if err != nil || len(needed) > 0 {
		t.Errorf("%s needs %q (%v)", path, needed, err)
	}
}

// container is the image's entrypoint running chrooted in its root file
// system.
type container struct {
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{}
	err    error // set when done is closed
}

// startContainer runs the config's entrypoint and command in root as the
// config's user, in its working folder, with its environment, listening on
// a free loopback port rather than 0.0.0.0:8080 and using databaseURL.
func startContainer(t *testing.T, root string, c v1.Config, databaseURL string) *container {
	t.Helper()
	var uid, gid uint32
	if ids := strings.Split(c.User, ":"); len(ids) == 2 {
		u, uerr := strconv.ParseUint(ids[0], 10, 32)
		g, gerr := strconv.ParseUint(ids[1], 10, 32)
		if uerr != nil || gerr != nil {
			t.Fatalf("user %q is not uid:gid", c.User)
		}
		uid, gid = uint32(u), uint32(g)
	} else {
		t.Fatalf("user %q is not uid:gid", c.User)
	}
	if uid == 0 {
		t.Fatal("the image runs as root")
	}
	env := []string{"HEALTHHUB_DATABASE_URL=" + databaseURL}
	for _, kv := range c.Env {
		if strings.HasPrefix(kv, "HEALTHHUB_ADDR=") {
			if kv != "HEALTHHUB_ADDR=0.0.0.0:8080" {
				t.Errorf("the image listens on %s, want 0.0.0.0:8080", kv)
			}
			kv = "HEALTHHUB_ADDR=127.0.0.1:0"
		}
		env = append(env, kv)
	}
	argv := append(append([]string{}, c.Entrypoint...), c.Cmd...)
	if len(argv) == 0 {
		t.Fatal("the image has no entrypoint")
	}
	out := &syncBuffer{}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = c.WorkingDir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %q in %s: %v", argv, root, err)
	}
	ct := &container{cmd: cmd, output: out, done: make(chan struct{})}
	go func() {
		ct.err = cmd.Wait()
		close(ct.done)
	}()
	t.Cleanup(func() {
		select {
		case <-ct.done:
		default:
			cmd.Process.Kill()
			<-ct.done
		}
		if t.Failed() {
			t.Logf("server output:\n%s", out.String())
		}
	})
	return ct
}

var runningAt = regexp.MustCompile(`HealthHub is running at (http://127\.0\.0\.1:\d+)`)

// waitForURL waits for the server to say where it listens.
func (c *container) waitForURL(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if m := runningAt.FindStringSubmatch(c.output.String()); m != nil {
			return m[1]
		}
		select {
		case <-c.done:
			t.Fatalf("the server exited before listening: %v\n%s", c.err, c.output.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the server did not say where it listens within 2 minutes\n%s", c.output.String())
	return ""
}

// waitFor200 polls url until it answers 200 OK.
func (c *container) waitFor200(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status + ": " + string(body)
		} else {
			last = err.Error()
		}
		select {
		case <-c.done:
			t.Fatalf("the server exited: %v\n%s", c.err, c.output.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("GET %s did not answer 200 within 2 minutes; last: %s", url, last)
}

// syncBuffer is a bytes.Buffer the process writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*syncBuffer)(nil)
