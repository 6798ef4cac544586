package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"imagingstatus/agent/repo/repotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The polling fallback: what the collector does when it cannot watch.
func TestCollectRescansOnlyWhenNeeded(t *testing.T) {
	root := filepath.Join(t.TempDir(), "imaging")
	old := time.Now().Add(-3 * time.Hour) // nothing "just written": no forced re-read
	if _, err := repotest.Generate(root, repotest.Options{Complete: 3, Clients: 2, ClientsWithImages: 1, WithUUIDCache: true, Now: old}); err != nil {
		t.Fatal(err)
	}
	touchOld := func(p string) { _ = os.Chtimes(p, old, old) }
	touchOld(filepath.Join(root, "masters"))
	clock := time.Now()
	c := NewCollector(root, nil)
	c.Watch = false
	c.now = func() time.Time { return clock }
	ctx := context.Background()

	count := func() int {
		t.Helper()
		r := c.Collect(ctx)
		if r.Repository == nil {
			t.Fatalf("no repository: %+v", r.Probes)
		}
		return r.Repository.ImagesTotal
	}
	if n := count(); n != 3 {
		t.Fatalf("first collection: %d images", n)
	}

	// A new image changes masters/: seen at once.
	if err := os.MkdirAll(filepath.Join(root, "masters", "new-image"), 0o755); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 4 {
		t.Fatalf("after adding an image: %d", n)
	}

	// A change inside an image without touching masters/ waits for the periodic rescan.
	touchOld(filepath.Join(root, "masters"))
	clock = clock.Add(time.Second)
	count() // records masters/' restored time
	if err := os.WriteFile(filepath.Join(root, "masters", "new-image", "davosInfo.json"), []byte(`{"title":"x","size":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	touchOld(filepath.Join(root, "masters"))
	first := c.Collect(ctx).Repository
	clock = clock.Add(c.RescanEvery)
	second := c.Collect(ctx).Repository
	if first.Generation == second.Generation {
		t.Fatalf("the periodic rescan did not pick up the rewritten image (generation %d)", first.Generation)
	}

	// A vanished repository is reported at once, not from the cache.
	if err := os.RemoveAll(filepath.Join(root, "masters")); err != nil {
		t.Fatal(err)
	}
	r := c.Collect(ctx)
	if r.Repository != nil || r.Probes[0].OK || r.Probes[0].Error == "" {
		t.Fatalf("missing masters/: %+v", r.Probes)
	}
}
