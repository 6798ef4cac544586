package store

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"imagingstatus/wire"
)

// oldViews are views as the hub wrote them before wire.Figures (pointer
// times; hostname before agent_version; boot_time written even when the
// agent could not read it), byte for byte.
var oldViews = map[string]string{
	"a": `{"id":"a","name":"Entity a","parent":"root","path":["Root","Entity a"],"status":"available","since":"2026-03-01T12:00:00Z",` +
		`"served_by":"srv-a","served_by_entity":"a","hostname":"host-a","agent_version":"1.0.0","last_report_at":"2026-03-01T12:00:01Z",` +
		`"collected_at":"2026-03-01T12:00:01Z","uptime_seconds":3600,"boot_time":"0001-01-01T00:00:00Z",` +
		`"partitions":[{"device":"/dev/sdb1","mountpoint":"/var/lib/pulse2","fstype":"xfs","total_bytes":2199023255552,"used_bytes":1099511627776,"free_bytes":1099511627776,"main":true}],` +
		`"memory":{"total_bytes":8589934592,"used_bytes":3221225472,"available_bytes":5368709120,"swap_total_bytes":0,"swap_used_bytes":0},` +
		`"load":{"load1":0.5,"load5":0.4,"load15":0.3,"cpus":4},` +
		`"repository":{"root":"/var/lib/pulse2/imaging","images_total":10000,"images_complete":9990,"images_in_progress":0,"images_failed":0,"images_invalid":0,"bytes_complete":0,"clients":0,"clients_with_images":0,"generation":7},` +
		`"probes":[{"name":"http","target":"http://127.0.0.1/imaging","ok":false,"latency_ms":0,"error":"connection refused"}],` +
		`"errors":["memory: permission denied"]}`,
	"b": `{"id":"b","name":"B","path":null,"status":"not_linked","reason":"no server","since":"2026-03-01T12:00:00Z"}`,
}

// TestOldViewsDecode: a state file written before the views shared
// wire.Figures with reports still restores every view, and a view saved
// again keeps "id" first and "status" before "collected_at".
func TestOldViewsDecode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openT(t, path)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for id, v := range oldViews {
			if err := tx.Bucket(bucketViews).Put([]byte(id), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LastKnown()
	if err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Second)
	want := map[string]wire.Entity{
		"a": {
			ID: "a", Name: "Entity a", Parent: "root", Path: []string{"Root", "Entity a"},
			Status: wire.StatusAvailable, Since: t0, ServedBy: "srv-a", ServedByEntity: "a",
			AgentVersion: "1.0.0", LastReportAt: &at,
			Figures: wire.Figures{
				Hostname: "host-a", CollectedAt: at, UptimeSeconds: 3600, // boot_time 0001-01-01: the zero time, unknown
				Partitions: []wire.Partition{{Device: "/dev/sdb1", Mountpoint: "/var/lib/pulse2", FSType: "xfs", Total: 2 << 40, Used: 1 << 40, Free: 1 << 40, Main: true}},
				Memory:     &wire.Memory{Total: 8 << 30, Used: 3 << 30, Available: 5 << 30},
				Load:       &wire.Load{Load1: 0.5, Load5: 0.4, Load15: 0.3, CPUs: 4},
				Repository: &wire.Repository{Root: "/var/lib/pulse2/imaging", ImagesTotal: 10000, ImagesComplete: 9990, Generation: 7},
				Probes:     []wire.Probe{{Name: "http", Target: "http://127.0.0.1/imaging", Error: "connection refused"}},
				Errors:     []string{"memory: permission denied"},
			},
		},
		"b": {ID: "b", Name: "B", Status: wire.StatusNotLinked, Reason: "no server", Since: t0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("old views decoded as\n got %+v\nwant %+v", got, want)
	}
	if !got["a"].BootTime.IsZero() {
		t.Fatalf("boot time %v, want unknown", got["a"].BootTime)
	}

	// Saved again by this build: same keys less the unknown boot time.
	if err := s.SaveViews([]wire.Entity{got["a"], got["b"]}); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		raw = append(raw, tx.Bucket(bucketViews).Get([]byte("a"))...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	js := string(raw)
	if !strings.HasPrefix(js, `{"id":"a",`) || strings.Index(js, `"status":`) > strings.Index(js, `"collected_at":`) || strings.Contains(js, "boot_time") {
		t.Fatalf("re-encoded view: %s", js)
	}
	var oldKeys, newKeys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(oldViews["a"]), &oldKeys); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &newKeys); err != nil {
		t.Fatal(err)
	}
	delete(oldKeys, "boot_time")
	for k, v := range oldKeys {
		if string(newKeys[k]) != string(v) {
			t.Errorf("key %s: %s, was %s", k, newKeys[k], v)
		}
	}
	if len(newKeys) != len(oldKeys) {
		t.Errorf("keys %d, want %d: %s", len(newKeys), len(oldKeys), raw)
	}
}
