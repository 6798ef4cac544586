package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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
		{"follow with list", mut(`"generation":4`, `"generation":4,"images_follow":true`), "images_follow"},
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

const goodPage = `{"type":"images","generation":4,"page":1,"images":[{"uuid":"u","title":"t","state":"complete","size_bytes":10,"created":"2026-11-25T12:00:00Z"}],"last":true}`

func TestDecodeImagesPage(t *testing.T) {
	img := `{"uuid":"u","title":"t","state":"complete","size_bytes":10,"created":"2026-11-25T12:00:00Z"}`
	full := `{"type":"images","generation":4,"page":0,"images":[` + strings.TrimSuffix(strings.Repeat(img+",", MaxPageImages), ",") + `]}`
	cases := []struct{ name, in, want string }{
		{"good", goodPage, ""},
		{"full page", full, ""},
		{"empty list's only page", `{"type":"images","generation":4,"page":0,"images":[],"last":true}`, ""},
		{"empty list, null", `{"type":"images","generation":4,"page":0,"images":null,"last":true}`, ""},
		{"empty page not last", `{"type":"images","generation":4,"page":0,"images":[]}`, "is empty"},
		{"empty later page", `{"type":"images","generation":4,"page":2,"images":[],"last":true}`, "is empty"},
		{"too many", strings.Replace(full, `]}`, `,`+img+`]}`, 1), "1001 images in a page"},
		{"negative page", strings.Replace(goodPage, `"page":1`, `"page":-1`, 1), "out of range"},
		{"page past the bound", strings.Replace(goodPage, `"page":1`, `"page":256`, 1), "out of range"},
		{"report type", strings.Replace(goodPage, `"images","generation"`, `"report","generation"`, 1), "expected a page"},
		{"bad image", strings.Replace(goodPage, `"complete"`, `"golden"`, 1), "unknown state"},
		{"unknown field", strings.Replace(goodPage, `"page":1`, `"page":1,"x":0`, 1), "unknown field"},
		{"trailing", goodPage + `{}`, "data after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeImagesPage([]byte(c.in))
			check(t, err, c.want)
		})
	}
}

