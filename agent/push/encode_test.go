package push

import (
	"bytes"
	"encoding/json"
	"errors"
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
			c := Collected{Report: r}
			if r.Repository != nil {
				if asSeq {
					c.Images = seq(tt.images)
				} else {
					cp := *r.Repository
					cp.Images = tt.images
					c.Repository = &cp
				}
			}
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

func TestEncodeWriteError(t *testing.T) {
	many := make([]wire.Image, 2000)
	for i := range many {
		many[i] = sampleImages[0]
	}
	yielded := 0
	c := Collected{Report: sampleReport(), Images: func(yield func(*wire.Image) bool) {
		for i := range many {
			yielded++
			if !yield(&many[i]) {
				return
			}
		}
	}}
	var enc Encoder
	if err := enc.Encode(&failWriter{n: 1}, c, false); err == nil || err.Error() != "connection reset" {
		t.Fatalf("error %v, want the writer's", err)
	}
	if yielded == len(many) {
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
