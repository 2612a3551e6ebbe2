package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	fakeVersion = "2.3.4"
	fakeEpoch   = "1767225600" // 2026-01-01T00:00:00Z
	fakeRev     = "0123456789abcdef0123456789abcdef01234567"
)

// goBuild builds pkg into out with the environment's Go toolchain.
func goBuild(t *testing.T, pkg, out string, env []string, flags ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	args := append([]string{"build", "-o", out}, flags...)
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
}

// fakeBinary builds the stand-in for healthhubd that answers version with
// the given version; cgo and trimpath say how, make image builds with
// CGO_ENABLED=0 and -trimpath.
func fakeBinary(t *testing.T, version string, cgo, trimpath bool) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "healthhubd")
	env := []string{"GOOS=linux", "GOARCH=" + runtime.GOARCH, "CGO_ENABLED=0"}
	if cgo {
		env[2] = "CGO_ENABLED=1"
	}
	flags := []string{"-buildvcs=false", "-ldflags", "-s -w -X main.version=" + version}
	if trimpath {
		flags = append(flags, "-trimpath")
	}
	goBuild(t, "./testdata/fakeserver", out, env, flags...)
	return out
}

func writeWails(t *testing.T, version string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wails.json")
	data := `{"name":"HealthHub","info":{"companyName":"HealthHub","productName":"HealthHub","productVersion":"` + version +
		`","comments":"Clinic assistant"}}`
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// buildImage runs the command as make image does and returns what it
// printed.
func buildImage(t *testing.T, getenv func(string) string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, getenv, &stdout, &stderr)
	if err != nil && stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return stdout.String(), err
}

var digestLine = regexp.MustCompile(`(?m)^\s+digest\s+(sha256:[0-9a-f]{64})$`)

func printedDigest(t *testing.T, stdout string) string {
	t.Helper()
	m := digestLine.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no digest in the output:\n%s", stdout)
	}
	return m[1]
}

// loadLayout reads the one image of an OCI layout and its name.
func loadLayout(t *testing.T, dir string) (v1.Image, string) {
	t.Helper()
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("the layout holds %d manifests, want 1", len(im.Manifests))
	}
	img, err := ii.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img, im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]
}

func readFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[rel], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestBuildTwiceSameDigest: two builds from the same inputs write the same
// bytes (layout and archive) and print the same digest; another source date
// gives another digest.
func TestBuildTwiceSameDigest(t *testing.T) {
	bin := fakeBinary(t, fakeVersion, false, true)
	wails := writeWails(t, fakeVersion)
	build := func(epoch string) (string, string) {
		out := t.TempDir()
		stdout, err := buildImage(t, envOf(map[string]string{"SOURCE_DATE_EPOCH": epoch}),
			"-binary", bin, "-wails", wails, "-out", out, "-revision", fakeRev)
		if err != nil {
			t.Fatal(err)
		}
		return out, printedDigest(t, stdout)
	}
	out1, digest1 := build(fakeEpoch)
	out2, digest2 := build(fakeEpoch)
	if digest1 != digest2 {
		t.Fatalf("two builds of the same tree: %s and %s", digest1, digest2)
	}
	files1, files2 := readFiles(t, out1), readFiles(t, out2)
	if len(files1) != len(files2) {
		t.Fatalf("the builds wrote %d and %d files", len(files1), len(files2))
	}
	for name, data := range files1 {
		if !bytes.Equal(data, files2[name]) {
			t.Errorf("%s differs between two builds", name)
		}
	}
	if _, ok := files1["healthhubd-"+fakeVersion+".tar"]; !ok {
		t.Errorf("no archive healthhubd-%s.tar among %v", fakeVersion, keys(files1))
	}
	img, _ := loadLayout(t, filepath.Join(out1, "oci"))
	if d, err := img.Digest(); err != nil || d.String() != digest1 {
		t.Errorf("the layout's image is %v (%v); printed %s", d, err, digest1)
	}
	if _, digest3 := build("1767225601"); digest3 == digest1 {
		t.Errorf("another SOURCE_DATE_EPOCH gave the same digest %s", digest3)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestImageContents: the image's config, labels and files are what the
// server needs and nothing more, with fixed owners, modes and times.
func TestImageContents(t *testing.T) {
	bin := fakeBinary(t, fakeVersion, false, true)
	out := t.TempDir()
	stdout, err := buildImage(t, envOf(map[string]string{"SOURCE_DATE_EPOCH": fakeEpoch}),
		"-binary", bin, "-wails", writeWails(t, fakeVersion), "-out", out, "-revision", fakeRev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "compressed size") {
		t.Errorf("no compressed size in the output:\n%s", stdout)
	}
	img, ref := loadLayout(t, filepath.Join(out, "oci"))
	if ref != fakeVersion {
		t.Errorf("the layout names the image %q, want %q", ref, fakeVersion)
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !cf.Created.Time.Equal(created) {
		t.Errorf("platform %s/%s created %v; want linux/%s created %v", cf.OS, cf.Architecture, cf.Created.Time, runtime.GOARCH, created)
	}
	c := cf.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/usr/bin/healthhubd"}) || !slices.Equal(c.Cmd, []string{"serve"}) ||
		c.WorkingDir != "/var/lib/healthhub" {
		t.Errorf("user %q, entrypoint %q, cmd %q, working dir %q", c.User, c.Entrypoint, c.Cmd, c.WorkingDir)
	}
	for _, want := range []string{"HEALTHHUB_ADDR=0.0.0.0:8080", "HEALTHHUB_DATA_DIR=/var/lib/healthhub", "ZONEINFO=/usr/share/zoneinfo.zip"} {
		if !slices.Contains(c.Env, want) {
			t.Errorf("env %q lacks %s", c.Env, want)
		}
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("exposed ports %v, want 8080/tcp", c.ExposedPorts)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.title":    "healthhubd",
		"org.opencontainers.image.version":  fakeVersion,
		"org.opencontainers.image.created":  "2026-01-01T00:00:00Z",
		"org.opencontainers.image.revision": fakeRev,
		"org.opencontainers.image.source":   "https://github.com/healthhub/healthhub",
		"org.opencontainers.image.licenses": "LicenseRef-Proprietary",
	}
	for k, v := range wantLabels {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if !strings.Contains(c.Labels["org.opencontainers.image.description"], "Clinic assistant") {
		t.Errorf("description %q", c.Labels["org.opencontainers.image.description"])
	}

	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s", mt)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		mode     int64
		uid, gid int
	}
	dir, file, exe := entry{0o755, 0, 0}, entry{0o644, 0, 0}, entry{0o755, 0, 0}
	want := map[string]entry{
		"etc/": dir, "etc/group": file, "etc/passwd": file, "etc/nsswitch.conf": file,
		"etc/ssl/": dir, "etc/ssl/certs/": dir, "etc/ssl/certs/ca-certificates.crt": file,
		"tmp/": {0o1777, 0, 0}, "usr/": dir, "usr/share/": dir, "usr/share/zoneinfo.zip": file,
		"var/": dir, "var/lib/": dir, "var/lib/healthhub/": {0o700, 65532, 65532},
		"usr/bin/": dir, "usr/bin/healthhubd": exe,
	}
	seen := map[string]bool{}
	for i, l := range layers {
		if mt, _ := l.MediaType(); mt != types.OCILayer {
			t.Errorf("layer %d: media type %s", i, mt)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			seen[h.Name] = true
			w, ok := want[h.Name]
			switch {
			case !ok:
				t.Errorf("layer %d: unexpected %s", i, h.Name)
			case h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.gid:
				t.Errorf("layer %d: %s mode %o owner %d:%d, want %o %d:%d", i, h.Name, h.Mode, h.Uid, h.Gid, w.mode, w.uid, w.gid)
			}
			if !h.ModTime.Equal(created) {
				t.Errorf("layer %d: %s modified %v, want %v", i, h.Name, h.ModTime, created)
			}
			if h.Typeflag != tar.TypeDir && h.Typeflag != tar.TypeReg {
				t.Errorf("layer %d: %s is of type %c", i, h.Name, h.Typeflag)
			}
		}
		rc.Close()
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("no %s in the image", name)
		}
	}

	// The file system the container sees: the user, and no shell.
	fsys := map[string][]byte{}
	tr := tar.NewReader(mutate.Extract(img))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fsys[h.Name], _ = io.ReadAll(tr)
	}
	for _, shell := range []string{"bin/sh", "usr/bin/sh", "bin/busybox"} {
		if _, ok := fsys[shell]; ok {
			t.Errorf("the image has %s", shell)
		}
	}
	if !strings.Contains(string(fsys["etc/passwd"]), "\nhealthhub:x:65532:65532:") || !strings.Contains(string(fsys["etc/group"]), "\nhealthhub:x:65532:") {
		t.Errorf("passwd:\n%s\ngroup:\n%s", fsys["etc/passwd"], fsys["etc/group"])
	}

	// The archive for docker load holds the same image under its tag.
	tag, err := name.NewTag("healthhub/healthhubd:" + fakeVersion)
	if err != nil {
		t.Fatal(err)
	}
	archived, err := tarball.ImageFromPath(filepath.Join(out, "healthhubd-"+fakeVersion+".tar"), &tag)
	if err != nil {
		t.Fatal(err)
	}
	cn1, _ := img.ConfigName()
	cn2, err := archived.ConfigName()
	if err != nil || cn1 != cn2 {
		t.Errorf("the archive's config is %v (%v), the layout's %v", cn2, err, cn1)
	}
	al, err := archived.Layers()
	if err != nil || len(al) != len(layers) {
		t.Fatalf("the archive has %d layers (%v), the layout %d", len(al), err, len(layers))
	}
	for i := range al {
		d1, _ := layers[i].Digest()
		d2, _ := al[i].Digest()
		if d1 != d2 {
			t.Errorf("layer %d: archive %v, layout %v", i, d2, d1)
		}
	}
}

// TestRefusedBinaries: a binary that would not run in the image, or whose
// version is not the product's, builds no image.
func TestRefusedBinaries(t *testing.T) {
	wails := writeWails(t, fakeVersion)
	notELF := filepath.Join(t.TempDir(), "healthhubd")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\necho healthhubd\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		binary func(t *testing.T) string
		wails  string
		want   string
	}{
		{"no binary", func(*testing.T) string { return "" }, wails, "-binary is required"},
		{"not an executable", func(*testing.T) string { return notELF }, wails, "is not a Linux executable"},
		{"dynamically linked", func(t *testing.T) string {
			if _, err := exec.LookPath("gcc"); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatal("gcc is needed to build a binary with cgo")
				}
				t.Skip("no gcc to build a binary with cgo")
			}
			return fakeBinary(t, fakeVersion, true, true)
		}, wails, "dynamically linked"},
		{"without -trimpath", func(t *testing.T) string { return fakeBinary(t, fakeVersion, false, false) }, wails, "without -trimpath"},
		{"another version", func(t *testing.T) string { return fakeBinary(t, fakeVersion, false, true) }, writeWails(t, "9.9.9"),
			`says "healthhubd 2.3.4", not "healthhubd 9.9.9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := tt.binary(t)
			out := t.TempDir()
			_, err := buildImage(t, envOf(map[string]string{"SOURCE_DATE_EPOCH": fakeEpoch}), "-binary", bin, "-wails", tt.wails, "-out", out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(out); len(entries) > 0 {
				t.Errorf("a refused build wrote %d entries in the output folder", len(entries))
			}
		})
	}
}

func TestSourceDate(t *testing.T) {
	got, from, err := sourceDate(context.Background(), envOf(map[string]string{"SOURCE_DATE_EPOCH": fakeEpoch}))
	if err != nil || !got.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || from != "SOURCE_DATE_EPOCH" {
		t.Errorf("sourceDate = %v, %q, %v", got, from, err)
	}
	for _, bad := range []string{"yesterday", "-1", "1.5"} {
		if _, _, err := sourceDate(context.Background(), envOf(map[string]string{"SOURCE_DATE_EPOCH": bad})); err == nil {
			t.Errorf("SOURCE_DATE_EPOCH=%s: no error", bad)
		}
	}
}
