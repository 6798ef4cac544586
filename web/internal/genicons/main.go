// Command genicons draws the app's icons (PNG 192, 512, maskable 512 and
// SVG) so the PWA needs nothing from outside. Run by `go generate ./web`.
package main

import (
	"flag"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"
)

var (
	bg    = color.RGBA{0x1d, 0x4e, 0x89, 0xff} // theme colour
	white = color.RGBA{0xff, 0xff, 0xff, 0xff}
	green = color.RGBA{0x2e, 0xa0, 0x43, 0xff}
)

const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
<rect width="100" height="100" rx="22" fill="#1d4e89"/>
<rect x="22" y="24" width="56" height="16" rx="4" fill="#fff"/>
<rect x="22" y="46" width="56" height="16" rx="4" fill="#fff"/>
<circle cx="69" cy="74" r="13" fill="#2ea043" stroke="#fff" stroke-width="4"/>
</svg>
`

func main() {
	out := flag.String("out", "static", "directory to write into")
	flag.Parse()
	write := func(name string, img image.Image) {
		f, err := os.Create(filepath.Join(*out, name))
		if err != nil {
			log.Fatal(err)
		}
		enc := png.Encoder{CompressionLevel: png.BestCompression}
		if err := enc.Encode(f, img); err != nil {
			log.Fatal(err)
		}
		if err := f.Close(); err != nil {
			log.Fatal(err)
		}
	}
	write("icon-192.png", draw(192, 1, 22))
	write("icon-512.png", draw(512, 1, 22))
	// Maskable: full-bleed background, drawing kept inside the 80 % safe zone.
	write("icon-maskable.png", draw(512, 0.72, 0))
	if err := os.WriteFile(filepath.Join(*out, "icon.svg"), []byte(svg), 0o644); err != nil {
		log.Fatal(err)
	}
}

// draw renders the SVG's shapes in a size×size image: a rounded tile with
// two server slots and a green status dot. scale shrinks the drawing about
// the centre; radius is the tile's corner radius in 1/100 of the size.
func draw(size int, scale, radius float64) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	s := float64(size) / 100
	// map a point of the 100×100 design, scaled about the centre
	in := func(px, py float64) (float64, float64) {
		x := (px/s-50)/scale + 50
		y := (py/s-50)/scale + 50
		return x, y
	}
	roundRect := func(x, y, x0, y0, w, h, r float64) bool {
		if x < x0 || y < y0 || x > x0+w || y > y0+h {
			return false
		}
		cx := math.Max(x0+r, math.Min(x, x0+w-r))
		cy := math.Max(y0+r, math.Min(y, y0+h-r))
		return math.Hypot(x-cx, y-cy) <= r
	}
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			fx, fy := float64(px)+0.5, float64(py)+0.5
			// the tile is not scaled: it is the background
			if !roundRect(fx/s, fy/s, 0, 0, 100, 100, radius) {
				continue
			}
			c := bg
			x, y := in(fx, fy)
			switch d := math.Hypot(x-69, y-74); {
			case d <= 13-2:
				c = green
			case d <= 13+2:
				c = white
			case roundRect(x, y, 22, 24, 56, 16, 4), roundRect(x, y, 22, 46, 56, 16, 4):
				c = white
			}
			img.Set(px, py, c)
		}
	}
	return img
}
