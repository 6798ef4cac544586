// Package repo scans a Pulse 2 / Medulla imaging repository (default root
// /var/lib/pulse2/imaging) and reports what the disk knows: images and their
// states, sizes, registered clients and which of them have images.
//
// The scanner keeps a cache per image directory so that rescanning an
// unchanged repository of 10,000 images costs one ReadDir of masters/ plus
// two stats per image (the image directory and its davosInfo.json).
//
// # Cache validity
//
// Creating, deleting or renaming a file inside an image directory updates the
// directory mtime, so the directory stat catches chunks being added and
// davosInfo.json appearing. Rewriting an existing file in place does not, so
// every metadata file whose contents were read and may be rewritten
// (davosInfo.json; conf.txt, size.txt, progress.txt and log.txt for legacy
// images) is also stat'ed and compared by mtime and size. The Clonezilla log
// (clonezilla-img) is not: it is final once davosInfo.json, written last,
// exists, and images without davosInfo.json are re-read while in progress. Images whose state depends on the clock (in progress) and images
// whose timestamps are within racyWindow of the read are re-read on the next
// scan, because a coarse file system clock could hide a change made in the
// same tick as the read.
//
// # Image states
//
// Current (davos) format, davosInfo.json present:
//   - invalid: davosInfo.json does not parse as a JSON object (or is over 64 KiB);
//   - failed: the Clonezilla log reports an error, or the payload is
//     incomplete (no `disk`/`parts` file or no partition image chunk).
//     davosInfo.json is written after Clonezilla ends, so a missing payload
//     means the run is over and produced nothing usable, whatever has_error says;
//   - complete otherwise. has_error alone never fails an image: some clients
//     write it inverted (true on success).
//
// Current format without davosInfo.json (Clonezilla files present):
//   - failed if the Clonezilla log already reports an error;
//   - in_progress while anything in the directory was modified within
//     StaleAfter; failed ("abandoned") after that.
//
// Legacy format (CONF, conf.txt, size.txt, log.txt, progress.txt):
//   - failed if log.txt reports an error;
//   - finished when size.txt parses and progress.txt is absent or at 100 %;
//     finished with CONF and conf.txt present is complete, finished without them
//     is failed;
//   - unfinished is in_progress within StaleAfter, failed after.
//
// Anything else (empty directory, unknown files only) is invalid.
package repo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"imagingstatus/wire"
)

// DefaultRoot is where Pulse 2 / Medulla keeps its imaging repository.
const DefaultRoot = "/var/lib/pulse2/imaging"

// DefaultStaleAfter is how long an unfinished image may go without any write
// before it is reported failed instead of in progress. Clonezilla writes
// continuously while saving, so an hour of silence means the run died.
const DefaultStaleAfter = time.Hour

// racyWindow: timestamps this close to the time of a read cannot prove that
// a later change would move them (coarse mtime granularity on some file
// systems), so such entries are read again on the next scan.
const racyWindow = 2 * time.Second

// Scanner is owned by one goroutine (the agent's collect loop); not safe for concurrent use.
type Scanner struct {
	root    string
	masters string

	// StaleAfter overrides DefaultStaleAfter when positive.
	StaleAfter time.Duration

	now   func() time.Time // test hook
	reads int              // test hook: image metadata reads since New

	epoch uint16
	recs  []record // sorted by name
	// loose counts records read, and removed, since the names and titles
	// were last packed into one string (compact).
	loose int
	odd   int // records whose name is not its own UUID (clean(name) != name)
	// hot counts changes of the set of records flagged recent or volatile,
	// so a watcher knows when to look at it again.
	hot      uint64
	interned map[string]string // problems

	gen    uint64
	counts wire.Repository

	// list is Scan's image list, built only for Scan's callers (tests):
	// the agent walks the records instead (EachImage).
	list    []wire.Image
	listGen uint64

	computers dirCache
	cache     uuidCacheFile

	withImages      int
	withImagesDirty bool

	problems       []string
	clientProblems []string // the problems of the last read of computers/ and uuid-cache.txt
}

// New returns a scanner of the repository at root (DefaultRoot when empty).
func New(root string) *Scanner {
	if root == "" {
		root = DefaultRoot
	}
	root = filepath.Clean(root)
	return &Scanner{
		root:    root,
		masters: filepath.Join(root, "masters"),
		now:     time.Now,
	}
}

