// Package resident keeps the agent's own program pages that it no longer
// uses out of its resident set.
//
// The agent's binary is about 6.7 MB. Read through the kernel's fault-around
// (up to 64 KiB mapped per page fault), most of it is counted in the agent's
// RSS after start-up, although the start-up code, flag parsing, the TLS and
// WebSocket set-up and the first, cold scan run once. ReleaseCode unmaps the
// clean pages of the binary's read-only mappings: what the agent runs after
// that comes back on its next use, from the page cache, and what it never
// runs again stays out. The pages are the file's own: nothing is lost.
package resident

import "time"

// Schedule says when to call ReleaseCode in a loop that collects reports:
// not at the first collection (start-up, the connection and the first scan
// are still ahead of it), then at most once per Every, so code run now and
// then (a reconnection, the safety rescan) leaves again. Not safe for
// concurrent use.
type Schedule struct {
	Every time.Duration
	calls int
	last  time.Time
}

// Due counts a collection at now and says whether to release.
func (s *Schedule) Due(now time.Time) bool {
	s.calls++
	if s.calls < 2 || (!s.last.IsZero() && now.Sub(s.last) < s.Every) {
		return false
	}
	s.last = now
	return true
}
