package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Result says what Write wrote.
type Result struct {
	Tag     string
	Digest  v1.Hash
	Layout  string // OCI image layout folder
	Archive string // docker load / podman load archive
	// Size is the compressed size: layers, config and manifest, as a
	// registry stores them; LayersSize is the layers' part.
	Size       int64
	LayersSize int64
	Layers     int
}

// Write writes the image as an OCI image layout in out/oci (replacing what
// a previous build left there), its manifest named by the tag's version, and as
// out/healthhubd-VERSION.tar, with the tag, for docker load
// and podman load.
func Write(img v1.Image, out string, tag name.Tag) (Result, error) {
	version := tag.TagStr()
	res := Result{
		Tag:     tag.String(),
		Layout:  filepath.Join(out, "oci"),
		Archive: filepath.Join(out, "healthhubd-"+version+".tar"),
	}
	var err error
	if res.Digest, err = img.Digest(); err != nil {
		return Result{}, err
	}
	manifest, err := img.Manifest()
	if err != nil {
		return Result{}, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return Result{}, err
	}
	for _, l := range manifest.Layers {
		res.LayersSize += l.Size
	}
	res.Layers = len(manifest.Layers)
	res.Size = res.LayersSize + manifest.Config.Size + int64(len(raw))

	if err := os.MkdirAll(out, 0o755); err != nil {
		return Result{}, err
	}
	if err := os.RemoveAll(res.Layout); err != nil {
		return Result{}, err
	}
	p, err := layout.Write(res.Layout, empty.Index)
	if err != nil {
		return Result{}, err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": version,
	})); err != nil {
		return Result{}, fmt.Errorf("write the OCI layout: %w", err)
	}
	// Blobs are written private and index.json executable; anyone who may
	// read the folder may read the image.
	err = filepath.WalkDir(res.Layout, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(path, 0o755)
		}
		return os.Chmod(path, 0o644)
	})
	if err != nil {
		return Result{}, err
	}
	tmp := res.Archive + ".partial"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return Result{}, fmt.Errorf("write the archive: %w", err)
	}
	if err := os.Rename(tmp, res.Archive); err != nil {
		return Result{}, err
	}
	return res, nil
}
