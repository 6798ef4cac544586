package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func frameEntities(t testing.TB, n int) ([]Entity, [][]byte) {
	t.Helper()
	var es []Entity
	var enc [][]byte
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		e := Entity{ID: fmt.Sprintf("UUID%d", i), Name: fmt.Sprintf("Entity <%d> & co", i), Path: []string{"Root"},
			Status: StatusAvailable, Since: since, Figures: Figures{Hostname: "h", CollectedAt: since.Add(time.Second),
				Partitions: []Partition{{Device: "/dev/sda1", Mountpoint: "/", FSType: "ext4", Total: 100, Used: 40, Free: 60}}}}
		if i%2 == 1 {
			e = Summarize(e)
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		es, enc = append(es, e), append(enc, b)
	}
	return es, enc
}

// TestFrames: what AppendSnapshot and AppendChanges write is what
// encoding/json writes for the same ViewerMessage, decodes back to it, and
// starts with the type then the hub time.
func TestFrames(t *testing.T) {
	hubTime := time.Date(2026, 3, 1, 12, 0, 5, 123456789, time.FixedZone("CET", 3600))
	cases := []struct {
		name            string
		snapshot        bool
		version, stErr  string
		n               int
		want            ViewerMessage
		sameAsMarshaled bool // encoding/json writes the same bytes (it omits an empty list)
	}{
		{"snapshot", true, "1.2.3", "", 3, ViewerMessage{Type: TypeSnapshot, Version: "1.2.3"}, true},
		{"snapshot with state error", true, "dev", "disk full: <state> & \"more\"\n", 2, ViewerMessage{Type: TypeSnapshot, Version: "dev", StateError: "disk full: <state> & \"more\"\n"}, true},
		{"snapshot, version not ASCII", true, "v1 — é\u2028", "", 1, ViewerMessage{Type: TypeSnapshot, Version: "v1 — é\u2028"}, true},
		{"snapshot, invalid UTF-8", true, "v\xff", "", 1, ViewerMessage{Type: TypeSnapshot, Version: "v\ufffd"}, true},
		{"snapshot without version", true, "", "", 1, ViewerMessage{Type: TypeSnapshot}, true},
		{"empty snapshot", true, "1", "", 0, ViewerMessage{Type: TypeSnapshot, Version: "1", Entities: []Entity{}}, false},
		{"one change", false, "", "", 1, ViewerMessage{Type: TypeChange}, true},
		{"changes", false, "", "", 4, ViewerMessage{Type: TypeChanges}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			es, enc := frameEntities(t, c.n)
			want := c.want
			want.HubTime = hubTime.UTC()
			switch {
			case want.Type == TypeChange:
				want.Entity = &es[0]
			case c.n > 0:
				want.Entities = es
			}
			prefix := []byte("keep")
			var out []byte
			if c.snapshot {
				out = AppendSnapshot(prefix, hubTime, c.version, c.stErr, enc)
			} else {
				out = AppendChanges(prefix, hubTime, enc)
			}
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("dst not kept: %.40s", out)
			}
			out = out[len(prefix):]
			head := `{"type":"` + want.Type + `","hub_time":"2026-03-01T11:00:05.123456789Z"`
			if !strings.HasPrefix(string(out), head) {
				t.Fatalf("frame starts %.80s, want %s", out, head)
			}
			var got ViewerMessage
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n got %+v\nwant %+v\nfrom %s", got, want, out)
			}
			if c.sameAsMarshaled {
				msg := want
				msg.Version, msg.StateError = c.version, c.stErr // as given, before decoding
				ref, err := json.Marshal(msg)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, ref) {
					t.Fatalf("frame differs from encoding/json's:\n got %s\nwant %s", out, ref)
				}
			}
		})
	}
	if out := AppendChanges([]byte("x"), hubTime, nil); string(out) != "x" {
		t.Fatalf("no change made a frame: %s", out)
	}
}

// TestEntityJSONOrder: an entity's JSON starts with its id (the bench
// splits frames on `{"id":"`) and says its status before collected_at.
func TestEntityJSONOrder(t *testing.T) {
	_, enc := frameEntities(t, 1)
	s := string(enc[0])
	if !strings.HasPrefix(s, `{"id":"UUID0",`) {
		t.Fatalf("entity JSON starts %.40s", s)
	}
	if st, ca := strings.Index(s, `"status":`), strings.Index(s, `"collected_at":`); st < 0 || ca < 0 || st > ca {
		t.Fatalf("status at %d, collected_at at %d: %s", st, ca, s)
	}
	// Unknown times are left out, as the pointers they were.
	b, _ := json.Marshal(Entity{ID: "x"})
	if strings.Contains(string(b), "collected_at") || strings.Contains(string(b), "boot_time") {
		t.Fatalf("unset times encoded: %s", b)
	}
}

func BenchmarkAppendSnapshot(b *testing.B) {
	_, enc := frameEntities(b, 10_000)
	at := time.Now()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendSnapshot(buf[:0], at, "1.2.3", "", enc)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendChanges(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, enc := frameEntities(b, n)
			at := time.Now()
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendChanges(buf[:0], at, enc)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
