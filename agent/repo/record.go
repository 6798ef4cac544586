package repo

import (
	"io/fs"
	"time"

	"imagingstatus/wire"
)

// record is the cached scan of one image directory, kept small and flat
// (72 bytes plus its name and title): a 10,000-image repository is held as
// one sorted slice of them instead of a map of wire.Image copies, and
// wire.Image values are produced only while a report is written.
type record struct {
	// text is the directory name in masters/ (its first nameLen bytes; the
	// UUID is clean(name)) then the title ("" when the title is the UUID):
	// one string instead of two saves 16 bytes an image.
	text     string
	problem  string // interned: most problems repeat
	size     uint64
	created  int64  // Unix ns
	dirMtime int64  // Unix ns
	depSum   uint64 // digest of the (mtime, size) of the metadata files read
	nameLen  uint8  // a file name is at most 255 bytes (NAME_MAX)
	deps     uint8  // which metadata files were read (dep* bits)
	state    uint8
	format   uint8
	flags    uint8
	// seen is the epoch of the last full scan that listed the directory; a
	// record not listed is dropped by that scan, so a wrap of the counter
	// cannot confuse two scans.
	seen uint16
}

// maxName is the longest directory name a record holds (Linux's NAME_MAX).
const maxName = 255

func (r *record) name() string  { return r.text[:r.nameLen] }
func (r *record) title() string { return r.text[r.nameLen:] }

// Record flags.
const (
	// racy: a timestamp was too close to the read to prove a later change;
	// read again on the next scan of any kind.
	fRacy uint8 = 1 << iota
	// volatile: the state depends on the clock (in progress) or the read
	// failed (unreadable directory); read again on every full scan and at
	// the hot cadence.
	fVolatile
	// recent: something in the directory was written within StaleAfter
	// (an image being made, or just made); watched, and read again at the
	// hot cadence, so a change inside it shows without a full rescan.
	fRecent
	// blankTitle: the metadata gave a title that cleans to "" (reported
	// as "", not as the UUID).
	fBlankTitle
)

// Metadata files whose contents make a record; a change of their mtime or
// size invalidates it. The order is the digest order.
const (
	depDavos uint8 = 1 << iota
	depConf
	depSize
	depProgress
	depLog
)

var depFiles = [...]string{"davosInfo.json", "conf.txt", "size.txt", "progress.txt", "log.txt"}

// Image states and formats as small numbers, in wire's spelling.
var (
	stateNames  = [...]string{wire.ImageComplete, wire.ImageInProgress, wire.ImageFailed, wire.ImageInvalid}
	formatNames = [...]string{"", wire.FormatDavos, wire.FormatLegacy}
)

const (
	stComplete uint8 = iota
	stInProgress
	stFailed
	stInvalid
)

const (
	fmtNone uint8 = iota
	fmtDavos
	fmtLegacy
)

// depStamp is one metadata file's stat, folded into record.depSum.
type depStamps [len(depFiles)]struct{ mtime, size int64 }

// digest folds the stamps of the files in mask into one value (splitmix64
// steps): a changed mtime or size changes it except with probability 2^-64.
func (d *depStamps) digest(mask uint8) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for i := range d {
		if mask&(1<<i) == 0 {
			continue
		}
		h = mix(h ^ uint64(d[i].mtime))
		h = mix(h ^ uint64(d[i].size))
	}
	return h
}

func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fresh says whether the record still describes the directory: same
// directory mtime and same metadata files.
func (r *record) fresh(masters *dirRef, dirMtime int64) bool {
	if r.flags&(fRacy|fVolatile) != 0 || dirMtime != r.dirMtime {
		return false
	}
	if r.deps == 0 {
		return true
	}
	var d depStamps
	for i, f := range depFiles {
		if r.deps&(1<<i) == 0 {
			continue
		}
		st, err := masters.stat(r.name()+"/"+f, false)
		if err != nil {
			return false
		}
		d[i].mtime, d[i].size = st.mtime, st.size
	}
	return d.digest(r.deps) == r.depSum
}

// same says whether two reads of an image report the same thing.
func (r *record) same(o *record) bool {
	return r.text == o.text && r.nameLen == o.nameLen && r.flags&fBlankTitle == o.flags&fBlankTitle && r.problem == o.problem && r.size == o.size && r.created == o.created &&
		r.state == o.state && r.format == o.format
}

// fill writes the record as a wire.Image (no allocation but the MAC).
func (r *record) fill(im *wire.Image) {
	name := r.name()
	im.UUID = clean(name)
	im.Title = r.title()
	if im.Title == "" && r.flags&fBlankTitle == 0 {
		im.Title = im.UUID
	}
	im.Format = formatNames[r.format]
	im.State = stateNames[r.state]
	im.Size = r.size
	im.Created = time.Unix(0, r.created).UTC()
	im.SourceMAC = macFromUUIDv1(name)
	im.Problem = r.problem
}

// builder accumulates one read of an image directory.
type builder struct {
	r      record
	newest int64 // newest mtime in the directory (Unix ns)
	stamps depStamps
	now    time.Time
}

func (b *builder) dep(bit uint8, fi fs.FileInfo) {
	i := 0
	for bit>>i != 1 {
		i++
	}
	b.r.deps |= bit
	b.stamps[i].mtime, b.stamps[i].size = fi.ModTime().UnixNano(), fi.Size()
	if racy(b.now, fi.ModTime()) {
		b.r.flags |= fRacy
	}
}
