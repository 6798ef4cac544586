package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"single", []time.Duration{5 * ms}, 0.5, 5 * ms},
		{"exact small", []time.Duration{10 * time.Microsecond, 20 * time.Microsecond, 30 * time.Microsecond}, 0.5, 20 * time.Microsecond},
		{"p99 of 1..100 ms", seq(1, 100, ms), 0.99, 99 * ms},
		{"p50 of 1..100 ms", seq(1, 100, ms), 0.50, 50 * ms},
		{"max quantile is max", seq(1, 100, ms), 1, 100 * ms},
		{"negative counts as zero", []time.Duration{-3 * ms}, 0.5, 0},
		{"huge is clamped", []time.Duration{1000 * time.Hour}, 0.5, 1000 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, d := range tc.samples {
				h.Record(d)
			}
			got := h.Quantile(tc.q)
			if diff := float64(got-tc.want) / float64(max(tc.want, 1)); diff > 0.016 || diff < -0.016 {
				t.Errorf("Quantile(%v) = %v, want %v (±1.6 %%)", tc.q, got, tc.want)
			}
		})
	}
}

func seq(from, to int, unit time.Duration) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i)*unit)
	}
	return out
}

func TestHistogramBucketsCoverEveryValue(t *testing.T) {
	prevHi := uint64(0)
	for i := 0; i < histBuckets; i++ {
		lo, hi := bucketRange(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= histExact && float64(hi-lo+1)/float64(lo) > 1.0/64+1e-9 {
			t.Fatalf("bucket %d [%d, %d] wider than 1/64 of its value", i, lo, hi)
		}
		prevHi = hi
	}
	if prevHi < histMaxUS {
		t.Fatalf("buckets end at %d, below %d", prevHi, uint64(histMaxUS))
	}
}

func TestHistogramMergeAndSummary(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Millisecond
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		all.Record(d)
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(nil)
	if got, want := m.Summary(), all.Summary(); got != want {
		t.Fatalf("merged %+v, want %+v", got, want)
	}
	s := m.Summary()
	if s.Count != 1000 || s.MaxMS != 1000 || s.MeanMS < 500 || s.MeanMS > 501 {
		t.Fatalf("summary %+v", s)
	}
	if (&Histogram{}).Summary() != (Summary{}) {
		t.Fatal("empty histogram has a non-zero summary")
	}
}

func TestParseVmHWM(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want uint64
		err  bool
	}{
		{"linux", "Name:\timaging-agent\nVmPeak:\t 1262312 kB\nVmHWM:\t    9876 kB\nVmRSS:\t    8765 kB\nThreads:\t7\n", 9876, false},
		{"kernel thread", "Name:\tkthreadd\nThreads:\t1\n", 0, true},
		{"bad unit", "VmHWM:\t1 MB\nVmRSS:\t1 kB\n", 0, true},
		{"bad number", "VmHWM:\tx kB\nVmRSS:\t1 kB\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVmHWM([]byte(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestReadProcSelfAndCPUPercent(t *testing.T) {
	a, err := ReadProc(0)
	if err != nil {
		t.Fatal(err)
	}
	if a.RSSKiB == 0 || a.HWMKiB < a.RSSKiB || a.Threads < 1 {
		t.Fatalf("implausible reading %+v", a)
	}
	b := a
	b.At = a.At.Add(2 * time.Second)
	b.CPU = a.CPU + time.Second // one second of CPU over two of wall
	if got := CPUPercent(a, b); got < 49.9 || got > 50.1 {
		t.Fatalf("CPUPercent = %v, want 50", got)
	}
	if got := CPUPercent(b, a); got != 0 {
		t.Fatalf("CPUPercent backwards = %v, want 0", got)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("ReadProc of a pid that cannot exist succeeded")
	}
	if l := LoadAvg(); len(strings.Fields(l)) != 3 {
		t.Fatalf("LoadAvg() = %q", l)
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		in   []float64
		q    float64
		want float64
	}{
		{nil, 0.5, 0},
		{[]float64{7}, 0.99, 7},
		{[]float64{3, 1, 2}, 0, 1},
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{3, 1, 2}, 1, 3},
		{[]float64{4, 1, 3, 2}, 0.5, 2},
		{[]float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 0.9, 90},
		{[]float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 0.99, 100},
	}
	for _, tc := range tests {
		if got := Quantile(tc.in, tc.q); got != tc.want {
			t.Errorf("Quantile(%v, %v) = %v, want %v", tc.in, tc.q, got, tc.want)
		}
	}
	in := []time.Duration{3, 1, 2}
	if Median(in) != 2 || in[0] != 3 {
		t.Errorf("Median(%v) = %v, or the input was sorted in place", in, Median(in))
	}
}

func TestPoll(t *testing.T) {
	n := 0
	d, err := Poll(context.Background(), time.Minute, func() bool { n++; return n == 4 })
	if err != nil || n != 4 || d > 30*time.Second {
		t.Fatalf("Poll: %v after %v and %d checks", err, d, n)
	}
	n = 0
	_, err = Poll(context.Background(), 50*time.Millisecond, func() bool { n++; return false })
	if !errors.Is(err, ErrTimeout) || n < 2 {
		t.Fatalf("Poll past its ceiling: %v after %d checks", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Poll(ctx, time.Minute, func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll with an ended context: %v", err)
	}
}

func TestParseFrame(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want frame
		err  bool
	}{
		{"change", `{"type":"change","hub_time":"2026-01-01T00:00:00Z","entity":{"id":"UUID42","name":"a \"status\":\"x\"","path":["A"],"status":"available","since":"2026-01-01T00:00:00Z","collected_at":"2026-01-01T00:00:01.5Z"}}`,
			frame{change: true, entity: 42, status: "available", collectedAt: time.Date(2026, 1, 1, 0, 0, 1, 500_000_000, time.UTC).UnixNano()}, false},
		{"offline without report", `{"type":"change","hub_time":"2026-01-01T00:00:00Z","entity":{"id":"UUID7","name":"b","path":["B"],"status":"offline","reason":"r"}}`,
			frame{change: true, entity: 7, status: "offline"}, false},
		{"other entity", `{"type":"change","entity":{"id":"root","status":"not_linked"}}`, frame{change: true, entity: -1, status: "not_linked"}, false},
		{"snapshot", `{"type":"snapshot","entities":[{"id":"UUID1","status":"offline"}]}`, frame{entity: -1}, false},
		{"bad time", `{"type":"change","entity":{"id":"UUID1","status":"available","collected_at":"yesterday"}}`, frame{}, true},
		{"no type", `{}`, frame{}, true},
	}
	fs, change, err := parseFrames([]byte(`{"type":"changes","hub_time":"2026-01-01T00:00:00Z","entities":[` +
		`{"id":"UUID1","status":"available","partitions":[{"device":"d"}],"collected_at":"2026-01-01T00:00:01Z"},` +
		`{"id":"UUID2","status":"offline","reason":"r"}]}`))
	if err != nil || !change || len(fs) != 2 || fs[0].entity != 1 || fs[0].collectedAt == 0 || fs[1].entity != 2 || fs[1].status != "offline" || fs[1].collectedAt != 0 {
		t.Fatalf("changes frame: %+v %v %v", fs, change, err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFrame([]byte(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if !tc.err && got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTemplateEncodesCollectedAt(t *testing.T) {
	tm, err := newTemplate(SimReport(3, true, false))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	b := tm.encode(nil, at)
	if !strings.Contains(string(b), `"collected_at":"2026-03-04T05:06:07.123456789Z"`) || !strings.Contains(string(b), `"images":[`) {
		t.Fatalf("encoded report lacks its time or images: %.200s", b)
	}
}

func TestParseScenariosAndBench(t *testing.T) {
	s, err := ParseScenarios("100x10, 10000x1000, 10000x1000d")
	if err != nil || len(s) != 3 || s[1] != (Scenario{10000, 1000, false}) || s[2] != (Scenario{10000, 1000, true}) {
		t.Fatalf("got %v, %v", s, err)
	}
	for _, bad := range []string{"100", "x10", "0x1", "100x-1", "10x10dd"} {
		if _, err := ParseScenarios(bad); err == nil {
			t.Errorf("ParseScenarios(%q) accepted", bad)
		}
	}
	out := "goos: linux\nBenchmarkScanUnchanged10k-2   \t      10\t  23456789 ns/op\t 20000000 cpu-ns/op\t  1234 B/op\t  56 allocs/op\nPASS\n"
	b := ParseBenchOutput(out)
	if len(b) != 1 || b[0].NsPerOp != 23456789 || b[0].AllocsPerOp != 56 || b[0].CPUNsPerOp != 20000000 {
		t.Fatalf("got %+v", b)
	}
}
