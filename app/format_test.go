package app

import (
	"math/rand/v2"
	"testing"
	"time"

	"imagingstatus/wire"
)

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{10 * 1024 * 1024, "10 MiB"},
		{1<<30 + 1<<29, "1.5 GiB"},
		{152<<30 + 300<<20, "152 GiB"},
		{2 << 40, "2 TiB"},
		{1<<64 - 1, "16 EiB"},
	} {
		if got := HumanBytes(tc.n); got != tc.want {
			t.Errorf("HumanBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0 s"},
		{0, "0 s"},
		{42 * time.Second, "42 s"},
		{time.Minute, "1 min"},
		{59*time.Minute + 59*time.Second, "59 min"},
		{time.Hour, "1 h 0 min"},
		{3*24*time.Hour + 4*time.Hour + 5*time.Minute, "3 d 4 h 5 min"},
		{24 * time.Hour, "1 d 0 h 0 min"},
	} {
		if got := HumanDuration(tc.d); got != tc.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := Ago(500 * time.Millisecond); got != "just now" {
		t.Errorf("Ago(0.5s) = %q", got)
	}
	if got := Ago(5 * time.Second); got != "5 s ago" {
		t.Errorf("Ago(5s) = %q", got)
	}
}

func TestTreeLabel(t *testing.T) {
	for _, tc := range []struct {
		e    wire.Entity
		want string
	}{
		{wire.Entity{Name: "General", Path: []string{"General"}}, "General"},
		{wire.Entity{Name: "Public", Path: []string{"General", "Public"}}, "General › Public"},
		{wire.Entity{Name: "Lab", Path: []string{"General", "Public", "Lab"}}, "General › Public › Lab"},
		{wire.Entity{Name: "Orphan"}, "Orphan"},
	} {
		if got := TreeLabel(tc.e); got != tc.want {
			t.Errorf("TreeLabel(%v) = %q, want %q", tc.e.Path, got, tc.want)
		}
	}
}

func TestDescribeStatus(t *testing.T) {
	for _, tc := range []struct {
		s                          wire.Status
		label, icon, class, action string
	}{
		{wire.StatusAvailable, "Available", "check", "available", "You can create or deploy an image."},
		{wire.StatusOffline, "Offline", "off", "offline", "Contact the administrator."},
		{wire.StatusConnectionError, "Connection error", "warn", "connection-error", "Report it to the technical team."},
		{wire.StatusNotLinked, "No imaging server", "unlinked", "not-linked", "Link an imaging server to this entity."},
		{"weird", `Unknown status "weird"`, "unknown", "unknown", "Reload the page; if this stays, report it to the technical team."},
	} {
		got := DescribeStatus(tc.s)
		if got.Label != tc.label || got.Icon != tc.icon || got.Class != tc.class || got.Action != tc.action {
			t.Errorf("DescribeStatus(%q) = %+v", tc.s, got)
		}
		if _, ok := statusIcons[got.Icon]; !ok {
			t.Errorf("no icon %q", got.Icon)
		}
	}
}

func TestSmallFormats(t *testing.T) {
	for in, want := range map[float64]string{0.4: "0.4 ms", 3: "3 ms", 12.6: "13 ms"} {
		if got := FormatLatency(in); got != want {
			t.Errorf("FormatLatency(%v) = %q, want %q", in, got, want)
		}
	}
	if got := FormatLoad(0.5); got != "0.50" {
		t.Errorf("FormatLoad = %q", got)
	}
	for _, tc := range []struct {
		part, total uint64
		want        int
	}{{0, 0, 0}, {1, 3, 33}, {3, 3, 100}, {1 << 62, 1 << 63, 50}} {
		if got := Percent(tc.part, tc.total); got != tc.want {
			t.Errorf("Percent(%d, %d) = %d", tc.part, tc.total, got)
		}
	}
}

func TestViewerURL(t *testing.T) {
	if got := ViewerURL("http:", "127.0.0.1:8080"); got != "ws://127.0.0.1:8080/api/v1/ws" {
		t.Error(got)
	}
	if got := ViewerURL("https:", "status.example"); got != "wss://status.example/api/v1/ws" {
		t.Error(got)
	}
}

func TestBackoff(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base, max := 500*time.Millisecond, 30*time.Second
	for _, tc := range []struct {
		n      int
		lo, hi time.Duration
	}{
		{0, 250 * time.Millisecond, 500 * time.Millisecond},
		{1, 250 * time.Millisecond, 500 * time.Millisecond},
		{2, 500 * time.Millisecond, time.Second},
		{4, 2 * time.Second, 4 * time.Second},
		{7, 15 * time.Second, 30 * time.Second},
		{100, 15 * time.Second, 30 * time.Second},
	} {
		for range 50 {
			if d := Backoff(tc.n, base, max, r); d < tc.lo || d >= tc.hi {
				t.Fatalf("Backoff(%d) = %v, want in [%v, %v)", tc.n, d, tc.lo, tc.hi)
			}
		}
	}
}

func TestTreeOrder(t *testing.T) {
	es := map[string]wire.Entity{
		"UUID0": {ID: "UUID0", Name: "General"},
		"UUID2": {ID: "UUID2", Name: "Public", Parent: "UUID0"},
		"UUID1": {ID: "UUID1", Name: "Private", Parent: "UUID0"},
		"UUID3": {ID: "UUID3", Name: "Lab", Parent: "UUID2"},
		"UUID9": {ID: "UUID9", Name: "Lost", Parent: "UUID42"},
		"c1":    {ID: "c1", Name: "Cycle A", Parent: "c2"},
		"c2":    {ID: "c2", Name: "Cycle B", Parent: "c1"},
	}
	got := TreeOrder(es)
	want := []string{"UUID0", "UUID1", "UUID2", "UUID3", "UUID9", "c1", "c2"}
	if len(got) != len(want) {
		t.Fatalf("TreeOrder = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("TreeOrder = %v, want %v", got, want)
		}
	}
}

func TestDiskPercentAsDf(t *testing.T) {
	for _, tc := range []struct {
		used, free, total uint64
		pct               int
	}{
		// df: 15 GiB used, 75 GiB available on 251 GiB: 17 %, not 5 %.
		{15 << 30, 75 << 30, 251 << 30, 17},
		{1, 999, 1000, 1}, // rounded up, as df does
		{0, 0, 0, 0},
	} {
		if got := DiskPercent(wire.Partition{Used: tc.used, Free: tc.free, Total: tc.total}); got != tc.pct {
			t.Errorf("DiskPercent(%d used, %d free) = %d, want %d", tc.used, tc.free, got, tc.pct)
		}
	}
}

// The disk card: df's percentage, and the reserve when there is one.
func TestPanelDiskReserve(t *testing.T) {
	e := availableEntity()
	e.Partitions = []wire.Partition{{Device: "/dev/vda", Mountpoint: "/", FSType: "ext4", Total: 251 << 30, Used: 15 << 30, Free: 75 << 30, Main: true}}
	text := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow})
	wantAll(t, text, "Used 15 GiB (17 %) · Free 75 GiB · Total 251 GiB", "Reserved by the file system for root: 161 GiB (neither used nor free)")
	fr := loadPanel(t, &EntityPanel{Entity: e, Now: hubNow, Lang: French})
	wantAll(t, fr, "Utilisé 15 Gio (17 %) · Libre 75 Gio · Total 251 Gio", "Réservé par le système de fichiers pour root : 161 Gio")
	e.Partitions[0].Total = 90 << 30 // no reserve: no line
	wantNone(t, loadPanel(t, &EntityPanel{Entity: e, Now: hubNow}), "Reserved")
}

func TestPageTitleAndProblems(t *testing.T) {
	ents := map[string]wire.Entity{
		"a": {Status: wire.StatusOffline}, "b": {Status: wire.StatusConnectionError},
		"c": {Status: wire.StatusAvailable}, "d": {Status: wire.StatusNotLinked},
	}
	if n := ProblemCount(ents); n != 2 {
		t.Errorf("ProblemCount = %d, want 2", n)
	}
	if got := PageTitle(2, T(French).Brand); got != "(2) État de l'imagerie" {
		t.Errorf("title %q", got)
	}
	if got := PageTitle(0, "Imaging status"); got != "Imaging status" {
		t.Errorf("title without problems %q", got)
	}
}

func TestMatchEntity(t *testing.T) {
	e := wire.Entity{ID: "UUID12", Name: "École Nord", Path: []string{"General", "Public", "École Nord"}, ServedBy: "imaging-general"}
	for q, want := range map[string]bool{
		"": true, "ecole": true, "ÉCOLE nord": true, "public": true, "imaging-gen": true, "uuid12": true,
		"nord sud": false, "private": false,
	} {
		if got := MatchEntity(e, q); got != want {
			t.Errorf("MatchEntity(%q) = %v, want %v", q, got, want)
		}
	}
}
