package resident

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReleaseCode unmaps the pages of the running binary's read-only mappings
// that are still the file's (never written: no anonymous copy), and returns
// how many bytes of mappings it covered. It reads the mappings from
// /proc/self/smaps; MADV_DONTNEED on a private file mapping drops nothing
// but the mapping of clean pages.
func ReleaseCode() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("find the agent's binary: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("read the agent's mappings: %w", err)
	}
	var total int64
	for _, m := range parse(maps) {
		if m.path != exe || m.writable || m.anonymous != 0 {
			continue // only pages that are the file's own
		}
		n := m.end - m.start
		// MADV_RANDOM: a page used again is read alone, without readahead.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, m.start, n, unix.MADV_RANDOM); e != 0 {
			return total, fmt.Errorf("madvise(MADV_RANDOM) on %s: %w", exe, e)
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, m.start, n, unix.MADV_DONTNEED); e != 0 {
			return total, fmt.Errorf("madvise(MADV_DONTNEED) on %s: %w", exe, e)
		}
		total += int64(n)
	}
	if total == 0 {
		return 0, nil
	}
	// The kernel maps up to 64 KiB around a faulting page from what the
	// page cache holds of the file (fault-around): with the binary's
	// unused pages left there, each page the agent uses would bring its
	// 15 neighbours back. Dropped from the cache (no process maps them
	// now), only what is used comes back, and the machine gets the rest of
	// the 6.7 MB back too.
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return total, fmt.Errorf("open the agent's binary: %w", err)
	}
	defer f.Close()
	// Pages still waiting to be written (a binary installed a moment ago)
	// would stay: write them first (nothing to do for a binary on disk).
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return total, fmt.Errorf("fdatasync %s: %w", exe, err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return total, fmt.Errorf("fadvise(DONTNEED) on %s: %w", exe, err)
	}
	return total, nil
}

type mapping struct {
	start, end uintptr
	writable   bool
	path       string
	anonymous  int64 // kB of private pages that are no longer the file's
}

// parse reads /proc/PID/smaps: a header line per mapping ("start-end perms
// offset dev inode path") followed by "Key: value kB" lines.
func parse(b []byte) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.HasSuffix(f[0], ":") {
			if f[0] == "Anonymous:" && len(f) >= 2 && len(out) > 0 {
				v, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					v = -1 // unreadable: leave that mapping alone
				}
				out[len(out)-1].anonymous = v
			}
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok || len(f) < 5 {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		m := mapping{start: uintptr(start), end: uintptr(end), writable: len(f[1]) > 1 && f[1][1] == 'w', anonymous: -1}
		if len(f) >= 6 {
			m.path = strings.Join(f[5:], " ")
		}
		out = append(out, m)
	}
	return out
}