// Root is the repository root the scanner reads.
func (s *Scanner) Root() string { return s.root }

// Problems lists what the last Scan could not read without failing as a
// whole (e.g. "computers/ not readable: permission denied"); nil when none.
// The agent can add them to its report's Errors.
func (s *Scanner) Problems() []string { return slices.Clone(s.problems) }

// ScanError is the error of a Scan that could not read the repository.
type ScanError struct {
	Root string
	What string // "root", "masters/"
	Err  error
}

func (e *ScanError) Error() string {
	return fmt.Sprintf("imaging repository %s: %s not readable: %s", e.Root, e.What, reason(e.Err))
}

func (e *ScanError) Unwrap() error { return e.Err }

// reason is the human part of an I/O error, without the path that the
// message already names.
func reason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such directory"
	case errors.Is(err, syscall.ENOTDIR):
		return "not a directory"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Scan returns the repository figures as wire.Repository, with the full Images list (sorted by UUID) and a Generation that changes iff the image list/contents changed since the previous Scan (start at 1).
// A missing or unreadable repository root or masters/ directory returns an error whose text is a clear human reason (e.g. `imaging repository /x: masters/ not readable: permission denied`), wrapping the cause; never panics.
//
// The returned Images slice is shared with later Scans that keep the same
// Generation: callers must not modify its elements. The agent calls Rescan
// and EachImage instead, which hold no list.
func (s *Scanner) Scan() (wire.Repository, error) {
	rep, err := s.Rescan()
	if err != nil {
		return rep, err
	}
	if s.list == nil || s.listGen != s.gen {
		s.list = make([]wire.Image, 0, len(s.recs))
		for im := range s.EachImage {
			s.list = append(s.list, *im)
		}
		s.listGen = s.gen
	}
	rep.Images = s.list
	return rep, nil
}

// Rescan is a full scan: every image directory is stat'ed and those that
// changed are read again. It returns the figures without the image list
// (EachImage walks it), with the same errors as Scan.
func (s *Scanner) Rescan() (wire.Repository, error) {
	return s.scan(nil, true)
}

// Changes says what an Update must look at, as a watch of the repository
// learnt it.
type Changes struct {
	// Images names image directories of masters/ that were created,
	// removed, renamed, or had something inside them change.
	Images []string
	// Clients: computers/ or uuid-cache.txt may have changed.
	Clients bool
	// Hot: read again the images being written or written within
	// StaleAfter (their state depends on the clock, and a change inside a
	// directory is not seen from masters/).
	Hot bool
}

// Update is a partial scan: the root and masters/ are checked (one stat
// each), then only the images named in c, the racy ones and, with c.Hot,
// the hot ones are read again. The caller must know, from a watch, that
// nothing else changed; Rescan is the safety net. It returns what Rescan
// returns.
func (s *Scanner) Update(c Changes) (wire.Repository, error) {
	return s.scan(&c, false)
}

func (s *Scanner) scan(c *Changes, full bool) (wire.Repository, error) {
	s.problems = s.problems[:0]
	now := s.now()
	rep := wire.Repository{Root: s.root}

	fi, err := os.Stat(s.root)
	if err != nil {
		return rep, &ScanError{Root: s.root, What: "root", Err: err}
	}
	if !fi.IsDir() {
		return rep, &ScanError{Root: s.root, What: "root", Err: &fs.PathError{Op: "stat", Path: s.root, Err: syscall.ENOTDIR}}
	}
	if !full && s.gen == 0 {
		full = true // nothing known yet
	}
	var changed bool
	if full {
		changed, err = s.scanAll(now)
	} else {
		changed, err = s.scanSome(c, now)
	}
	if err != nil {
		return rep, err
	}
	if changed || s.gen == 0 {
		s.gen++
		s.recount()
	}
	if s.loose >= compactAfter && s.loose >= len(s.recs)/8 {
		s.compact()
	}

	// Two stats; with a watch, only when it saw a change there (or the
	// last read was racy).
	clients := full || c.Clients || !s.computers.known || s.computers.racy || !s.cache.known || s.cache.racy
	computersChanged, cacheChanged := false, false
	if clients {
		n := len(s.problems)
		computersChanged = s.scanComputers(now)
		cacheChanged = s.cache.refresh(filepath.Join(s.root, "uuid-cache.txt"), now, &s.problems)
		s.clientProblems = append(s.clientProblems[:0], s.problems[n:]...)
	} else {
		s.problems = append(s.problems, s.clientProblems...)
	}
	if changed || computersChanged || cacheChanged || s.withImagesDirty {
		s.withImages = s.countClientsWithImages()
		s.withImagesDirty = false
	}

	rep = s.counts
	rep.Root = s.root
	rep.Generation = s.gen
	rep.Clients = len(s.computers.names)
	rep.ClientsWithImages = s.withImages
	return rep, nil
}

