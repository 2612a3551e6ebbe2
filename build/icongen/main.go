// Command icongen draws HealthHub's application icon and writes it in the
// forms each platform packs: build/appicon.png (1024 px, Linux and the
// source of the others), build/windows/icon.ico and build/darwin/icon.icns.
// Run it from the repository root: go run ./build/icongen
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"

	"golang.org/x/image/draw"
)

var (
	teal  = color.NRGBA{0x0b, 0x6e, 0x69, 0xff}
	white = color.NRGBA{0xff, 0xff, 0xff, 0xff}
)

// inside reports whether the point (x, y) in a unit square falls in the
// icon's shape: a rounded square holding a white cross.
func inside(x, y float64) (bg, cross bool) {
	const r = 0.2 // corner radius
	cx, cy := clamp(x, r, 1-r), clamp(y, r, 1-r)
	bg = x >= 0 && x <= 1 && y >= 0 && y <= 1 && (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r
	const arm, half = 0.3, 0.1 // the cross's half length and half width
	cross = (abs(x-0.5) <= half && abs(y-0.5) <= arm) || (abs(y-0.5) <= half && abs(x-0.5) <= arm)
	return bg, cross && bg
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// render draws the icon at size px, 4×4 samples a pixel for smooth edges.
func render(size int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4
	for py := range size {
		for px := range size {
			var a, w float64
			for sy := range ss {
				for sx := range ss {
					x := (float64(px) + (float64(sx)+0.5)/ss) / float64(size)
					y := (float64(py) + (float64(sy)+0.5)/ss) / float64(size)
					bg, cross := inside(x, y)
					if bg {
						a++
					}
					if cross {
						w++
					}
				}
			}
			n := float64(ss * ss)
			if a == 0 {
				continue
			}
			mix := w / a
			c := color.NRGBA{
				R: uint8(float64(teal.R)*(1-mix) + float64(white.R)*mix),
				G: uint8(float64(teal.G)*(1-mix) + float64(white.G)*mix),
				B: uint8(float64(teal.B)*(1-mix) + float64(white.B)*mix),
				A: uint8(255 * a / n),
			}
			img.SetNRGBA(px, py, c)
		}
	}
	return img
}

func pngBytes(img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func scaled(src image.Image, size int) image.Image {
	dst := image.NewNRGBA(image.Rect(0, 0, size, size))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Over, nil)
	return dst
}

// ico packs PNG images in a Windows icon file.
func ico(big image.Image, sizes []int) []byte {
	var dir, data bytes.Buffer
	binary.Write(&dir, binary.LittleEndian, [3]uint16{0, 1, uint16(len(sizes))})
	offset := 6 + 16*len(sizes)
	for _, s := range sizes {
		p := pngBytes(scaled(big, s))
		dim := uint8(s)
		if s >= 256 {
			dim = 0
		}
		binary.Write(&dir, binary.LittleEndian, struct {
			W, H, Colors, Reserved uint8
			Planes, Bits           uint16
			Size, Offset           uint32
		}{dim, dim, 0, 0, 1, 32, uint32(len(p)), uint32(offset)})
		data.Write(p)
		offset += len(p)
	}
	return append(dir.Bytes(), data.Bytes()...)
}

// icns packs PNG images in a macOS icon file.
func icns(big image.Image) []byte {
	var body bytes.Buffer
	for _, e := range []struct {
		typ  string
		size int
	}{{"ic07", 128}, {"ic08", 256}, {"ic09", 512}, {"ic10", 1024}} {
		p := pngBytes(scaled(big, e.size))
		body.WriteString(e.typ)
		binary.Write(&body, binary.BigEndian, uint32(8+len(p)))
		body.Write(p)
	}
	var out bytes.Buffer
	out.WriteString("icns")
	binary.Write(&out, binary.BigEndian, uint32(8+body.Len()))
	out.Write(body.Bytes())
	return out.Bytes()
}

func main() {
	big := render(1024)
	files := map[string][]byte{
		"build/appicon.png":         pngBytes(big),
		"build/windows/icon.ico":    ico(big, []int{16, 24, 32, 48, 64, 256}),
		"build/darwin/icon.icns":    icns(big),
		"build/linux/healthhub.png": pngBytes(scaled(big, 256)),
	}
	for name, data := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s: %d bytes\n", name, len(data))
	}
}
