package hub

import (
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"imagingstatus/server/config"
	"imagingstatus/server/store"
	"imagingstatus/wire"
)

// orderStore keeps the last view written per entity; its first SaveViews
// waits for a gate, so a commit can arrive while a save is under way.
type orderStore struct {
	mu    sync.Mutex
	views map[string]wire.Entity
	gate  chan struct{}
	once  sync.Once
}

func (s *orderStore) put(vs []wire.Entity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range vs {
		s.views[v.ID] = v
	}
}

func (s *orderStore) LastKnown() (map[string]wire.Entity, error) { return nil, nil }
func (s *orderStore) Record(_ []store.Change, vs []wire.Entity) error {
	s.put(vs)
	return nil
}
func (s *orderStore) SaveViews(vs []wire.Entity) error {
	s.once.Do(func() { <-s.gate })
	s.put(vs)
	return nil
}
func (s *orderStore) History(string, int) ([]store.Change, error) { return nil, nil }
func (s *orderStore) PruneHistory(time.Time, time.Duration, int) (int, error) {
	return 0, nil
}

// TestSaveNeverOverwritesANewerCommit: a periodic save taken before a
// status change must not write its older view over the one the commit
// wrote.
func TestSaveNeverOverwritesANewerCommit(t *testing.T) {
	cfg, err := config.Parse([]byte(`{"entities":[{"id":"A","name":"A"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	st := &orderStore{views: map[string]wire.Entity{}, gate: make(chan struct{})}
	r := newRecorder(h, st)
	// A save of 600 views, X among the last; its first chunk waits.
	var views []wire.Entity
	for i := 0; i < 600; i++ {
		views = append(views, wire.Entity{ID: "E" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Status: wire.StatusOffline})
	}
	views[550] = wire.Entity{ID: "X", Status: wire.StatusOffline, Reason: "old"}
	if !r.save(views) {
		t.Fatal("save refused")
	}
	// While the save is under way, X's status changes and is committed.
	r.record(recordJob{changes: []store.Change{{Entity: "X", At: time.Now(), From: wire.StatusOffline, To: wire.StatusAvailable}},
		views: []wire.Entity{{ID: "X", Status: wire.StatusAvailable, Reason: "new"}}})
	close(st.gate)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st.mu.Lock()
		n, x := len(st.views), st.views["X"]
		st.mu.Unlock()
		if n == 600 || time.Now().After(deadline) {
			if x.Status != wire.StatusAvailable || x.Reason != "new" {
				t.Fatalf("X in the state file: %+v, want the committed newer view", x)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.close()
}

// TestRefusalLogKeepsNoStrangerBytes: refusals naming no valid entity are
// counted under one key, whatever a stranger put in the header.
func TestRefusalLogKeepsNoStrangerBytes(t *testing.T) {
	cfg, err := config.Parse([]byte(`{"entities":[{"id":"A","name":"A"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	big := make([]byte, 32<<10)
	for i := 0; i < 200; i++ {
		for j := range big {
			big[j] = byte('a' + (i+j)%26)
		}
		h.refused(netip.MustParseAddr("192.0.2.1"), string(big)+string(rune('0'+i%10)), reasonTokenRejected, "")
	}
	if n := len(h.refusals.seen); n != 1 {
		t.Fatalf("%d refusal keys kept for 200 invalid entity names, want 1", n)
	}
}