// scanAll lists masters/ and brings every record up to date.
func (s *Scanner) scanAll(now time.Time) (bool, error) {
	masters, err := openDir(s.masters)
	if err != nil {
		return false, &ScanError{Root: s.root, What: "masters/", Err: err}
	}
	defer masters.close()
	s.epoch++
	changed := false
	var added []record
	for {
		// Names only, a batch at a time: every entry is stat'ed anyway,
		// DirEntry values would cost an allocation each, and a batch
		// bounds the garbage of a listing of 10,000 names.
		names, err := masters.f.Readdirnames(512)
		for _, name := range names {
			if len(name) > maxName {
				continue // not a Linux directory name
			}
			st, err := masters.stat(name, false)
			if err == nil && st.link {
				st, err = masters.stat(name, true) // an image directory may be a link
			}
			if err != nil || !st.dir {
				continue // stray file, dangling link, or vanished since the listing
			}
			i, found := s.find(name)
			if found {
				r := &s.recs[i]
				if !r.fresh(masters, st.mtime) {
					changed = s.reread(r, st.mtime, now) || changed
				}
				r.seen = s.epoch
				continue
			}
			if j := slices.IndexFunc(added, func(r record) bool { return r.name() == name }); j >= 0 {
				continue // listed twice (the directory changed while listed)
			}
			r := s.read(name, st.mtime, now)
			r.seen = s.epoch
			added = append(added, r)
		}
		if errors.Is(err, io.EOF) || (err == nil && len(names) == 0) {
			break
		}
		if err != nil {
			return false, &ScanError{Root: s.root, What: "masters/", Err: err}
		}
	}
	n := len(s.recs)
	s.recs = slices.DeleteFunc(s.recs, func(r record) bool { return r.seen != s.epoch })
	if len(s.recs) != n {
		s.loose += n - len(s.recs)
		changed = true
		s.hot++
	}
	if len(added) > 0 {
		s.recs = append(s.recs, added...)
		slices.SortFunc(s.recs, func(a, b record) int { return strings.Compare(a.name(), b.name()) })
		changed = true
		s.hot++
	}
	if changed && cap(s.recs) > 2*len(s.recs)+64 {
		s.recs = slices.Clip(s.recs) // many images removed: give the memory back
	}
	return changed, nil
}

// scanSome reads again the named, racy and (c.Hot) hot records.
func (s *Scanner) scanSome(c *Changes, now time.Time) (bool, error) {
	fi, err := os.Stat(s.masters)
	if err != nil {
		return false, &ScanError{Root: s.root, What: "masters/", Err: err}
	}
	if !fi.IsDir() {
		return false, &ScanError{Root: s.root, What: "masters/", Err: &fs.PathError{Op: "stat", Path: s.masters, Err: syscall.ENOTDIR}}
	}
	due := func(r *record) bool {
		return r.flags&fRacy != 0 || c.Hot && r.flags&(fVolatile|fRecent) != 0
	}
	if len(c.Images) == 0 && !slices.ContainsFunc(s.recs, func(r record) bool { return due(&r) }) {
		return false, nil
	}
	masters, err := openDir(s.masters)
	if err != nil {
		return false, &ScanError{Root: s.root, What: "masters/", Err: err}
	}
	defer masters.close()
	changed := false
	for _, name := range c.Images {
		if len(name) > maxName {
			continue
		}
		st, err := masters.stat(name, false)
		if err == nil && st.link {
			st, err = masters.stat(name, true)
		}
		i, found := s.find(name)
		switch {
		case (err != nil || !st.dir) && found:
			s.recs = slices.Delete(s.recs, i, i+1)
			s.loose++
			changed = true
			s.hot++
		case err != nil || !st.dir:
		case found:
			r := &s.recs[i]
			if !r.fresh(masters, st.mtime) {
				changed = s.reread(r, st.mtime, now) || changed
			}
		default:
			r := s.read(name, st.mtime, now)
			s.recs = slices.Insert(s.recs, i, r)
			changed = true
			s.hot++
		}
	}
	for i := range s.recs {
		r := &s.recs[i]
		if !due(r) {
			continue
		}
		st, err := masters.stat(r.name(), true)
		if err != nil || !st.dir {
			continue // gone: the watch names it, or the next full scan drops it
		}
		changed = s.reread(r, st.mtime, now) || changed
	}
	return changed, nil
}

