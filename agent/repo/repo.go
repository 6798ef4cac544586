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

	epoch  uint64
	images map[string]*entry

	gen    uint64
	list   []wire.Image // sorted by UUID; shared read-only with callers
	counts wire.Repository
	macs   map[string]struct{} // source MACs of all images

	computers dirCache
	cache     uuidCacheFile

	withImages      int
	withImagesDirty bool

	problems []string
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
		images:  make(map[string]*entry),
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
// Generation: callers must not modify its elements.
func (s *Scanner) Scan() (wire.Repository, error) {
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
	masters, err := openDir(s.masters)
	if err != nil {
		return rep, &ScanError{Root: s.root, What: "masters/", Err: err}
	}
	defer masters.close()
	// Names only: every entry is stat'ed anyway, and DirEntry values would
	// cost an allocation each.
	names, err := masters.f.Readdirnames(-1)
	if err != nil {
		return rep, &ScanError{Root: s.root, What: "masters/", Err: err}
	}

	s.epoch++
	changed := s.gen == 0
	for _, name := range names {
		st, err := masters.stat(name, false)
		if err == nil && st.link {
			st, err = masters.stat(name, true) // an image directory may be a link
		}
		if err != nil || !st.dir {
			continue // stray file, dangling link, or vanished since the listing
		}
		old := s.images[name]
		if old != nil && old.fresh(masters, st.mtime) {
			old.seen = s.epoch
			continue
		}
		e := s.readImage(filepath.Join(s.masters, name), name, st.mtime, now)
		e.seen = s.epoch
		s.reads++
		if old == nil || !sameImage(old.img, e.img) {
			changed = true
		}
		s.images[name] = e
	}
	for name, e := range s.images {
		if e.seen != s.epoch {
			delete(s.images, name)
			changed = true
		}
	}
	if changed {
		s.gen++
		s.rebuild()
	}

	computersChanged := s.scanComputers(now)
	cacheChanged := s.cache.refresh(filepath.Join(s.root, "uuid-cache.txt"), now, &s.problems)
	if changed || computersChanged || cacheChanged || s.withImagesDirty {
		s.withImages = s.countClientsWithImages()
		s.withImagesDirty = false
	}

	rep = s.counts
	rep.Root = s.root
	rep.Generation = s.gen
	rep.Images = s.list
	rep.Clients = len(s.computers.names)
	rep.ClientsWithImages = s.withImages
	return rep, nil
}

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

// rebuild recomputes the sorted list, the counts and the MAC set after a change.
func (s *Scanner) rebuild() {
	list := make([]wire.Image, 0, len(s.images))
	for _, e := range s.images {
		list = append(list, e.img)
	}
	slices.SortFunc(list, func(a, b wire.Image) int { return strings.Compare(a.UUID, b.UUID) })
	c := wire.Repository{ImagesTotal: len(list)}
	macs := make(map[string]struct{})
	for i := range list {
		im := &list[i]
		switch im.State {
		case wire.ImageComplete:
			c.ImagesComplete++
			c.BytesComplete += im.Size
		case wire.ImageInProgress:
			c.ImagesInProgress++
		case wire.ImageFailed:
			c.ImagesFailed++
		default:
			c.ImagesInvalid++
		}
		if im.SourceMAC != "" {
			macs[im.SourceMAC] = struct{}{}
		}
	}
	s.list, s.counts, s.macs = list, c, macs
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
	*c = dirCache{known: true, mtime: mt, racy: racy(now, fi.ModTime()), names: names}
	return true
}

// countClientsWithImages counts registered clients whose MAC (from
// uuid-cache.txt) is the source MAC of at least one image.
func (s *Scanner) countClientsWithImages() int {
	if len(s.cache.macs) == 0 || len(s.macs) == 0 {
		return 0
	}
	n := 0
	for _, name := range s.computers.names {
		if mac, ok := s.cache.macs[name]; ok {
			if _, ok := s.macs[mac]; ok {
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