// FuzzDecodeImagesPage: what is accepted round-trips through json.Marshal.
func FuzzDecodeImagesPage(f *testing.F) {
	f.Add([]byte(goodPage))
	f.Add([]byte(`{"type":"images","generation":1,"page":0,"images":[],"last":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeImagesPage(b)
		if err != nil {
			return
		}
		out, _ := json.Marshal(p)
		if _, err := DecodeImagesPage(out); err != nil {
			t.Fatalf("accepted page does not round-trip: %v", err)
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
	e := Entity{ID: "UUID1", Name: "Public", Status: StatusAvailable, Figures: Figures{Hostname: "h", UptimeSeconds: 5,
		// The second keeps 10 bytes in reserve: df counts 150 of 190, 79 %.
		Partitions: []Partition{{Total: 100, Used: 40, Free: 60}, {Total: 200, Used: 150, Free: 40}, {Total: 0}},
		Repository: &Repository{ImagesTotal: 3}}}
	s := Summarize(e)
	if !s.Summary || s.FullestPct == nil || *s.FullestPct != 79 || s.Hostname != "" || s.Partitions != nil || s.Repository != nil || s.Status != StatusAvailable {
		t.Fatalf("summary: %+v", s)
	}
	if Summarize(Entity{ID: "x"}).FullestPct != nil {
		t.Fatal("no partitions: no percentage")
	}
	// A report that only moves figures leaves the summary unchanged.
	e2 := e
	e2.UptimeSeconds = 10
	e2.Partitions = []Partition{{Total: 100, Used: 41, Free: 59}, {Total: 200, Used: 150, Free: 40}}
	a, _ := json.Marshal(Summarize(e))
	b, _ := json.Marshal(Summarize(e2))
	if string(a) != string(b) {
		t.Fatalf("summary moved with figures:\n%s\n%s", a, b)
	}
}

func TestPartitionUsedPercentIsDfs(t *testing.T) {
	cases := []struct {
		p        Partition
		pct      int
		ok       bool
		reserved uint64
	}{
		{Partition{Total: 1000, Used: 150, Free: 800}, 16, true, 50}, // 150/950 = 15.8 %: df rounds up
		{Partition{Total: 1000, Used: 500, Free: 500}, 50, true, 0},
		{Partition{Total: 1000, Used: 0, Free: 950}, 0, true, 50},
		{Partition{Total: 1000, Used: 950, Free: 0}, 100, true, 50}, // full for users, root's reserve left
		{Partition{Total: 0}, 0, false, 0},
	}
	for _, c := range cases {
		pct, ok := c.p.UsedPercent()
		if pct != c.pct || ok != c.ok || c.p.Reserved() != c.reserved {
			t.Errorf("%+v: %d %v reserved %d, want %d %v reserved %d", c.p, pct, ok, c.p.Reserved(), c.pct, c.ok, c.reserved)
		}
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

// mutate returns goodReport with its first old replaced by new.
func mutate(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(goodReport, old) {
		t.Fatalf("fixture lacks %q", old)
	}
	return strings.Replace(goodReport, old, new, 1)
}

// encoding/json turns invalid UTF-8 inside strings into U+FFFD, so a frame
// must be checked as a whole before it is decoded.
func TestDecodeRefusesInvalidUTF8(t *testing.T) {
	hello := func(host string) string {
		return `{"type":"hello","protocol_version":1,"agent_version":"1.0","entity":"UUID1","hostname":"` + host + `"}`
	}
	cases := []struct {
		name   string
		decode func([]byte) error
		in     string
		want   string
	}{
		{"hello: valid multibyte", decodeHello, hello("é-serveur-😀"), ""},
		{"hello: stray continuation byte", decodeHello, hello("a\x80b"), "not valid UTF-8 (first bad byte at offset 89)"},
		{"hello: truncated sequence", decodeHello, hello("abc\xc3"), "not valid UTF-8"},
		{"hello: overlong slash", decodeHello, hello("\xc0\xaf"), "not valid UTF-8"},
		{"hello: encoded surrogate", decodeHello, hello("\xed\xa0\x80"), "not valid UTF-8"},
		{"hello: latin-1", decodeHello, hello("caf\xe9"), "not valid UTF-8"},
		{"report: hostname", decodeReport, mutate(t, `"hostname":"imaging1"`, "\"hostname\":\"imaging\xff\""), "not valid UTF-8"},
		{"report: image title", decodeReport, mutate(t, `"title":"t"`, "\"title\":\"t\xfe\""), "not valid UTF-8"},
		{"report: probe error", decodeReport, mutate(t, `"latency_ms":1.5`, "\"latency_ms\":1.5,\"error\":\"\xf8\""), "not valid UTF-8"},
		{"report: outside strings", decodeReport, goodReport + "\xff", "not valid UTF-8"},
		{"viewer: type", decodeViewer, "{\"type\":\"subscribe\xff\",\"detail\":[]}", "not valid UTF-8"},
		{"viewer: detail", decodeViewer, "{\"type\":\"subscribe\",\"detail\":[\"UUID1\xc3\"]}", "not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			check(t, c.decode([]byte(c.in)), c.want)
		})
	}
}

func decodeHello(b []byte) error  { _, err := DecodeHello(b); return err }
func decodeReport(b []byte) error { _, err := DecodeReport(b); return err }
func decodeViewer(b []byte) error { _, err := DecodeViewerRequest(b); return err }

// Absurd figures are refused with a reason; the bounds themselves and the
// zero time (unset) are accepted.
func TestDecodeReportBounds(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"latency 1e300", mutate(t, `"latency_ms":1.5`, `"latency_ms":1e300`), "latency 1e+300 ms out of range"},
		{"latency over an hour", mutate(t, `"latency_ms":1.5`, `"latency_ms":3600000.5`), "latency"},
		{"latency of an hour", mutate(t, `"latency_ms":1.5`, `"latency_ms":3600000`), ""},
		{"collected_at 1970", mutate(t, `"collected_at":"2026-11-25T12:00:00Z"`, `"collected_at":"1970-01-01T00:00:00Z"`), "collected_at 1970-01-01T00:00:00Z out of range"},
		{"collected_at just before 2000", mutate(t, `"collected_at":"2026-11-25T12:00:00Z"`, `"collected_at":"1999-12-31T23:59:59.999Z"`), "collected_at"},
		{"collected_at before 2000 by its offset", mutate(t, `"collected_at":"2026-11-25T12:00:00Z"`, `"collected_at":"2000-01-01T00:30:00+01:00"`), "collected_at"},
		{"collected_at 2000-01-01", mutate(t, `"collected_at":"2026-11-25T12:00:00Z"`, `"collected_at":"2000-01-01T00:00:00Z"`), ""},
		{"collected_at 2100-01-01", mutate(t, `"collected_at":"2026-11-25T12:00:00Z"`, `"collected_at":"2100-01-01T00:00:00Z"`), ""},
		{"collected_at after 2100", mutate(t, `"collected_at":"2026-11-25T12:00:00Z"`, `"collected_at":"2100-01-01T00:00:01Z"`), "collected_at"},
		{"collected_at 9999", mutate(t, `"collected_at":"2026-11-25T12:00:00Z"`, `"collected_at":"9999-12-31T23:59:59Z"`), "collected_at"},
		{"collected_at unset", mutate(t, `"collected_at":"2026-11-25T12:00:00Z"`, `"collected_at":"0001-01-01T00:00:00Z"`), ""},
		{"boot_time 1970", mutate(t, `"boot_time":"2026-11-25T11:59:50Z"`, `"boot_time":"1970-01-01T00:00:00Z"`), "boot_time 1970-01-01T00:00:00Z out of range"},
		{"boot_time 2200", mutate(t, `"boot_time":"2026-11-25T11:59:50Z"`, `"boot_time":"2200-01-01T00:00:00Z"`), "boot_time"},
		// The agent sends a zero boot time when it cannot read it.
		{"boot_time unset", mutate(t, `"boot_time":"2026-11-25T11:59:50Z"`, `"boot_time":"0001-01-01T00:00:00Z"`), ""},
		{"image created 1980", mutate(t, `"created":"2026-11-25T12:00:00Z"`, `"created":"1980-01-01T00:00:00Z"`), "images[0].created 1980-01-01T00:00:00Z out of range"},
		{"image created 3000", mutate(t, `"created":"2026-11-25T12:00:00Z"`, `"created":"3000-01-01T00:00:00Z"`), "images[0].created"},
		{"image created unset", mutate(t, `"created":"2026-11-25T12:00:00Z"`, `"created":"0001-01-01T00:00:00Z"`), ""},
		{"uptime over 100 years", mutate(t, `"uptime_seconds":10`, `"uptime_seconds":3155760001`), "uptime_seconds 3155760001 out of range"},
		{"uptime max uint64", mutate(t, `"uptime_seconds":10`, `"uptime_seconds":18446744073709551615`), "uptime_seconds"},
		{"uptime of 100 years", mutate(t, `"uptime_seconds":10`, `"uptime_seconds":3155760000`), ""},
		{"partition over 128 PiB", mutate(t, `"total_bytes":100,"used_bytes":40`, `"total_bytes":144115188075855873,"used_bytes":40`), "partitions[0]: total_bytes 144115188075855873 out of range"},
		{"partition of 128 PiB", mutate(t, `"total_bytes":100,"used_bytes":40`, `"total_bytes":144115188075855872,"used_bytes":40`), ""},
		{"memory over 4 PiB", mutate(t, `"memory":{"total_bytes":100`, `"memory":{"total_bytes":4503599627370497`), "memory: total_bytes 4503599627370497"},
		{"swap over 128 PiB", mutate(t, `"swap_total_bytes":0`, `"swap_total_bytes":18446744073709551615`), "swap_total_bytes 18446744073709551615"},
		{"load over a million", mutate(t, `"load1":0.5`, `"load1":1000001`), "load average"},
		{"cpus over 65536", mutate(t, `"cpus":2`, `"cpus":65537`), "cpu count"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeReport([]byte(c.in))
			check(t, err, c.want)
		})
	}
}

// What the agent builds when a collector fails (zero times, UTC as the
// agent sets them) passes validation.
func TestValidateAcceptsAgentZeroTimes(t *testing.T) {
	r := Report{Type: TypeReport, Figures: Figures{CollectedAt: time.Now().UTC(), BootTime: time.Time{}.UTC(),
		Repository: &Repository{ImagesTotal: 1, ImagesComplete: 1, Images: []Image{{UUID: "u", State: ImageComplete, Created: time.Time{}.UTC()}}}}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeReport(b); err != nil {
		t.Fatalf("encoded agent report refused: %v", err)
	}
}

// A quoted peer string is clipped on a rune boundary: the hub sends these
// reasons in close frames, which must be valid UTF-8.
func TestClip(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"short", "abc", "abc"},
		{"40 bytes", strings.Repeat("a", 40), strings.Repeat("a", 40)},
		{"ascii", strings.Repeat("a", 50), strings.Repeat("a", 40) + "…"},
		{"rune across the cut", strings.Repeat("a", 39) + "é" + "zzz", strings.Repeat("a", 39) + "…"},
		{"4-byte runes", strings.Repeat("😀", 20), strings.Repeat("😀", 10) + "…"},
		{"3-byte runes", strings.Repeat("€", 20), strings.Repeat("€", 13) + "…"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := clip(c.in)
			if got != c.want || !utf8.ValidString(got) {
				t.Fatalf("clip(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
	// The clip shows in the error, valid, for a type the hub does not know.
	_, err := DecodeViewerRequest([]byte(`{"type":"` + strings.Repeat("€", 30) + `","detail":[]}`))
	if err == nil || !utf8.ValidString(err.Error()) || !strings.Contains(err.Error(), strings.Repeat("€", 13)+"…") {
		t.Fatalf("error %q", err)
	}
}

// TestSummaryCarriesANearForecast: a wall tile can warn of a disk full
// within two weeks; further forecasts, and the moving date, stay out of
// summaries.
func TestSummaryCarriesANearForecast(t *testing.T) {
	at := time.Date(2026, 12, 11, 5, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		days float64
		want float64 // -1: no forecast in the summary
	}{{9.7, 9}, {13.99, 13}, {14, -1}, {40, -1}} {
		d := tc.days
		s := Summarize(Entity{ID: "A", DiskForecast: &DiskForecast{Mountpoint: "/srv", FullAt: &at, DaysLeft: &d, Confidence: ConfidenceHigh}})
		switch {
		case tc.want < 0 && s.DiskForecast != nil:
			t.Errorf("%v days: summary carries %+v", tc.days, s.DiskForecast)
		case tc.want >= 0 && (s.DiskForecast == nil || *s.DiskForecast.DaysLeft != tc.want || s.DiskForecast.FullAt != nil):
			t.Errorf("%v days: summary forecast %+v, want %v whole days and no date", tc.days, s.DiskForecast, tc.want)
		}
	}
	if s := Summarize(Entity{ID: "A", DiskForecast: &DiskForecast{Confidence: ConfidenceLow}}); s.DiskForecast != nil {
		t.Error("a forecast without a trend is in the summary")
	}
}
