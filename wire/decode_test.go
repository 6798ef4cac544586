package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const goodHello = `{"type":"hello","protocol_version":1,"agent_version":"1.0","entity":"UUID1","hostname":"imaging1"}`

const goodReport = `{"type":"report","collected_at":"2026-11-25T12:00:00Z","hostname":"imaging1","uptime_seconds":10,
 "boot_time":"2026-11-25T11:59:50Z",
 "partitions":[{"device":"/dev/sda1","mountpoint":"/","fstype":"ext4","total_bytes":100,"used_bytes":40,"free_bytes":60,"main":true}],
 "memory":{"total_bytes":100,"used_bytes":50,"available_bytes":50,"swap_total_bytes":0,"swap_used_bytes":0},
 "load":{"load1":0.5,"load5":0.4,"load15":0.3,"cpus":2},
 "repository":{"root":"/var/lib/pulse2/imaging","images_total":2,"images_complete":1,"images_in_progress":0,"images_failed":0,"images_invalid":1,
   "bytes_complete":10,"clients":3,"clients_with_images":1,"generation":4,
   "images":[{"uuid":"u","title":"t","state":"complete","size_bytes":10,"created":"2026-11-25T12:00:00Z"},{"uuid":"v","title":"v","state":"invalid","size_bytes":0,"created":"2026-11-25T12:00:00Z"}]},
 "probes":[{"name":"repository","target":"/var/lib/pulse2/imaging","ok":true,"latency_ms":1.5}]}`

func TestDecodeHello(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"good", goodHello, ""},
		{"wrong type", `{"type":"report","protocol_version":1,"entity":"UUID1"}`, "must be a hello"},
		{"version", `{"type":"hello","protocol_version":2,"entity":"UUID1"}`, "protocol version 2 not supported"},
		{"bad entity", `{"type":"hello","protocol_version":1,"entity":"../x"}`, "not a valid entity id"},
		{"unknown field", `{"type":"hello","protocol_version":1,"entity":"UUID1","admin":true}`, "unknown field"},
		{"wrong type of field", `{"type":"hello","protocol_version":"1","entity":"UUID1"}`, "cannot unmarshal"},
		{"trailing", goodHello + `{}`, "data after"},
		{"huge hostname", `{"type":"hello","protocol_version":1,"entity":"UUID1","hostname":"` + strings.Repeat("h", 300) + `"}`, "hostname is 300 bytes"},
		{"not json", `hello`, "invalid character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeHello([]byte(c.in))
			check(t, err, c.want)
		})
	}
}

func TestDecodeReport(t *testing.T) {
	mut := func(old, new string) string {
		if !strings.Contains(goodReport, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(goodReport, old, new, 1)
	}
	cases := []struct{ name, in, want string }{
		{"good", goodReport, ""},
		{"negative size", mut(`"total_bytes":100,"used_bytes":40`, `"total_bytes":-100,"used_bytes":40`), "cannot unmarshal"},
		{"used over total", mut(`"used_bytes":40`, `"used_bytes":400`), "exceeds total"},
		{"negative load", mut(`"load1":0.5`, `"load1":-0.5`), "load average"},
		{"NaN", mut(`"load1":0.5`, `"load1":NaN`), "invalid character"},
		{"counts do not add up", mut(`"images_total":2`, `"images_total":3`), "do not add up"},
		{"unknown state", mut(`"state":"complete"`, `"state":"golden"`), "unknown state"},
		{"negative latency", mut(`"latency_ms":1.5`, `"latency_ms":-1`), "latency"},
		{"unknown field", mut(`"hostname":"imaging1"`, `"hostname":"imaging1","x":1`), "unknown field"},
		{"omitted with list", mut(`"generation":4`, `"generation":4,"images_omitted":true`), "images_omitted"},
		{"memory over total", mut(`"used_bytes":50`, `"used_bytes":500`), "memory"},
		{"NUL", mut(`"hostname":"imaging1"`, `"hostname":"a\u0000b"`), "NUL"},
		{"deep nesting", `{"type":"report","partitions":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, "invalid message"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeReport([]byte(c.in))
			check(t, err, c.want)
		})
	}
}

func check(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v, want ErrInvalid mentioning %q", err, want)
	}
}

// Fuzzing: no input panics, and whatever is accepted survives a round trip.
func FuzzDecodeHello(f *testing.F) {
	f.Add([]byte(goodHello))
	f.Add([]byte(`{"type":"hello"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHello(b)
		if err != nil {
			return
		}
		out, _ := json.Marshal(h)
		if _, err := DecodeHello(out); err != nil {
			t.Fatalf("accepted hello does not round-trip: %v", err)
		}
	})
}

func FuzzDecodeReport(f *testing.F) {
	f.Add([]byte(goodReport))
	f.Add([]byte(`{"type":"report","probes":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeReport(b)
		if err != nil {
			return
		}
		out, _ := json.Marshal(r)
		if _, err := DecodeReport(out); err != nil {
			t.Fatalf("accepted report does not round-trip: %v", err)
		}
	})
}

func TestDecodeViewerRequest(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"good", `{"type":"subscribe","detail":["UUID1","UUID2"]}`, ""},
		{"all", `{"type":"subscribe","detail":["*"]}`, ""},
		{"none", `{"type":"subscribe","detail":[]}`, ""},
		{"other type", `{"type":"hello","detail":[]}`, "unknown viewer message type"},
		{"bad id", `{"type":"subscribe","detail":["a b"]}`, "not a valid entity id"},
		{"too many", `{"type":"subscribe","detail":[` + strings.TrimSuffix(strings.Repeat(`"x",`, MaxSubscribe+1), ",") + `]}`, "max 64"},
		{"unknown field", `{"type":"subscribe","detail":[],"x":1}`, "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeViewerRequest([]byte(c.in))
			check(t, err, c.want)
		})
	}
}

func TestSummarize(t *testing.T) {
	e := Entity{ID: "UUID1", Name: "Public", Status: StatusAvailable, Hostname: "h", UptimeSeconds: 5,
		Partitions: []Partition{{Total: 100, Used: 40}, {Total: 200, Used: 150}, {Total: 0}},
		Repository: &Repository{ImagesTotal: 3}}
	s := Summarize(e)
	if !s.Summary || s.FullestPct == nil || *s.FullestPct != 75 || s.Hostname != "" || s.Partitions != nil || s.Repository != nil || s.Status != StatusAvailable {
		t.Fatalf("summary: %+v", s)
	}
	if Summarize(Entity{ID: "x"}).FullestPct != nil {
		t.Fatal("no partitions: no percentage")
	}
	// A report that only moves figures leaves the summary unchanged.
	e2 := e
	e2.UptimeSeconds = 10
	e2.Partitions = []Partition{{Total: 100, Used: 41}, {Total: 200, Used: 150}}
	a, _ := json.Marshal(Summarize(e))
	b, _ := json.Marshal(Summarize(e2))
	if string(a) != string(b) {
		t.Fatalf("summary moved with figures:\n%s\n%s", a, b)
	}
}

func FuzzDecodeViewerRequest(f *testing.F) {
	f.Add([]byte(`{"type":"subscribe","detail":["UUID1"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeViewerRequest(b)
		if err != nil {
			return
		}
		out, _ := json.Marshal(r)
		if _, err := DecodeViewerRequest(out); err != nil {
			t.Fatalf("accepted request does not round-trip: %v", err)
		}
	})
}
