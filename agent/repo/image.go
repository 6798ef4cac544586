package repo

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"imagingstatus/wire"
)

// Metadata files limits: they are a few hundred bytes; anything huge is not
// ours and must not cost memory.
const (
	maxMetaFile = 64 << 10
	logTail     = 8 << 10
)

// entry is the cached scan of one image directory.
type entry struct {
	name     string // directory name in masters/
	img      wire.Image
	dirMtime int64
	deps     []dep // metadata files whose contents were read
	volatile bool  // read again on the next scan (clock-dependent or racy)
	seen     uint64
}

// dep is a file whose contents made the entry; a change of its mtime or size
// (or its appearance/disappearance) invalidates the entry.
type dep struct {
	rel    string // relative to masters/
	exists bool
	mtime  int64
	size   int64
}

// fresh says whether the cached entry still describes the directory.
func (e *entry) fresh(masters *dirRef, dirMtime int64) bool {
	if e.volatile || dirMtime != e.dirMtime {
		return false
	}
	for i := range e.deps {
		d := &e.deps[i]
		st, err := masters.stat(d.rel, false)
		if err != nil {
			if d.exists {
				return false
			}
			continue
		}
		if !d.exists || st.mtime != d.mtime || st.size != d.size {
			return false
		}
	}
	return true
}

func sameImage(a, b wire.Image) bool {
	return a.UUID == b.UUID && a.Title == b.Title && a.Format == b.Format && a.State == b.State &&
		a.Size == b.Size && a.Created.Equal(b.Created) && a.SourceMAC == b.SourceMAC && a.Problem == b.Problem
}

// listing is what one ReadDir of an image directory tells.
type listing struct {
	files    int
	sum      uint64
	newest   time.Time
	davos    fs.FileInfo
	disk     bool
	parts    bool
	chunks   int
	czLog    bool
	czOther  bool // other Clonezilla files (Info-*, *-pt.sf, blkdev.list…)
	legacy   map[string]fs.FileInfo
	unknowns int
}

var legacyFiles = map[string]bool{"CONF": true, "conf.txt": true, "size.txt": true, "log.txt": true, "progress.txt": true}

// isChunk recognises partition image chunks: partclone (sda1.ext4-ptcl-img.gz.aa),
// and the older ntfsclone / dd ones Clonezilla can also write.
func isChunk(name string) bool {
	return strings.Contains(name, "ptcl-img") || strings.Contains(name, ".ntfs-img") || strings.Contains(name, ".dd-img")
}

func isClonezillaOther(name string) bool {
	return strings.HasPrefix(name, "Info-") || strings.HasSuffix(name, "-pt.sf") || strings.HasSuffix(name, "-pt.parted") ||
		strings.HasSuffix(name, "-mbr") || strings.HasSuffix(name, "-gpt.gdisk") || name == "blkdev.list" ||
		name == "dev-fs.list" || name == "davos.log" || strings.HasSuffix(name, "-chs.sf")
}

