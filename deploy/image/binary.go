package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Product is what wails.json says of HealthHub.
type Product struct {
	Name     string
	Version  string
	Company  string
	Comments string
}

// readProduct reads the product's name and version from wails.json.
func readProduct(path string) (Product, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Product{}, fmt.Errorf("product metadata: %w (run from the repository's root or pass -wails)", err)
	}
	var w struct {
		Info struct {
			ProductName    string `json:"productName"`
			ProductVersion string `json:"productVersion"`
			CompanyName    string `json:"companyName"`
			Comments       string `json:"comments"`
		} `json:"info"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return Product{}, fmt.Errorf("%s: %w", path, err)
	}
	p := Product{Name: w.Info.ProductName, Version: w.Info.ProductVersion, Company: w.Info.CompanyName, Comments: w.Info.Comments}
	if p.Version == "" || strings.ContainsAny(p.Version, " \t\n/:") {
		return Product{}, fmt.Errorf("%s: info.productVersion %q is not a version such as 1.2.3", path, p.Version)
	}
	if p.Name == "" {
		p.Name = "HealthHub"
	}
	return p, nil
}

// Platform is the operating system and architecture a binary runs on.
type Platform struct {
	OS           string
	Architecture string
}

// inspectBinary makes sure path is a static Go executable for Linux built
// without cgo and with -trimpath, as make image builds it, and returns its
// platform. A dynamically linked binary would not start in an image without
// a C library.
func inspectBinary(path string) (Platform, error) {
	f, err := elf.Open(path)
	if err != nil {
		return Platform{}, fmt.Errorf("%s is not a Linux executable: %w", path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return Platform{}, fmt.Errorf("%s is not an executable (ELF type %s)", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return Platform{}, fmt.Errorf("%s is dynamically linked (it has a program interpreter): build it with CGO_ENABLED=0", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return Platform{}, fmt.Errorf("%s: read its dynamic section: %w", path, err)
	}
	if len(libs) > 0 {
		return Platform{}, fmt.Errorf("%s needs shared libraries (%s): build it with CGO_ENABLED=0", path, strings.Join(libs, ", "))
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return Platform{}, fmt.Errorf("%s is not a Go program with build information: %w", path, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" {
		return Platform{}, fmt.Errorf("%s was built with cgo: build it with CGO_ENABLED=0", path)
	}
	if settings["-trimpath"] != "true" {
		return Platform{}, fmt.Errorf("%s was built without -trimpath: the build machine's paths would be in the image", path)
	}
	p := Platform{OS: settings["GOOS"], Architecture: settings["GOARCH"]}
	if p.OS != "linux" || p.Architecture == "" {
		return Platform{}, fmt.Errorf("%s is for %s/%s: build it with GOOS=linux", path, p.OS, p.Architecture)
	}
	return p, nil
}

// checkVersion runs the binary's version command: its version stamp (the
// -ldflags -X that make build sets) must be the product's version.
func checkVersion(ctx context.Context, path, version string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "version")
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s version: %w: %s", path, err, strings.TrimSpace(errOut.String()))
	}
	got := strings.TrimSpace(out.String())
	if want := "healthhubd " + version; got != want {
		return fmt.Errorf("%s says %q, not %q: build it with -ldflags '-X github.com/healthhub/healthhub/backend/server.Version=%s' (make image does)",
			path, got, want, version)
	}
	return nil
}
