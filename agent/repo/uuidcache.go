package repo

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// uuidCacheFile caches uuid-cache.txt, re-read only when its mtime or size
// changed (or its last read was racy).
type uuidCacheFile struct {
	known  bool
	exists bool
	mtime  int64
	size   int64
	racy   bool
	macs   map[string]uint64 // lower-case computer UUID → MAC (48 bits)
	reads  int               // test hook: file reads since New
}

// refresh re-reads the file when it changed and says whether the MAC map may
// have changed. A missing file is normal (no MAC matching then); an
// unreadable one is reported in problems.
func (c *uuidCacheFile) refresh(path string, now time.Time, problems *[]string) bool {
	st, err := os.Stat(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			*problems = append(*problems, "uuid-cache.txt not readable: "+reason(err))
		}
		changed := !c.known || len(c.macs) > 0
		*c = uuidCacheFile{known: true, reads: c.reads}
		return changed
	}
	mt := st.ModTime().UnixNano()
	if c.known && c.exists && !c.racy && c.mtime == mt && c.size == st.Size() {
		return false
	}
	reads := c.reads + 1
	b, err := readLimited(path, 64<<20)
	if err != nil {
		*problems = append(*problems, "uuid-cache.txt not readable: "+errText(err))
		*c = uuidCacheFile{known: true, reads: reads}
		return true
	}
	*c = uuidCacheFile{known: true, exists: true, mtime: mt, size: st.Size(), racy: racy(now, st.ModTime()), macs: macBits(parseUUIDCache(b)), reads: reads}
	return true
}

// macBits turns parseUUIDCache's normalised MACs into numbers: a quarter of
// the memory of 17-byte strings for a cache of thousands of clients.
func macBits(m map[string]string) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// The keys may be substrings of the whole file's text: packed apart, the
	// text is not kept.
	for i, k := range packStrings(keys) {
		if b, ok := parseMACBits(m[keys[i]]); ok {
			out[k] = b
		}
	}
	return out
}
