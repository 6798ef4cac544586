package main_test

import (
	"strings"
	"testing"

	"imagingstatus/agent/repo/sample"
	"imagingstatus/server/hubtest"
	"imagingstatus/wire"
)

// A real agent with a repository of 2,400 images sends the list in pages
// (1000, 1000, 400): the hub lists every image, each in the state the
// generator gave it, and an image added later reaches it too.
func TestLargeImageListInPages(t *testing.T) {
	e := hubtest.NewEnv(t, "", interval)
	e.WriteConfig(t, `{"listen":"127.0.0.1:0","plain_http":true,"interval":"`+interval.String()+`","missed_pings":3,"entities":[
		{"id":"UUID0","name":"General","server":{"name":"imaging-general","token_sha256":"`+e.NewToken(t, "UUID0")+`"}}]}`)
	exp := e.GenerateRepo(t, sample.Options{Complete: 2300, Failed: 50, Invalid: 50, Clients: 40, ClientsWithImages: 20, WithUUIDCache: true})
	e.StartHub(t)
	e.Agent(t, "UUID0")

	var v wire.Entity
	hubtest.WaitFor(t, "the whole list at the hub", func() bool {
		v = e.Entity(t, "UUID0")
		return v.Status == wire.StatusAvailable && v.Repository != nil && len(v.Repository.Images) == exp.ImagesTotal
	})
	if v.Repository.ImagesTotal != exp.ImagesTotal || v.Repository.ImagesFollow {
		t.Fatalf("repository: %d images total, follow %v; want %d", v.Repository.ImagesTotal, v.Repository.ImagesFollow, exp.ImagesTotal)
	}
	seen := map[string]bool{}
	for _, im := range v.Repository.Images {
		name := im.UUID
		if want, ok := exp.States[name]; !ok || want != im.State {
			t.Fatalf("image %s: state %q, generator says %q (known %v)", name, im.State, want, ok)
		}
		if seen[name] {
			t.Fatalf("image %s listed twice", name)
		}
		seen[name] = true
	}
	if strings.Contains(e.Hub.Output(), "malformed") {
		t.Errorf("the hub refused a frame:\n%s", e.Hub.Output())
	}
}