// find returns where name is or would be in s.recs.
func (s *Scanner) find(name string) (int, bool) {
	return slices.BinarySearchFunc(s.recs, name, func(r record, n string) int { return strings.Compare(r.name(), n) })
}

// read reads an image directory into a new record.
func (s *Scanner) read(name string, dirMtime int64, now time.Time) record {
	s.reads++
	s.loose++
	if clean(name) != name {
		s.odd++
	}
	return s.readImage(filepath.Join(s.masters, name), name, dirMtime, now)
}

// reread reads *r's directory again and says whether the image changed.
func (s *Scanner) reread(r *record, dirMtime int64, now time.Time) bool {
	s.reads++
	s.loose++
	n := s.readImage(filepath.Join(s.masters, r.name()), r.name(), dirMtime, now)
	n.seen = r.seen
	const hotFlags = fVolatile | fRecent
	if n.flags&hotFlags != r.flags&hotFlags {
		s.hot++
	}
	same := r.same(&n)
	*r = n
	return !same
}

// compactAfter is the least number of records read or removed that makes
// the scanner pack names and titles again (and at least an eighth of them).
const compactAfter = 64

// compact packs every record's name and title into one string of the exact
// size, the records pointing into it, and the records into a slice of the
// exact length. After a cold scan of 10,000 images they are 20,000 small
// strings scattered among the scan's garbage, keeping half-empty pages of
// the heap resident for as long as the agent runs; packed, they take 30 %
// less and the garbage's pages go back to the system.
func (s *Scanner) compact() {
	texts := make([]string, len(s.recs))
	for i := range s.recs {
		texts[i] = s.recs[i].text
	}
	texts = packStrings(texts)
	recs := make([]record, len(s.recs))
	copy(recs, s.recs)
	for i := range recs {
		recs[i].text = texts[i]
	}
	s.recs, s.loose = recs, 0
}

// intern returns one copy of each problem text.
func (s *Scanner) intern(v string) string {
	if v == "" {
		return ""
	}
	if w, ok := s.interned[v]; ok {
		return w
	}
	if s.interned == nil || len(s.interned) > 4096 {
		s.interned = make(map[string]string) // unbounded texts (log lines): start over
	}
	s.interned[v] = v
	return v
}

// EachImage yields the image list, sorted by UUID, one wire.Image at a time
// (the same value, overwritten: copy it to keep it). It is valid until the
// next scan.
func (s *Scanner) EachImage(yield func(*wire.Image) bool) {
	var im wire.Image
	if s.odd == 0 {
		// Every name is its own UUID: the records are in UUID order.
		for i := range s.recs {
			s.recs[i].fill(&im)
			if !yield(&im) {
				return
			}
		}
		return
	}
	order := make([]int32, len(s.recs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		return strings.Compare(clean(s.recs[a].name()), clean(s.recs[b].name()))
	})
	for _, i := range order {
		s.recs[i].fill(&im)
		if !yield(&im) {
			return
		}
	}
}

// HotImages yields the names of the images being written or written within
// StaleAfter: those a watcher should watch. HotGeneration changes when
// that set may have changed.
func (s *Scanner) HotImages(yield func(string) bool) {
	for i := range s.recs {
		if s.recs[i].flags&(fVolatile|fRecent) != 0 && !yield(s.recs[i].name()) {
			return
		}
	}
}

