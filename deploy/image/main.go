// Command image builds the container image of healthhubd without a container
// daemon: a static healthhubd, CA certificates, time-zone data, a non-root
// user and its data folder, on an empty base. It writes an OCI image layout
// and an archive that docker load and podman load accept, and prints the
// image's digest and compressed size. The same tree, binary and toolchain
// give the same digest: every file's time is the source date
// (SOURCE_DATE_EPOCH, or the last commit's time), and owners and modes are
// fixed.
//
//	go run ./deploy/image -binary bin/healthhubd-linux-amd64 -out bin/image
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	binary := fs.String("binary", "", "the static healthhubd for Linux to put in the image (CGO_ENABLED=0, -trimpath); required")
	out := fs.String("out", filepath.Join("bin", "image"), "output folder: oci/ (OCI image layout) and healthhubd-VERSION.tar (for docker load and podman load)")
	wails := fs.String("wails", "wails.json", "product metadata; its info.productVersion is the image's version")
	caCerts := fs.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA certificate bundle (Debian package ca-certificates)")
	zoneinfo := fs.String("zoneinfo", "", "time-zone database as a zip; default Go's $(go env GOROOT)/lib/time/zoneinfo.zip")
	repository := fs.String("repository", "healthhub/healthhubd", "repository of the archive's tag (REPOSITORY:VERSION after docker load)")
	source := fs.String("source", "https://github.com/healthhub/healthhub", "source repository URL for the org.opencontainers.image.source label")
	licenses := fs.String("licenses", "LicenseRef-Proprietary", "SPDX license expression for the org.opencontainers.image.licenses label")
	revision := fs.String("revision", "", "source revision for the org.opencontainers.image.revision label; default the commit checked out, when git knows it")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *binary == "" {
		return errors.New("-binary is required: the static healthhubd, built with CGO_ENABLED=0 (make image builds it)")
	}

	product, err := readProduct(*wails)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(*repository + ":" + product.Version)
	if err != nil {
		return fmt.Errorf("image name %s:%s: %w", *repository, product.Version, err)
	}
	platform, err := inspectBinary(*binary)
	if err != nil {
		return err
	}
	if platform.OS == runtime.GOOS && platform.Architecture == runtime.GOARCH {
		if err := checkVersion(ctx, *binary, product.Version); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stderr, "the binary is for %s/%s: its version stamp is not checked on this %s/%s machine\n",
			platform.OS, platform.Architecture, runtime.GOOS, runtime.GOARCH)
	}
	created, from, err := sourceDate(ctx, getenv)
	if err != nil {
		return err
	}
	if *revision == "" {
		*revision = gitOutput(ctx, "rev-parse", "HEAD")
	}
	if *zoneinfo == "" {
		goroot := goOutput(ctx, "env", "GOROOT")
		if goroot == "" {
			return errors.New("cannot find Go's time-zone database (go env GOROOT failed): pass -zoneinfo")
		}
		*zoneinfo = filepath.Join(goroot, "lib", "time", "zoneinfo.zip")
	}

	spec := Spec{
		Product: product, Platform: platform, Created: created,
		Revision: *revision, Source: *source, Licenses: *licenses,
	}
	if spec.Binary, err = os.ReadFile(*binary); err != nil {
		return err
	}
	if spec.CACertificates, err = os.ReadFile(*caCerts); err != nil {
		return fmt.Errorf("CA certificates: %w (install the ca-certificates package or pass -ca-certificates)", err)
	}
	if spec.Zoneinfo, err = os.ReadFile(*zoneinfo); err != nil {
		return fmt.Errorf("time-zone database: %w (pass -zoneinfo)", err)
	}
	img, err := Build(spec)
	if err != nil {
		return err
	}
	res, err := Write(img, *out, tag)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "image %s (%s/%s), created %s (%s)\n", res.Tag, platform.OS, platform.Architecture, created.Format(time.RFC3339), from)
	fmt.Fprintf(stdout, "  digest           %s\n", res.Digest)
	fmt.Fprintf(stdout, "  compressed size  %s (%d bytes: %d layers %d, config and manifest %d)\n",
		mebibytes(res.Size), res.Size, res.Layers, res.LayersSize, res.Size-res.LayersSize)
	fmt.Fprintf(stdout, "  OCI layout       %s\n", res.Layout)
	fmt.Fprintf(stdout, "  archive          %s (docker load -i %s)\n", res.Archive, res.Archive)
	return nil
}

// sourceDate is the image's creation time and every file's time:
// SOURCE_DATE_EPOCH when set, else the last commit's time, else the Unix
// epoch, so that a build never depends on the clock.
func sourceDate(ctx context.Context, getenv func(string) string) (time.Time, string, error) {
	if v := getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil || sec < 0 {
			return time.Time{}, "", fmt.Errorf("SOURCE_DATE_EPOCH must be seconds since 1970, not %q", v)
		}
		return time.Unix(sec, 0).UTC(), "SOURCE_DATE_EPOCH", nil
	}
	if v := gitOutput(ctx, "log", "-1", "--format=%ct"); v != "" {
		if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Unix(sec, 0).UTC(), "the last commit's time", nil
		}
	}
	return time.Unix(0, 0).UTC(), "no SOURCE_DATE_EPOCH and no git history: the Unix epoch", nil
}

// gitOutput is the trimmed output of a git command, or "" when git is
// missing or fails (not a work tree, no commits).
func gitOutput(ctx context.Context, args ...string) string {
	return commandOutput(ctx, "git", args...)
}

func goOutput(ctx context.Context, args ...string) string {
	return commandOutput(ctx, "go", args...)
}

func commandOutput(ctx context.Context, name string, args ...string) string {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return ""
	}
	return strings.TrimSpace(out.String())
}

func mebibytes(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
