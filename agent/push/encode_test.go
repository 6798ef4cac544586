package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"imagingstatus/wire"
)

func sampleReport() wire.Report {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)
	return wire.Report{Type: wire.TypeReport, Figures: wire.Figures{
		CollectedAt: at, Hostname: "imaging<1>", UptimeSeconds: 42, BootTime: at.Add(-time.Hour),
		Partitions: []wire.Partition{{Device: "/dev/sda1", Mountpoint: "/", FSType: "ext4", Total: 10, Used: 4, Free: 6, Main: true}},
		Memory:     &wire.Memory{Total: 8, Used: 3, Available: 5},
		Load:       &wire.Load{Load1: 0.5, CPUs: 2},
		Repository: &wire.Repository{Root: "/var/lib/pulse2/imaging", ImagesTotal: 3, ImagesComplete: 2, ImagesInvalid: 1,
			BytesComplete: 99, Clients: 4, ClientsWithImages: 1, Generation: 7},
		Probes: []wire.Probe{{Name: "repository", Target: "/var/lib/pulse2/imaging", OK: true, LatencyMS: 0.25}},
		Errors: []string{"computers/ not readable: permission denied"},
	}}
}

var sampleImages = []wire.Image{
	{UUID: "6ecc2a6c-e8ed-11f1-800c-525400a1b2c3", Title: "Image of \"pc\" <&> \u2028 é", Format: wire.FormatDavos, State: wire.ImageComplete,
		Size: 1 << 40, Created: time.Date(2025, 11, 3, 9, 0, 0, 123456789, time.UTC), SourceMAC: "52:54:00:a1:b2:c3"},
	{UUID: "legacy", Title: "tab\there\x01\\", Format: wire.FormatLegacy, State: wire.ImageComplete, Size: 1, Created: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)},
	{UUID: "x", Title: "x", State: wire.ImageInvalid, Problem: "empty directory\xff", Created: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)},
}

func seq(list []wire.Image) func(func(*wire.Image) bool) {
	return func(yield func(*wire.Image) bool) {
		var im wire.Image // one value reused, as the scanner does
		for _, v := range list {
			im = v
			if !yield(&im) {
				return
			}
		}
	}
}

// collected is r with list as the collector gives it (asSeq: a sequence)
// or in the repository.
func collected(r wire.Report, list []wire.Image, asSeq bool) Collected {
	c := Collected{Report: r}
	switch {
	case r.Repository == nil:
	case asSeq:
		c.Images = seq(list)
	default:
		cp := *r.Repository
		cp.Images = list
		c.Repository = &cp
	}
	return c
}

// TestEncodeMatchesMarshal: the streamed report is byte for byte what
// json.Marshal makes of the fitted report, whether the list comes as a
// slice or as a sequence, and is left out when omitted.
func TestEncodeMatchesMarshal(t *testing.T) {
	many := make([]wire.Image, 500) // several flushes of the buffer
	for i := range many {
		many[i] = sampleImages[i%len(sampleImages)]
	}
	tests := []struct {
		name   string
		images []wire.Image
		noRepo bool
		omit   bool
	}{
		{"three images", sampleImages, false, false},
		{"many images", many, false, false},
		{"no images", nil, false, false},
		{"omitted", sampleImages, false, true},
		{"no repository", nil, true, false},
	}
	for _, tt := range tests {
		for _, asSeq := range []bool{false, true} {
			r := sampleReport()
			if tt.noRepo {
				r.Repository = nil
			}
			want := r
			if want.Repository != nil {
				cp := *want.Repository
				if tt.omit {
					cp.ImagesOmitted = true
				} else {
					cp.Images = tt.images
				}
				want.Repository = &cp
			}
			wantJSON, err := json.Marshal(Fit(want))
			if err != nil {
				t.Fatal(err)
			}
			c := collected(r, tt.images, asSeq)
			var got bytes.Buffer
			var enc Encoder
			if err := enc.Encode(&got, c, tt.omit); err != nil {
				t.Fatal(err)
			}
			if g := got.Bytes(); !bytes.Equal(g, wantJSON) {
				i := 0
				for i < len(g) && i < len(wantJSON) && g[i] == wantJSON[i] {
					i++
				}
				t.Errorf("%s (sequence %v): differs from json.Marshal at byte %d:\n got …%.80s\nwant …%.80s", tt.name, asSeq, i, g[i:], wantJSON[i:])
			}
			if _, err := wire.DecodeReport(got.Bytes()); err != nil && !tt.noRepo {
				t.Errorf("%s: the hub refuses it: %v", tt.name, err)
			}
		}
	}
}