// HotGeneration changes whenever the set HotImages yields may have changed.
func (s *Scanner) HotGeneration() uint64 { return s.hot }

// Reads counts the image directories read since New (a cold scan reads
// them all, an unchanged repository none).
func (s *Scanner) Reads() int { return s.reads }

// Masters is the path of masters/.
func (s *Scanner) Masters() string { return s.masters }

// readDir lists a directory without sorting (the caller does not need order).
func readDir(path string) ([]fs.DirEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

func (s *Scanner) staleAfter() time.Duration {
	if s.StaleAfter > 0 {
		return s.StaleAfter
	}
	return DefaultStaleAfter
}

// recount recomputes the counts after a change.
func (s *Scanner) recount() {
	c := wire.Repository{ImagesTotal: len(s.recs)}
	odd := 0
	for i := range s.recs {
		r := &s.recs[i]
		switch r.state {
		case stComplete:
			c.ImagesComplete++
			c.BytesComplete += r.size
		case stInProgress:
			c.ImagesInProgress++
		case stFailed:
			c.ImagesFailed++
		default:
			c.ImagesInvalid++
		}
		if name := r.name(); clean(name) != name {
			odd++
		}
	}
	s.counts, s.odd = c, odd
}

// dirCache remembers the registered clients (directories of computers/).
type dirCache struct {
	known bool
	mtime int64
	racy  bool
	names []string // lower-case computer UUIDs
}

// scanComputers refreshes the client list when computers/ changed; it says
// whether the list may have changed.
func (s *Scanner) scanComputers(now time.Time) bool {
	dir := filepath.Join(s.root, "computers")
	c := &s.computers
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		if err == nil {
			err = syscall.ENOTDIR
		}
		if !errors.Is(err, fs.ErrNotExist) {
			s.problems = append(s.problems, "computers/ not readable: "+reason(err))
		}
		changed := !c.known || len(c.names) > 0
		*c = dirCache{known: true}
		return changed
	}
	mt := fi.ModTime().UnixNano()
	if c.known && !c.racy && c.mtime == mt {
		return false
	}
	ents, err := readDir(dir)
	if err != nil {
		s.problems = append(s.problems, "computers/ not readable: "+reason(err))
		*c = dirCache{known: true}
		return true
	}
	names := make([]string, 0, len(ents))
	for _, de := range ents {
		ok := de.IsDir()
		if !ok && de.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(filepath.Join(dir, de.Name())); err == nil && st.IsDir() {
				ok = true
			}
		}
		if ok {
			names = append(names, strings.ToLower(de.Name()))
		}
	}
	*c = dirCache{known: true, mtime: mt, racy: racy(now, fi.ModTime()), names: packStrings(names)}
	return true
}

// packStrings returns v's strings as substrings of one string: thousands of
// small strings kept from a directory listing otherwise hold the listing's
// garbage pages resident.
func packStrings(v []string) []string {
	n := 0
	for _, x := range v {
		n += len(x)
	}
	var b strings.Builder
	b.Grow(n)
	for _, x := range v {
		b.WriteString(x)
	}
	all := b.String()
	out := make([]string, len(v))
	for i, x := range v {
		out[i], all = all[:len(x)], all[len(x):]
	}
	return out
}

// countClientsWithImages counts registered clients whose MAC (from
// uuid-cache.txt) is the source MAC of at least one complete image: what
// can be restored. An image in progress, failed or invalid restores nothing.
func (s *Scanner) countClientsWithImages() int {
	if len(s.cache.macs) == 0 {
		return 0
	}
	var macs []uint64
	for i := range s.recs {
		if s.recs[i].state != stComplete {
			continue
		}
		if m, ok := macBitsFromUUIDv1(s.recs[i].name()); ok {
			macs = append(macs, m)
		}
	}
	if len(macs) == 0 {
		return 0
	}
	slices.Sort(macs)
	n := 0
	for _, name := range s.computers.names {
		if mac, ok := s.cache.macs[name]; ok {
			if _, ok := slices.BinarySearch(macs, mac); ok {
				n++
			}
		}
	}
	return n
}

// racy says whether t is too close to now to prove a later change.
func racy(now, t time.Time) bool {
	d := now.Sub(t)
	return d < racyWindow && d > -racyWindow
}
