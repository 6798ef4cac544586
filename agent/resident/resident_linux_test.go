package resident

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const smaps = `00400000-006fc000 r-xp 00000000 fe:00 9994381                            /opt/imaging agent/imaging-agent
Size:               3056 kB
Rss:                1792 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
006fc000-00a12000 r--p 002fc000 fe:00 9994381                            /opt/imaging agent/imaging-agent
Rss:                2592 kB
Anonymous:             8 kB
00a12000-00a6d000 rw-p 00612000 fe:00 9994381                            /opt/imaging agent/imaging-agent
Anonymous:            60 kB
c000000000-c000400000 rw-p 00000000 00:00 0
Anonymous:          1024 kB
7ffd1000-7ffd3000 r--p 00000000 00:00 0                                  [vvar]
Anonymous:             x kB
`
	want := []mapping{
		{start: 0x400000, end: 0x6fc000, path: "/opt/imaging agent/imaging-agent", anonymous: 0},
		{start: 0x6fc000, end: 0xa12000, path: "/opt/imaging agent/imaging-agent", anonymous: 8},
		{start: 0xa12000, end: 0xa6d000, writable: true, path: "/opt/imaging agent/imaging-agent", anonymous: 60},
		{start: 0xc000000000, end: 0xc000400000, writable: true, anonymous: 1024},
		{start: 0x7ffd1000, end: 0x7ffd3000, path: "[vvar]", anonymous: -1},
	}
	got := parse([]byte(smaps))
	if len(got) != len(want) {
		t.Fatalf("%d mappings, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// ReleaseCode on this test binary: the file pages it maps drop, and the
// program goes on running (its code comes back as it is used).
func TestReleaseCodeDropsFilePages(t *testing.T) {
	before := rssFile(t)
	n, err := ReleaseCode()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	t.Logf("advised %d bytes; RssFile %d kB → %d kB", n, before, after)
	if n <= 0 {
		t.Fatal("no mapping of the binary was released")
	}
	if after >= before {
		t.Errorf("RssFile did not drop: %d kB → %d kB", before, after)
	}
	// Code used again works: a second call parses and advises again.
	if n2, err := ReleaseCode(); err != nil || n2 != n {
		t.Errorf("second release: %d bytes, %v; want %d", n2, err, n)
	}
}
