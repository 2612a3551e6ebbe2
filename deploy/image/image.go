package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image, and who runs the server.
const (
	BinaryPath   = "/usr/bin/healthhubd"
	DataDir      = "/var/lib/healthhub"
	CAPath       = "/etc/ssl/certs/ca-certificates.crt"
	ZoneinfoPath = "/usr/share/zoneinfo.zip"
	UserName     = "healthhub"
	UID          = 65532
	GID          = 65532
	Port         = 8080
)

// Spec is everything an image is made from; the same Spec gives the same
// image, byte for byte.
type Spec struct {
	Product  Product
	Platform Platform
	// Created is the image's creation time and every file's modification
	// time.
	Created        time.Time
	Revision       string // empty when unknown
	Source         string
	Licenses       string
	Binary         []byte
	CACertificates []byte
	Zoneinfo       []byte
}

// file is one entry of a layer.
type file struct {
	name     string // absolute; directories end in /
	mode     int64
	uid, gid int
	data     []byte
}

func dir(name string, mode int64) file { return file{name: name, mode: mode} }

func rootFile(name string, mode int64, data []byte) file {
	return file{name: name, mode: mode, data: data}
}

// Build makes the image: one layer with the system files (users, CA
// certificates, time zones, the data folder), one with the server, so a new
// release changes only the second.
func Build(s Spec) (v1.Image, error) {
	if len(s.Binary) == 0 || len(s.CACertificates) == 0 || len(s.Zoneinfo) == 0 {
		return nil, errors.New("the binary, the CA certificates and the time-zone database are all needed")
	}
	created := s.Created.UTC().Truncate(time.Second)
	uid, gid := strconv.Itoa(UID), strconv.Itoa(GID)
	system := []file{
		dir("/etc/", 0o755),
		rootFile("/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"+UserName+":x:"+gid+":\n")),
		rootFile("/etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n")),
		rootFile("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\n"+
			"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
			UserName+":x:"+uid+":"+gid+":"+s.Product.Name+":"+DataDir+":/sbin/nologin\n")),
		dir("/etc/ssl/", 0o755),
		dir("/etc/ssl/certs/", 0o755),
		rootFile(CAPath, 0o644, s.CACertificates),
		dir("/tmp/", 0o1777),
		dir("/usr/", 0o755),
		dir("/usr/share/", 0o755),
		rootFile(ZoneinfoPath, 0o644, s.Zoneinfo),
		dir("/var/", 0o755),
		dir("/var/lib/", 0o755),
		{name: DataDir + "/", mode: 0o700, uid: UID, gid: GID},
	}
	server := []file{
		dir("/usr/", 0o755),
		dir("/usr/bin/", 0o755),
		rootFile(BinaryPath, 0o755, s.Binary),
	}
	systemLayer, err := layer(system, created)
	if err != nil {
		return nil, err
	}
	serverLayer, err := layer(server, created)
	if err != nil {
		return nil, err
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: systemLayer, History: v1.History{Created: v1.Time{Time: created},
			CreatedBy: "users root and " + UserName + " (" + uid + ":" + gid + "), CA certificates, time zones, " + DataDir}},
		mutate.Addendum{Layer: serverLayer, History: v1.History{Created: v1.Time{Time: created},
			CreatedBy: BinaryPath + " " + s.Product.Version}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = s.Platform.OS, s.Platform.Architecture
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		User:       uid + ":" + gid,
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"serve"},
		Env: []string{
			"PATH=/usr/bin",
			"HEALTHHUB_ADDR=0.0.0.0:" + strconv.Itoa(Port),
			"HEALTHHUB_DATA_DIR=" + DataDir,
			"HEALTHHUB_LOG_FORMAT=json",
			"ZONEINFO=" + ZoneinfoPath,
		},
		WorkingDir:   DataDir,
		ExposedPorts: map[string]struct{}{strconv.Itoa(Port) + "/tcp": {}},
		Volumes:      map[string]struct{}{DataDir: {}},
		StopSignal:   "SIGTERM",
		Labels:       labels(s, created),
	}
	return mutate.ConfigFile(img, cf)
}

// labels are the OCI annotations of the image's config.
func labels(s Spec, created time.Time) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "healthhubd",
		"org.opencontainers.image.description": s.Product.Name + " server: the API, the web UI and the assistant. " + s.Product.Comments,
		"org.opencontainers.image.version":     s.Product.Version,
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
		"org.opencontainers.image.source":      s.Source,
		"org.opencontainers.image.url":         s.Source,
		"org.opencontainers.image.licenses":    s.Licenses,
	}
	if s.Product.Company != "" {
		l["org.opencontainers.image.vendor"] = s.Product.Company
	}
	if s.Revision != "" {
		l["org.opencontainers.image.revision"] = s.Revision
	}
	for k, v := range l {
		if strings.TrimSpace(v) == "" {
			delete(l, k)
		}
	}
	return l
}

// layer makes a gzipped layer of files, each with the given time, its fixed
// owner and mode, in the order given (parents before children). Go's gzip
// writes no name or time into its header, so the same files give the same
// bytes with the same toolchain. The best compression would save 0.3% of
// the server's layer for twice the time, so the default level it is.
func layer(files []file, mtime time.Time) (v1.Layer, error) {
	var tarred bytes.Buffer
	tw := tar.NewWriter(&tarred)
	for _, f := range files {
		h := &tar.Header{
			Name:    strings.TrimPrefix(f.name, "/"),
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.gid,
			ModTime: mtime,
		}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if path.Clean(f.name) != strings.TrimSuffix(f.name, "/") || !path.IsAbs(f.name) {
			return nil, fmt.Errorf("layer entry %q is not a clean absolute path", f.name)
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var zipped bytes.Buffer
	zw, err := gzip.NewWriterLevel(&zipped, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(tarred.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	blob := zipped.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(blob)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
