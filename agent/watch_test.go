package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"imagingstatus/agent/repo/repotest"
	"imagingstatus/wire"
)

// eventually collects until cond holds; the ceiling is generous because
// inotify events arrive asynchronously and the machine may be busy.
func eventually(t *testing.T, c *Collector, what string, cond func(*wire.Repository) bool) *wire.Repository {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.Collect(context.Background())
		if r.Repository != nil && cond(r.Repository) {
			return r.Repository
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last report: %+v %v", what, r.Repository, r.Errors)
		}
		time.Sleep(20 * time.Millisecond) // a poll interval, not a wait for an event
	}
}

func imagesOf(c *Collector) map[string]wire.Image {
	m := map[string]wire.Image{}
	for im := range c.scanner.EachImage {
		m[im.UUID] = *im
	}
	return m
}

func TestCollectWatches(t *testing.T) {
	root := filepath.Join(t.TempDir(), "imaging")
	old := time.Now().Add(-3 * time.Hour)
	if _, err := repotest.Generate(root, repotest.Options{Complete: 3, Clients: 2, ClientsWithImages: 1, WithUUIDCache: true, Now: old}); err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	c := NewCollector(root, nil)
	defer c.Close()
	c.now = func() time.Time { return clock } // no hot or safety rescan falls due by itself
	ctx := context.Background()

	r := c.Collect(ctx)
	if r.Repository == nil || r.Repository.ImagesTotal != 3 || c.watch == nil {
		t.Fatalf("first collection: %+v, watching %v, errors %v", r.Repository, c.watch != nil, r.Errors)
	}
	if r.Repository.ClientsWithImages != 1 {
		t.Fatalf("clients_with_images %d, want 1", r.Repository.ClientsWithImages)
	}
	// Unchanged: nothing is read again.
	reads := c.scanner.Reads()
	c.Collect(ctx)
	c.Collect(ctx)
	if n := c.scanner.Reads() - reads; n != 0 {
		t.Fatalf("an unchanged repository read %d images", n)
	}

	// An image being made: seen, watched, and its completion seen without a
	// full rescan or the hot cadence.
	mac := repotest.ClientMAC(5) // not a registered client yet
	name := repotest.UUIDv1(time.Now(), 1, mac)
	dir := filepath.Join(root, "masters", name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	eventually(t, c, "the new image", func(r *wire.Repository) bool { return r.ImagesTotal == 4 })
	eventually(t, c, "a watch on the new image", func(*wire.Repository) bool { return c.watch.images[name] })
	files := map[string]string{"disk": "sda\n", "parts": "sda1\n", "clonezilla-img": "ok\n", "sda1.ext4-ptcl-img.gz.aa": "xx"}
	for fn, content := range files {
		if err := os.WriteFile(filepath.Join(dir, fn), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, c, "the image in progress", func(r *wire.Repository) bool { return r.ImagesInProgress == 1 })
	if err := os.WriteFile(filepath.Join(dir, "davosInfo.json"), []byte(`{"title":"fresh","size":42}`), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := eventually(t, c, "the image complete", func(r *wire.Repository) bool { return r.ImagesComplete == 4 })
	if im := imagesOf(c)[name]; im.Title != "fresh" || im.Size != 42 || im.SourceMAC != mac {
		t.Errorf("new image: %+v", im)
	}
	if rep.ClientsWithImages != 1 {
		t.Errorf("clients_with_images %d before its client is registered", rep.ClientsWithImages)
	}

	// A client registered: computers/ and uuid-cache.txt are watched.
	cp := filepath.Join(root, "uuid-cache.txt")
	b, _ := os.ReadFile(cp)
	b = append(b, "\n[UUID9]\nmac = "+mac+"\n"...)
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "computers", "UUID9"), 0o755); err != nil {
		t.Fatal(err)
	}
	eventually(t, c, "the new client", func(r *wire.Repository) bool { return r.Clients == 3 && r.ClientsWithImages == 2 })

	// An image removed.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	eventually(t, c, "the image gone", func(r *wire.Repository) bool { return r.ImagesTotal == 3 && r.ClientsWithImages == 1 })

	// A vanished masters/ is reported at once.
	if err := os.RemoveAll(filepath.Join(root, "masters")); err != nil {
		t.Fatal(err)
	}
	r = c.Collect(ctx)
	if r.Repository != nil || r.Probes[0].OK || !strings.Contains(r.Probes[0].Error, "masters/ not readable") {
		t.Fatalf("missing masters/: %+v", r.Probes)
	}
	// And watched again once back.
	if err := os.Mkdir(filepath.Join(root, "masters"), 0o755); err != nil {
		t.Fatal(err)
	}
	eventually(t, c, "masters/ back", func(r *wire.Repository) bool { return r.ImagesTotal == 0 })
	if c.watch == nil {
		t.Fatal("not watching after masters/ came back")
	}
	if err := os.Mkdir(filepath.Join(root, "masters", "another"), 0o755); err != nil {
		t.Fatal(err)
	}
	eventually(t, c, "an image in the new masters/", func(r *wire.Repository) bool { return r.ImagesTotal == 1 })
}

// When inotify cannot be used the collector polls and says so.
func TestCollectFallsBackToPolling(t *testing.T) {
	root := filepath.Join(t.TempDir(), "imaging")
	if _, err := repotest.Generate(root, repotest.Options{Complete: 2}); err != nil {
		t.Fatal(err)
	}
	defer func(f func(string, string) (*watcher, error)) { startWatch = f }(startWatch)
	tries := 0
	startWatch = func(string, string) (*watcher, error) {
		tries++
		return nil, &errWatch{&os.SyscallError{Syscall: "inotify_add_watch", Err: syscall.ENOSPC}}
	}
	clock := time.Now()
	c := NewCollector(root, nil)
	defer c.Close()
	c.now = func() time.Time { return clock }
	ctx := context.Background()
	r := c.Collect(ctx)
	if r.Repository == nil || r.Repository.ImagesTotal != 2 {
		t.Fatalf("first collection: %+v", r.Repository)
	}
	if !strings.Contains(strings.Join(r.Errors, "\n"), "fs.inotify.max_user_watches") {
		t.Fatalf("errors do not say why the repository is polled: %q", r.Errors)
	}
	// Polling: a new image shows (masters/ changed).
	if err := os.Mkdir(filepath.Join(root, "masters", "new-image"), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := c.Collect(ctx); r.Repository.ImagesTotal != 3 {
		t.Fatalf("polling missed a new image: %d", r.Repository.ImagesTotal)
	}
	if tries != 1 {
		t.Errorf("watch tried %d times before SafetyRescan passed", tries)
	}
	clock = clock.Add(c.SafetyRescan)
	c.Collect(ctx)
	if tries != 2 {
		t.Errorf("watch not tried again after SafetyRescan (%d tries)", tries)
	}
}
