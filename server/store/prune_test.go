package store

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"imagingstatus/wire"
)

// withSmallBatches makes every pruning transaction tiny, so that a test
// crosses many transaction boundaries (and entity boundaries inside them).
func withSmallBatches(t *testing.T, batch, scan, buckets int) {
	t.Helper()
	b, s, d := pruneBatch, pruneScan, dropBuckets
	pruneBatch, pruneScan, dropBuckets = batch, scan, buckets
	t.Cleanup(func() { pruneBatch, pruneScan, dropBuckets = b, s, d })
}

// reasons is the entity's history, newest first, as its Reasons.
func reasons(t *testing.T, s *Store, entity string) string {
	t.Helper()
	h, err := s.History(entity, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range h {
		out = append(out, c.Reason)
	}
	return strings.Join(out, ",")
}

// retentionFixture records, with now = t0+10h:
//
//	a: 10 changes, hourly from t0 (Reasons 0..9)
//	b: 3 recent changes (t0+7h..9h): nothing to remove
//	c: 5 old changes (t0..t0+4h)
//	d: the clock stepped back: t0+9h, t0+1h, t0+9h
func retentionFixture(t *testing.T, s *Store) (now time.Time) {
	t.Helper()
	rec := func(entity string, reason int, at time.Time) {
		t.Helper()
		c := Change{Entity: entity, At: at, To: wire.StatusOffline, Reason: strconv.Itoa(reason)}
		if err := s.Record([]Change{c}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		rec("a", i, t0.Add(time.Duration(i)*time.Hour))
	}
	for i := 0; i < 3; i++ {
		rec("b", i, t0.Add(time.Duration(7+i)*time.Hour))
	}
	for i := 0; i < 5; i++ {
		rec("c", i, t0.Add(time.Duration(i)*time.Hour))
	}
	for i, h := range []int{9, 1, 9} {
		rec("d", i, t0.Add(time.Duration(h)*time.Hour))
	}
	return t0.Add(10 * time.Hour)
}

func TestPruneHistory(t *testing.T) {
	type want struct {
		removed    int
		a, b, c, d string
	}
	untouched := want{0, "9,8,7,6,5,4,3,2,1,0", "2,1,0", "4,3,2,1,0", "2,1,0"}
	cases := []struct {
		name   string
		maxAge time.Duration
		maxPer int
		want   want
	}{
		{"no limits", 0, 0, untouched},
		{"negative limits", -time.Hour, -1, untouched},
		{"limits not reached", 100 * time.Hour, 100, untouched},
		{"age", 5 * time.Hour, 0, want{11, "9,8,7,6,5", "2,1,0", "", "2,0"}},
		// A change exactly maxAge old is not older than maxAge: kept.
		{"age boundary", 4 * time.Hour, 0, want{12, "9,8,7,6", "2,1,0", "", "2,0"}},
		{"count", 0, 3, want{9, "9,8,7", "2,1,0", "4,3,2", "2,1,0"}},
		{"count 1", 0, 1, want{17, "9", "2", "4", "2"}},
		{"age and count", 5 * time.Hour, 3, want{13, "9,8,7", "2,1,0", "", "2,0"}},
		{"age removes all", time.Minute, 2, want{21, "", "", "", ""}},
	}
	batches := []struct {
		name                  string
		batch, scan, dropBkts int
	}{
		{"default transactions", pruneBatch, pruneScan, dropBuckets},
		{"tiny transactions", 2, 3, 1},
		{"one record per transaction", 1, 1, 1},
	}
	for _, bt := range batches {
		for _, tc := range cases {
			t.Run(bt.name+"/"+tc.name, func(t *testing.T) {
				withSmallBatches(t, bt.batch, bt.scan, bt.dropBkts)
				path := filepath.Join(t.TempDir(), "state.db")
				s := openT(t, path)
				now := retentionFixture(t, s)
				removed, err := s.PruneHistory(now, tc.maxAge, tc.maxPer)
				if err != nil {
					t.Fatal(err)
				}
				if removed != tc.want.removed {
					t.Errorf("removed %d, want %d", removed, tc.want.removed)
				}
				check := func() {
					t.Helper()
					for e, w := range map[string]string{"a": tc.want.a, "b": tc.want.b, "c": tc.want.c, "d": tc.want.d} {
						if got := reasons(t, s, e); got != w {
							t.Errorf("History(%s) = [%s], want [%s]", e, got, w)
						}
					}
				}
				check()
				// Done in one go: a second run finds nothing.
				if n, err := s.PruneHistory(now, tc.maxAge, tc.maxPer); n != 0 || err != nil {
					t.Errorf("second PruneHistory removed %d, %v", n, err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = openT(t, path)
				check()
				// A limited History still gives the newest first.
				var wantA []string
				if tc.want.a != "" {
					wantA = strings.Split(tc.want.a, ",")
				}
				h, err := s.History("a", 2)
				if err != nil {
					t.Fatal(err)
				}
				var gotA []string
				for _, c := range h {
					gotA = append(gotA, c.Reason)
				}
				if want := wantA[:min(2, len(wantA))]; strings.Join(gotA, ",") != strings.Join(want, ",") {
					t.Errorf("History(a, 2) = %v, want %v", gotA, want)
				}
			})
		}
	}
}

// TestPruneHistoryEmptiedEntity: an entity whose whole history goes loses
// its bucket, and its next change starts a new one.
func TestPruneHistoryEmptiedEntity(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	now := retentionFixture(t, s)
	if _, err := s.PruneHistory(now, 5*time.Hour, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketHistory).Bucket([]byte("c")) != nil {
			return fmt.Errorf("history bucket of c still there")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 13; i++ {
		if err := s.Record([]Change{{Entity: "c", At: now, To: wire.StatusAvailable, Reason: strconv.Itoa(i)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := reasons(t, s, "c"); got != "12,11,10" {
		t.Fatalf("History(c) after pruning and new changes = [%s]", got)
	}
}

// TestPruneHistoryUndecodable: a change whose time cannot be read is kept
// by the age limit and reported, the rest is pruned, and the count limit
// still removes it.
func TestPruneHistoryUndecodable(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	now := retentionFixture(t, s)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory).Bucket([]byte("a"))
		return b.Put(seqKey(0), []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	removed, err := s.PruneHistory(now, 5*time.Hour, 0)
	if err == nil || !strings.Contains(err.Error(), "change 0 of a") || !strings.Contains(err.Error(), "kept 1 change") {
		t.Fatalf("PruneHistory over an undecodable change: %v", err)
	}
	t.Logf("%v", err)
	if removed != 11 {
		t.Fatalf("removed %d, want 11", removed)
	}
	if n, err := s.PruneHistory(now, 0, 5); n != 1 || err != nil {
		t.Fatalf("count limit removed %d, %v; want the undecodable one", n, err)
	}
	if got := reasons(t, s, "a"); got != "9,8,7,6,5" {
		t.Fatalf("History(a) = [%s]", got)
	}
}

// TestPruneHistoryWhileRecording: changes recorded while a prune runs in
// many small transactions are kept, and nothing races.
func TestPruneHistoryWhileRecording(t *testing.T) {
	withSmallBatches(t, 3, 5, 1)
	s := openT(t, filepath.Join(t.TempDir(), "state.db"))
	now := t0.Add(100 * time.Hour)
	var changes []Change
	for e := 0; e < 50; e++ {
		for i := 0; i < 4; i++ {
			changes = append(changes, Change{Entity: fmt.Sprintf("old-%02d", e), At: t0, To: wire.StatusOffline, Reason: strconv.Itoa(i)})
		}
	}
	if err := s.Record(changes, nil); err != nil {
		t.Fatal(err)
	}
	const live = 100
	var wg sync.WaitGroup
	wg.Add(1)
	errc := make(chan error, 1)
	go func() {
		defer wg.Done()
		for i := 0; i < live; i++ {
			for _, e := range []string{"live", "old-07"} {
				if err := s.Record([]Change{{Entity: e, At: now, To: wire.StatusAvailable, Reason: "live " + strconv.Itoa(i)}}, nil); err != nil {
					errc <- err
					return
				}
			}
		}
	}()
	removed, err := s.PruneHistory(now, time.Hour, 0)
	wg.Wait()
	close(errc)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if removed != 200 {
		t.Fatalf("removed %d, want the 200 old changes", removed)
	}
	for _, e := range []string{"live", "old-07"} {
		h, err := s.History(e, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != live || h[0].Reason != "live 99" || h[live-1].Reason != "live 0" {
			t.Fatalf("History(%s): %d changes, newest %q", e, len(h), h[0].Reason)
		}
	}
}

// TestPruneSmallTransactions is TestPrune with one deletion per transaction.
func TestPruneSmallTransactions(t *testing.T) {
	withSmallBatches(t, 1, 1, 1)
	TestPrune(t)
}

// TestPruneHistoryBoundedTransactions counts the write transactions (each
// commit increments bbolt's transaction id): at most pruneBatch deletions
// each, and none when there is nothing to delete.
func TestPruneHistoryBoundedTransactions(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		batch                int
		minWrites, maxWrites uint64
	}{
		{"default", pruneBatch, 1, 1},
		{"batch 10", 10, 30, 30},
		{"batch 7", 7, 43, 45}, // ceil(300/7), plus a short batch at an entity's end
	} {
		t.Run(tc.name, func(t *testing.T) {
			withSmallBatches(t, tc.batch, pruneScan, dropBuckets)
			s := openT(t, filepath.Join(t.TempDir(), "state.db"))
			var changes []Change
			for _, e := range []string{"a", "b", "c"} {
				for i := 0; i < 110; i++ {
					changes = append(changes, Change{Entity: e, At: t0.Add(time.Duration(i) * time.Minute), To: wire.StatusOffline, Reason: strconv.Itoa(i)})
				}
			}
			if err := s.Record(changes, nil); err != nil {
				t.Fatal(err)
			}
			txid := func() uint64 {
				var id int
				if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
					t.Fatal(err)
				}
				return uint64(id)
			}
			// Keep the newest 10 of each by count, the rest by age too.
			now := t0.Add(110 * time.Minute)
			before := txid()
			removed, err := s.PruneHistory(now, 20*time.Minute, 10)
			if err != nil || removed != 300 {
				t.Fatalf("PruneHistory = %d, %v; want 300", removed, err)
			}
			writes := txid() - before
			t.Logf("%d write transactions for %d deletions", writes, removed)
			if writes < tc.minWrites || writes > tc.maxWrites {
				t.Fatalf("%d write transactions, want %d..%d", writes, tc.minWrites, tc.maxWrites)
			}
			before = txid()
			if n, err := s.PruneHistory(now, 20*time.Minute, 10); n != 0 || err != nil {
				t.Fatalf("second PruneHistory = %d, %v", n, err)
			}
			if w := txid() - before; w != 0 {
				t.Fatalf("nothing to remove, yet %d write transactions", w)
			}
			if got := reasons(t, s, "b"); got != "109,108,107,106,105,104,103,102,101,100" {
				t.Fatalf("History(b) = [%s]", got)
			}
		})
	}
}