// readImage reads an image directory and classifies it (see the package doc).
func (s *Scanner) readImage(path, name string, dirMtime int64, now time.Time) *entry {
	e := &entry{name: name, dirMtime: dirMtime}
	im := &e.img
	im.UUID = clean(name)
	im.Title = im.UUID
	im.SourceMAC = macFromUUIDv1(name)
	mt := time.Unix(0, dirMtime)
	im.Created = mt.UTC()
	newest := mt
	defer func() {
		im.Title = clean(im.Title)
		im.Problem = clean(im.Problem)
		for _, d := range e.deps {
			if d.exists && racy(now, time.Unix(0, d.mtime)) {
				e.volatile = true
			}
		}
		if racy(now, mt) {
			e.volatile = true
		}
	}()

	ents, err := readDir(path)
	if err != nil {
		im.State, im.Problem = wire.ImageInvalid, "directory not readable: "+reason(err)
		e.volatile = true // usually transient (permissions being fixed)
		return e
	}
	var l listing
	for _, de := range ents {
		fn := de.Name()
		if de.IsDir() {
			l.unknowns++
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		l.files++
		if info.Mode().IsRegular() {
			l.sum += uint64(info.Size())
		}
		if info.ModTime().After(newest) {
			newest = info.ModTime()
		}
		switch {
		case fn == "davosInfo.json":
			l.davos = info
		case fn == "disk":
			l.disk = true
		case fn == "parts":
			l.parts = true
		case fn == "clonezilla-img":
			l.czLog = true
		case isChunk(fn):
			l.chunks++
		case isClonezillaOther(fn):
			l.czOther = true
		case legacyFiles[fn]:
			if l.legacy == nil {
				l.legacy = make(map[string]fs.FileInfo)
			}
			l.legacy[fn] = info
		default:
			l.unknowns++
		}
	}
	l.newest = newest
	recent := now.Sub(newest) < s.staleAfter()
	clonezilla := l.disk || l.parts || l.czLog || l.chunks > 0 || l.czOther

	switch {
	case l.davos != nil:
		s.classifyDavos(e, path, &l)
	case clonezilla:
		im.Format = wire.FormatDavos
		im.Size = l.sum
		if line := s.logError(e, path, "clonezilla-img", l.czLog); line != "" {
			im.State, im.Problem = wire.ImageFailed, "Clonezilla log: "+line
		} else if recent {
			im.State = wire.ImageInProgress
			e.volatile = true
		} else {
			im.State = wire.ImageFailed
			im.Problem = "no davosInfo.json; abandoned, nothing written since " + newest.UTC().Format(time.RFC3339)
		}
	case l.legacy != nil:
		s.classifyLegacy(e, path, &l, recent)
	case l.files == 0 && l.unknowns == 0:
		im.State, im.Problem = wire.ImageInvalid, "empty directory"
	default:
		im.State, im.Problem = wire.ImageInvalid, "no davosInfo.json, Clonezilla or legacy files"
	}
	return e
}

func (s *Scanner) classifyDavos(e *entry, path string, l *listing) {
	im := &e.img
	im.Format = wire.FormatDavos
	im.Size = l.sum
	jp := filepath.Join(path, "davosInfo.json")
	e.deps = append(e.deps, depOf(e.name+"/davosInfo.json", l.davos))
	im.Created = l.davos.ModTime().UTC()
	b, err := readSmall(jp)
	if err != nil {
		im.State, im.Problem = wire.ImageInvalid, "davosInfo.json: "+errText(err)
		return
	}
	info, err := decodeDavosInfo(b)
	if err != nil {
		im.State, im.Problem = wire.ImageInvalid, "davosInfo.json: "+err.Error()
		return
	}
	if info.Title != "" {
		im.Title = info.Title
	}
	if info.SizeKnown && info.Size > 0 {
		im.Size = info.Size
	}
	if line := s.logError(e, path, "clonezilla-img", l.czLog); line != "" {
		im.State, im.Problem = wire.ImageFailed, "Clonezilla log: "+line
		return
	}
	var missing []string
	if !l.disk && !l.parts {
		missing = append(missing, "disk/parts")
	}
	if l.chunks == 0 {
		missing = append(missing, "partition image")
	}
	if len(missing) > 0 {
		im.State = wire.ImageFailed
		im.Problem = "imaging ended without " + strings.Join(missing, " and ")
		if info.HasError != nil && *info.HasError {
			im.Problem += " (has_error set)"
		}
		return
	}
	im.State = wire.ImageComplete
}

func (s *Scanner) classifyLegacy(e *entry, path string, l *listing, recent bool) {
	im := &e.img
	im.Format = wire.FormatLegacy
	im.Size = l.sum
	read := func(name string) ([]byte, bool) {
		fi := l.legacy[name]
		if fi == nil {
			return nil, false
		}
		p := filepath.Join(path, name)
		e.deps = append(e.deps, depOf(e.name+"/"+name, fi))
		b, err := readSmall(p)
		return b, err == nil
	}
	if b, ok := read("conf.txt"); ok {
		if t := legacyTitle(b); t != "" {
			im.Title = t
		}
	}
	kib, sizeOK := uint64(0), false
	if b, ok := read("size.txt"); ok {
		kib, sizeOK = parseDuK(b)
		if sizeOK {
			im.Size = kib * 1024
		}
	}
	progress, hasProgress := 100, false
	if b, ok := read("progress.txt"); ok {
		progress, hasProgress = parseProgress(b)
		if !hasProgress {
			progress = 100
		}
	}
	if line := s.logError(e, path, "log.txt", l.legacy["log.txt"] != nil); line != "" {
		im.State, im.Problem = wire.ImageFailed, "log.txt: "+line
		return
	}
	finished := sizeOK && progress >= 100
	switch {
	case finished && l.legacy["CONF"] != nil && l.legacy["conf.txt"] != nil:
		im.State = wire.ImageComplete
	case finished:
		im.State, im.Problem = wire.ImageFailed, "incomplete legacy image: CONF or conf.txt missing"
	case recent:
		im.State = wire.ImageInProgress
		e.volatile = true
	default:
		im.State = wire.ImageFailed
		switch {
		case l.legacy["size.txt"] == nil:
			im.Problem = "unfinished legacy image: no size.txt"
		case !sizeOK:
			im.Problem = "size.txt is not du -k output"
		default:
			im.Problem = fmt.Sprintf("unfinished legacy image: progress %d%%", progress)
		}
	}
}

// logError reads the tail of a log (only for finished or volatile images) and
// returns its first error line, or "".
func (s *Scanner) logError(e *entry, dir, file string, present bool) string {
	if !present {
		return ""
	}
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return ""
	}
	if file == "log.txt" {
		// Legacy logs may be rewritten in place. Clonezilla's log is not
		// watched: it is final once davosInfo.json exists, and images without
		// davosInfo.json are re-read while in progress anyway.
		e.deps = append(e.deps, depOf(e.name+"/"+file, st))
	}
	off := st.Size() - logTail
	if off < 0 {
		off = 0
	}
	b := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(b, off)
	return logErrorLine(b[:n])
}

func depOf(rel string, fi fs.FileInfo) dep {
	return dep{rel: rel, exists: true, mtime: fi.ModTime().UnixNano(), size: fi.Size()}
}

func readSmall(path string) ([]byte, error) { return readLimited(path, maxMetaFile) }

// readLimited reads a metadata file, refusing non-regular or oversized ones.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%d bytes, too large", st.Size())
	}
	return io.ReadAll(io.LimitReader(f, max))
}

func errText(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return reason(pe)
	}
	return err.Error()
}