// A writer that fails stops the encoding and surfaces its error.
type failWriter struct{ n int }

func (f *failWriter) Write(b []byte) (int, error) {
	if f.n--; f.n < 0 {
		return 0, errors.New("connection reset")
	}
	return len(b), nil
}

// countedList is a report with n images, as a sequence that counts in
// *yielded the images it gave.
func countedList(n int, yielded *int) Collected {
	many := make([]wire.Image, n)
	for i := range many {
		many[i] = sampleImages[0]
	}
	return Collected{Report: sampleReport(), Images: func(yield func(*wire.Image) bool) {
		for i := range many {
			*yielded++
			if !yield(&many[i]) {
				return
			}
		}
	}}
}

func TestEncodeWriteError(t *testing.T) {
	yielded := 0
	c := countedList(2000, &yielded)
	var enc Encoder
	if err := enc.Encode(&failWriter{n: 1}, c, false); err == nil || err.Error() != "connection reset" {
		t.Fatalf("error %v, want the writer's", err)
	}
	if yielded == 3*wire.MaxPageImages {
		t.Error("the list was walked to its end after the writer failed")
	}
}

// FuzzAppendImage: any image encodes as json.Marshal encodes it.
func FuzzAppendImage(f *testing.F) {
	for _, im := range sampleImages {
		f.Add(im.UUID, im.Title, im.Format, im.State, im.SourceMAC, im.Problem, im.Size, im.Created.UnixNano())
	}
	f.Fuzz(func(t *testing.T, uuid, title, format, state, mac, problem string, size uint64, created int64) {
		im := wire.Image{UUID: uuid, Title: title, Format: format, State: state, Size: size, Created: time.Unix(0, created).UTC(), SourceMAC: mac, Problem: problem}
		if !wire.PlausibleTime(im.Created) {
			im.Created = time.Time{}
		}
		want, err := json.Marshal(im)
		if err != nil {
			t.Skip(err)
		}
		if got := AppendImage(nil, &im); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// frames collects the frames EncodePaged writes, each closed once.
type frames struct {
	got    []*bytes.Buffer
	open   bool
	failAt int // the frame whose writer fails (0: none)
}

type frameWriter struct {
	f *frames
	b *bytes.Buffer
}

func (w frameWriter) Write(p []byte) (int, error) {
	if w.f.failAt == len(w.f.got) {
		return 0, errors.New("connection reset")
	}
	return w.b.Write(p)
}

func (w frameWriter) Close() error { w.f.open = false; return nil }

func (f *frames) next() (io.WriteCloser, error) {
	if f.open {
		return nil, errors.New("a frame was opened before the last one was closed")
	}
	f.open = true
	f.got = append(f.got, new(bytes.Buffer))
	return frameWriter{f, f.got[len(f.got)-1]}, nil
}

// TestEncodePaged: the report goes in one frame with images_follow, the list
// in pages the hub accepts, in order, the last one marked, none over the
// hub's frame limit or wire.MaxPageImages, and together the list itself.
func TestEncodePaged(t *testing.T) {
	list := func(n, titleLen int) []wire.Image {
		out := make([]wire.Image, n)
		for i := range out {
			out[i] = sampleImages[i%len(sampleImages)]
			out[i].UUID = fmt.Sprintf("img-%05d", i)
			if titleLen > 0 {
				out[i].Title = strings.Repeat("<", titleLen) // 6 bytes each in JSON
			}
		}
		return out
	}
	tests := []struct {
		name      string
		images    []wire.Image
		wantPages int
	}{
		{"three", sampleImages, 1},
		{"one full page", list(wire.MaxPageImages, 0), 1},
		{"one more", list(wire.MaxPageImages+1, 0), 2},
		{"2,500", list(2500, 0), 3},
		{"cut by bytes", list(1000, 250), 4}, // ~1.7 KB an image: ~300 in 512 KiB
	}
	for _, tt := range tests {
		for _, asSeq := range []bool{false, true} {
			r := sampleReport()
			c := collected(r, tt.images, asSeq)
			var f frames
			var enc Encoder
			if err := enc.EncodePaged(f.next, c, false); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if f.open {
				t.Fatalf("%s: a frame was left open", tt.name)
			}
			want := r
			cp := *want.Repository
			cp.ImagesFollow = true
			want.Repository = &cp
			wantJSON, _ := json.Marshal(Fit(want))
			if !bytes.Equal(f.got[0].Bytes(), wantJSON) {
				t.Errorf("%s: report frame\n got %s\nwant %s", tt.name, f.got[0], wantJSON)
			}
			if _, err := wire.DecodeReport(f.got[0].Bytes()); err != nil {
				t.Errorf("%s: the hub refuses the report: %v", tt.name, err)
			}
			if n := len(f.got) - 1; n != tt.wantPages {
				t.Errorf("%s: %d pages, want %d", tt.name, n, tt.wantPages)
			}
			fitted := Fit(wire.Report{Figures: wire.Figures{Repository: &wire.Repository{Images: tt.images}}}).Repository.Images
			off := 0
			for i, fr := range f.got[1:] {
				if fr.Len() > wire.MaxAgentFrame {
					t.Errorf("%s: page %d is %d bytes, over the hub's limit", tt.name, i, fr.Len())
				}
				p, err := wire.DecodeImagesPage(fr.Bytes())
				if err != nil {
					t.Fatalf("%s: page %d refused: %v", tt.name, i, err)
				}
				if p.Page != i || p.Generation != r.Repository.Generation || p.Last != (i == len(f.got)-2) {
					t.Errorf("%s: page %d says page %d, generation %d, last %v", tt.name, i, p.Page, p.Generation, p.Last)
				}
				if off+len(p.Images) > len(fitted) {
					t.Fatalf("%s: more images in the pages than in the list", tt.name)
				}
				// Byte for byte what json.Marshal makes of that part of the list.
				want := wire.ImagesPage{Type: wire.TypeImages, Generation: p.Generation, Page: i, Images: fitted[off : off+len(p.Images)], Last: p.Last}
				if m, _ := json.Marshal(want); !bytes.Equal(m, fr.Bytes()) {
					t.Errorf("%s: page %d differs from json.Marshal's:\n got %.200s\nwant %.200s", tt.name, i, fr, m)
				}
				off += len(p.Images)
			}
			if off != len(fitted) {
				t.Errorf("%s: the pages hold %d images of %d", tt.name, off, len(fitted))
			}
		}
	}
}

// Without a list to send, EncodePaged writes one frame, as Encode does; an
// empty sequence gets an empty last page.
func TestEncodePagedOneFrame(t *testing.T) {
	r := sampleReport()
	var enc Encoder
	for _, tt := range []struct {
		name  string
		c     Collected
		omit  bool
		pages int
	}{
		{"omitted", Collected{Report: r, Images: seq(sampleImages)}, true, 0},
		{"no list", Collected{Report: r}, false, 0},
		{"empty sequence", Collected{Report: r, Images: seq(nil)}, false, 1},
	} {
		var f frames
		if err := enc.EncodePaged(f.next, tt.c, tt.omit); err != nil {
			t.Fatal(err)
		}
		var one bytes.Buffer
		if err := enc.Encode(&one, tt.c, tt.omit); err != nil {
			t.Fatal(err)
		}
		if len(f.got) != 1+tt.pages {
			t.Fatalf("%s: %d frames, want %d", tt.name, len(f.got), 1+tt.pages)
		}
		if tt.pages == 0 && !bytes.Equal(f.got[0].Bytes(), one.Bytes()) {
			t.Errorf("%s: differs from Encode's frame:\n%s\n%s", tt.name, f.got[0], one.Bytes())
		}
		if tt.pages == 1 {
			p, err := wire.DecodeImagesPage(f.got[1].Bytes())
			if err != nil || !p.Last || len(p.Images) != 0 {
				t.Errorf("%s: page %s: %v", tt.name, f.got[1], err)
			}
		}
	}
}

// A connection that fails in the middle of the pages stops the list there
// and surfaces the error.
func TestEncodePagedWriteError(t *testing.T) {
	yielded := 0
	c := countedList(3*wire.MaxPageImages, &yielded)
	f := frames{failAt: 2} // the report and page 0 go, page 1 fails
	var enc Encoder
	if err := enc.EncodePaged(f.next, c, false); err == nil || err.Error() != "connection reset" {
		t.Fatalf("error %v, want the writer's", err)
	}
	if f.open {
		t.Error("the failed frame was not closed")
	}
	if yielded == 3*wire.MaxPageImages {
		t.Error("the list was walked to its end after the writer failed")
	}
}
