package hub_test

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"imagingstatus/server/hub"
	"imagingstatus/wire"
)

// listReport is a good report of a repository of n complete images whose
// list follows in pages.
func listReport(n int, gen uint64) wire.Report {
	r := report(true)
	r.Repository = &wire.Repository{Root: "/repo", ImagesTotal: n, ImagesComplete: n, Generation: gen, ImagesFollow: true}
	return r
}

func pageOf(gen uint64, page, from, to int, last bool) wire.ImagesPage {
	p := wire.ImagesPage{Type: wire.TypeImages, Generation: gen, Page: page, Last: last, Images: []wire.Image{}}
	for i := from; i < to; i++ {
		p.Images = append(p.Images, wire.Image{UUID: fmt.Sprintf("img-%05d", i), Title: "t", State: wire.ImageComplete, Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	}
	return p
}

// startSlow starts a hub with a 2 s interval (6 s deadline): these tests
// send megabytes of pages from a test agent that may not answer pings, and
// decoding them under -race on a busy machine takes longer than the 300 ms
// deadline of start.
func startSlow(t *testing.T) *testHub {
	t.Helper()
	return startInterval(t, hub.Options{}, "2s", "", io.Discard)
}

// waitReason is waitStatus with a ceiling for a busy machine.
func (th *testHub) waitReason(t *testing.T, id string, st wire.Status, reasonPart string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, _ := th.get(t, id)
		if e.Status == st && strings.Contains(e.Reason, reasonPart) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %s (%q), want %s (%q)", id, e.Status, e.Reason, st, reasonPart)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func marshalAll(v ...any) [][]byte {
	out := make([][]byte, len(v))
	for i, x := range v {
		out[i], _ = json.Marshal(x)
	}
	return out
}

func write(t *testing.T, c *websocket.Conn, frames ...[]byte) {
	t.Helper()
	for _, b := range frames {
		if err := c.WriteMessage(websocket.TextMessage, b); err != nil {
			t.Fatal(err)
		}
	}
}

// waitImages polls REST until the entity lists n images.
func (th *testHub) waitImages(t *testing.T, id string, n int) wire.Entity {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: the machine may be busy
	for {
		e, _ := th.get(t, id)
		if e.Repository != nil && len(e.Repository.Images) == n {
			return e
		}
		if time.Now().After(deadline) {
			got := -1
			if e.Repository != nil {
				got = len(e.Repository.Images)
			}
			t.Fatalf("%s lists %d images, want %d (status %s, %q)", id, got, n, e.Status, e.Reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A list in pages is applied with its report once the last page is in, in
// order; an unchanged list (images_omitted) keeps it.
func TestImageListInPages(t *testing.T) {
	// Encoded before the agent connects: a session that says nothing for
	// the deadline (300 ms) is cut, and encoding is slow under -race.
	frames := marshalAll(listReport(2345, 7), pageOf(7, 0, 0, 1000, false), pageOf(7, 1, 1000, 2000, false), pageOf(7, 2, 2000, 2345, true))
	th := startSlow(t)
	c := th.quietAgent(t, "UUID2", tokenB, false)
	go func() { // answers pings: the test goes on longer than the deadline
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	write(t, c, frames[:3]...)
	// Not applied before the last page: the counts never stand beside half a list.
	if e, _ := th.get(t, "UUID2"); e.Repository != nil {
		t.Fatalf("report applied before its last page: %d images listed of %d", len(e.Repository.Images), e.Repository.ImagesTotal)
	}
	write(t, c, frames[3])
	e := th.waitImages(t, "UUID2", 2345)
	if e.Status != wire.StatusAvailable || e.Repository.ImagesFollow || e.Repository.Images[2344].UUID != "img-02344" {
		t.Fatalf("entity after the pages: %s, follow %v, last %q", e.Status, e.Repository.ImagesFollow, e.Repository.Images[2344].UUID)
	}

	omitted := report(true)
	omitted.Repository = &wire.Repository{Root: "/repo", ImagesTotal: 2345, ImagesComplete: 2345, Generation: 7, ImagesOmitted: true}
	omitted.Hostname = "imaging1-renamed"
	write(t, c, marshalAll(omitted)...)
	deadline := time.Now().Add(30 * time.Second)
	for e, _ = th.get(t, "UUID2"); e.Hostname != "imaging1-renamed"; e, _ = th.get(t, "UUID2") {
		if time.Now().After(deadline) {
			t.Fatal("the report without its list was not applied")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(e.Repository.Images) != 2345 {
		t.Fatalf("an unchanged list was lost: %d images", len(e.Repository.Images))
	}

	// An empty list: one empty last page.
	write(t, c, marshalAll(listReport(0, 8), pageOf(8, 0, 0, 0, true))...)
	th.waitImages(t, "UUID2", 0)
}

// Pages out of their order, of another generation, without their report,
// or past the bounds close that session as a malformed report.
func TestImagePagesRefused(t *testing.T) {
	over := wire.MaxImages + 1
	cases := []struct {
		name   string
		frames []any
		reason string
	}{
		{"page skipped", []any{listReport(3000, 1), pageOf(1, 0, 0, 1000, false), pageOf(1, 2, 2000, 3000, true)}, "malformed report"},
		{"other generation", []any{listReport(10, 1), pageOf(2, 0, 0, 10, true)}, "malformed report"},
		{"report instead of page", []any{listReport(10, 1), report(true)}, "malformed report"},
		{"page without report", []any{pageOf(1, 0, 0, 10, true)}, "malformed report"},
		{"follow and list", []any{func() wire.Report {
			r := listReport(1, 1)
			r.Repository.Images = pageOf(1, 0, 0, 1, true).Images
			return r
		}()}, "malformed report"},
		{"list over MaxImages", func() []any {
			f := []any{listReport(0, 1)}
			for p := 0; p*wire.MaxPageImages < over; p++ {
				f = append(f, pageOf(1, p, p*wire.MaxPageImages, min((p+1)*wire.MaxPageImages, over), (p+1)*wire.MaxPageImages >= over))
			}
			return f
		}(), "malformed report"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			frames := marshalAll(tt.frames...)
			th := startSlow(t)
			c := th.quietAgent(t, "UUID2", tokenB, false)
			for _, b := range frames {
				if c.WriteMessage(websocket.TextMessage, b) != nil {
					break // closed by the hub already
				}
			}
			th.waitReason(t, "UUID2", wire.StatusConnectionError, tt.reason)
		})
	}
}

// A frame over wire.MaxAgentFrame is refused by the socket (a list that
// does not come in pages cannot make the hub hold it whole) and shows as
// Connection error, as a malformed report does.
func TestOversizedFrameRefused(t *testing.T) {
	r := report(true)
	p := pageOf(1, 0, 0, 12000, true)
	r.Repository = &wire.Repository{Root: "/repo", ImagesTotal: 12000, ImagesComplete: 12000, Generation: 1, Images: p.Images}
	b, _ := json.Marshal(r)
	if len(b) <= wire.MaxAgentFrame {
		t.Fatalf("the test's frame is %d bytes, not over the limit", len(b))
	}
	th := startSlow(t)
	c := th.quietAgent(t, "UUID2", tokenB, false)
	_ = c.WriteMessage(websocket.TextMessage, b)
	th.waitReason(t, "UUID2", wire.StatusConnectionError, wire.TextTooLarge)
}
