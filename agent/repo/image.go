package repo

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Metadata files limits: they are a few hundred bytes; anything huge is not
// ours and must not cost memory.
const (
	maxMetaFile = 64 << 10
	logTail     = 8 << 10
)

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

// imageText is what a read found, before it is packed into the record.
type imageText struct{ title, problem string }

// readImage reads an image directory and classifies it (see the package doc).
func (s *Scanner) readImage(path, name string, dirMtime int64, now time.Time) record {
	b := &builder{now: now}
	b.r = record{text: name, nameLen: uint8(len(name)), dirMtime: dirMtime, created: dirMtime}
	b.newest = dirMtime
	var t imageText
	s.classify(b, &t, path)
	if title := clean(t.title); title != "" && title != clean(name) {
		b.r.text = name + title
	}
	b.r.problem = s.intern(clean(t.problem))
	b.r.depSum = b.stamps.digest(b.r.deps)
	if racy(now, time.Unix(0, dirMtime)) {
		b.r.flags |= fRacy
	}
	if now.Sub(time.Unix(0, b.newest)) < s.staleAfter() {
		b.r.flags |= fRecent
	}
	return b.r
}

func (s *Scanner) classify(b *builder, t *imageText, path string) {
	r := &b.r
	now := b.now
	ents, err := readDir(path)
	if err != nil {
		r.state, t.problem = stInvalid, "directory not readable: "+reason(err)
		r.flags |= fVolatile // usually transient (permissions being fixed)
		return
	}
	newest := time.Unix(0, r.dirMtime)
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
	b.newest = newest.UnixNano()
	recent := now.Sub(newest) < s.staleAfter()
	clonezilla := l.disk || l.parts || l.czLog || l.chunks > 0 || l.czOther

	switch {
	case l.davos != nil:
		s.classifyDavos(b, t, path, &l)
	case clonezilla:
		r.format = fmtDavos
		r.size = l.sum
		if line := s.logError(b, path, "clonezilla-img", l.czLog); line != "" {
			r.state, t.problem = stFailed, "Clonezilla log: "+line
		} else if recent {
			r.state = stInProgress
			r.flags |= fVolatile
		} else {
			r.state = stFailed
			t.problem = "no davosInfo.json; abandoned, nothing written since " + newest.UTC().Format(time.RFC3339)
		}
	case l.legacy != nil:
		s.classifyLegacy(b, t, path, &l, recent)
	case l.files == 0 && l.unknowns == 0:
		r.state, t.problem = stInvalid, "empty directory"
	default:
		r.state, t.problem = stInvalid, "no davosInfo.json, Clonezilla or legacy files"
	}
}

func (s *Scanner) classifyDavos(b *builder, t *imageText, path string, l *listing) {
	r := &b.r
	r.format = fmtDavos
	r.size = l.sum
	jp := filepath.Join(path, "davosInfo.json")
	b.dep(depDavos, l.davos)
	r.created = l.davos.ModTime().UnixNano()
	raw, err := readSmall(jp)
	if err != nil {
		r.state, t.problem = stInvalid, "davosInfo.json: "+errText(err)
		return
	}
	info, err := decodeDavosInfo(raw)
	if err != nil {
		r.state, t.problem = stInvalid, "davosInfo.json: "+err.Error()
		return
	}
	if info.Title != "" {
		t.title = info.Title
		if clean(info.Title) == "" {
			r.flags |= fBlankTitle
		}
	}
	if info.SizeKnown && info.Size > 0 {
		r.size = info.Size
	}
	if line := s.logError(b, path, "clonezilla-img", l.czLog); line != "" {
		r.state, t.problem = stFailed, "Clonezilla log: "+line
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
		r.state = stFailed
		t.problem = "imaging ended without " + strings.Join(missing, " and ")
		if info.HasError != nil && *info.HasError {
			t.problem += " (has_error set)"
		}
		return
	}
	r.state = stComplete
}

var legacyDeps = map[string]uint8{"conf.txt": depConf, "size.txt": depSize, "progress.txt": depProgress, "log.txt": depLog}

func (s *Scanner) classifyLegacy(b *builder, t *imageText, path string, l *listing, recent bool) {
	r := &b.r
	r.format = fmtLegacy
	r.size = l.sum
	read := func(name string) ([]byte, bool) {
		fi := l.legacy[name]
		if fi == nil {
			return nil, false
		}
		b.dep(legacyDeps[name], fi)
		raw, err := readSmall(filepath.Join(path, name))
		return raw, err == nil
	}
	if raw, ok := read("conf.txt"); ok {
		if title := legacyTitle(raw); title != "" {
			t.title = title
			if clean(title) == "" {
				r.flags |= fBlankTitle
			}
		}
	}
	kib, sizeOK := uint64(0), false
	if raw, ok := read("size.txt"); ok {
		kib, sizeOK = parseDuK(raw)
		if sizeOK {
			r.size = kib * 1024
		}
	}
	progress, hasProgress := 100, false
	if raw, ok := read("progress.txt"); ok {
		progress, hasProgress = parseProgress(raw)
		if !hasProgress {
			progress = 100
		}
	}
	if line := s.logError(b, path, "log.txt", l.legacy["log.txt"] != nil); line != "" {
		r.state, t.problem = stFailed, "log.txt: "+line
		return
	}
	finished := sizeOK && progress >= 100
	switch {
	case finished && l.legacy["CONF"] != nil && l.legacy["conf.txt"] != nil:
		r.state = stComplete
	case finished:
		r.state, t.problem = stFailed, "incomplete legacy image: CONF or conf.txt missing"
	case recent:
		r.state = stInProgress
		r.flags |= fVolatile
	default:
		r.state = stFailed
		switch {
		case l.legacy["size.txt"] == nil:
			t.problem = "unfinished legacy image: no size.txt"
		case !sizeOK:
			t.problem = "size.txt is not du -k output"
		default:
			t.problem = fmt.Sprintf("unfinished legacy image: progress %d%%", progress)
		}
	}
}

// logError reads the tail of a log (only for finished or volatile images) and
// returns its first error line, or "".
func (s *Scanner) logError(b *builder, dir, file string, present bool) string {
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
		b.dep(depLog, st)
	}
	off := st.Size() - logTail
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(buf, off)
	return logErrorLine(buf[:n])
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
