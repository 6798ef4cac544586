package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"
	"os"

	berrors "go.etcd.io/bbolt/errors"
)

// The bbolt v1 file header, as go.etcd.io/bbolt/internal/common lays it
// out (page.go, meta.go) in the machine's byte order: every page starts with
// a 16-byte header (id, flags, count, overflow); pages 0 and 1 then hold a
// meta: magic, version, pageSize, flags (4 bytes each), root bucket (root
// pgid, sequence), freelist pgid, pgid (the high-water mark: the file holds
// pages 0..pgid-1), txid, and the FNV-64a checksum of the 56 bytes before it.
const (
	boltPageHeaderSize = 16
	boltMetaSize       = 64
	boltMagic          = 0xED0CDAED
	boltVersion        = 2

	metaOffPageSize = 8
	metaOffPgid     = 40
	metaOffTxid     = 48
	metaOffChecksum = 56

	// The page sizes bbolt looks for when the first meta is unreadable.
	minPageSize = 1024
	maxPageSize = 1024 << 14
)

// boltMeta is what checkHeader needs of a meta page.
type boltMeta struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
	raw      [boltPageHeaderSize + boltMetaSize]byte // the page's start
}

// boltHeader is the meta bbolt will use and the meta page, if any, that is
// damaged (-1: none).
type boltHeader struct {
	boltMeta
	damaged int
}

// checkHeader refuses an existing state file whose header bbolt would trust
// into a crash: bbolt maps the file and reads any page below the meta's
// high-water mark, so a file shorter than that (truncated by a full disk, a
// copy cut short, a partial restore) dies with SIGBUS or SIGSEGV in Open,
// which no recover catches. An empty file would silently start empty. A
// missing file is left to bbolt, which creates it.
//
// The check runs under the file's lock when it can, so that a file another
// hub is creating (empty for an instant) is reported in use, not damaged.
func checkHeader(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return describeOpenError(path, err)
	}
	defer f.Close()
	unlock, err := lockFile(f, LockTimeout)
	if err != nil {
		return describeOpenError(path, err)
	}
	defer unlock()

	st, err := f.Stat()
	if err != nil {
		return describeOpenError(path, err)
	}
	size := st.Size()
	if size == 0 {
		return &openError{kind: ErrCorrupt, cause: errEmptyFile, msg: fmt.Sprintf(
			"state file %s is empty (0 bytes): it was probably truncated; move it aside or delete it to start with an empty state",
			path)}
	}
	m, err := readHeader(f, size)
	if err != nil {
		return corrupt(path, err)
	}
	hi, holds := bits.Mul64(m.pgid, uint64(m.pageSize))
	if hi != 0 || holds > uint64(size) {
		return &openError{kind: ErrCorrupt, cause: errTruncated, msg: fmt.Sprintf(
			"state file %s is %d bytes but its header says it holds %s: it was truncated; move it aside (mv %s %s.bad) and restart the hub, which then starts with an empty state",
			path, size, holdsText(hi, holds, m.boltMeta), path, path)}
	}
	if m.damaged >= 0 && canLock {
		if err := repairMeta(f, m); err != nil {
			return &openError{cause: err, msg: fmt.Sprintf(
				"state file %s: its meta page %d is damaged and could not be rewritten from the other one (%v): check the disk and the file's permissions, or move it aside (mv %s %s.bad) to start with an empty state",
				path, m.damaged, err, path, path)}
		}
	}
	return nil
}

// repairMeta rewrites the damaged meta page with a copy of the valid one.
// bbolt keeps two meta pages so that a crash while it writes one (a torn
// page) leaves the other in force, and its next commit rewrites the damaged
// one; but the consistency check Open runs first rejects a page 0 or 1 whose
// page header is garbage. The copy says exactly what the valid meta says
// (same transaction), so it changes no data, and bbolt's next commit
// overwrites it as usual.
func repairMeta(f *os.File, h boltHeader) error {
	buf := make([]byte, h.pageSize)
	copy(buf, h.raw[:])
	binary.NativeEndian.PutUint64(buf, uint64(h.damaged)) // the page's id
	if _, err := f.WriteAt(buf, int64(h.damaged)*int64(h.pageSize)); err != nil {
		return err
	}
	return f.Sync()
}

var (
	errEmptyFile = errors.New("state file is empty")
	errTruncated = errors.New("state file is shorter than its header says")
)

func holdsText(hi, holds uint64, m boltMeta) string {
	if hi != 0 {
		return fmt.Sprintf("%d pages of %d bytes", m.pgid, m.pageSize)
	}
	return fmt.Sprint(holds)
}

// readHeader returns the meta bbolt would use: the valid one of pages 0 and
// 1 with the highest txid. Page 1 sits at the page size, which the first
// meta gives; when that one is damaged, page 1 is looked for at the sizes
// bbolt itself tries.
func readHeader(f io.ReaderAt, size int64) (boltHeader, error) {
	m0, err0 := readMeta(f, 0)
	var m1 boltMeta
	var err1 error
	if err0 == nil {
		m1, err1 = readMeta(f, int64(m0.pageSize))
		if err1 == nil && m1.pageSize != m0.pageSize {
			err1 = fmt.Errorf("page size %d, first meta says %d", m1.pageSize, m0.pageSize)
		}
	} else {
		err1 = berrors.ErrInvalid
		for ps := int64(minPageSize); ps <= maxPageSize && ps < size; ps *= 2 {
			if m, err := readMeta(f, ps); err == nil && int64(m.pageSize) == ps {
				m1, err1 = m, nil
				break
			}
		}
	}
	switch {
	case err0 == nil && err1 == nil:
		if m1.txid > m0.txid {
			return boltHeader{m1, -1}, nil
		}
		return boltHeader{m0, -1}, nil
	case err0 == nil:
		return boltHeader{m0, 1}, nil
	case err1 == nil:
		return boltHeader{m1, 0}, nil
	}
	return boltHeader{}, fmt.Errorf("no valid bbolt header: first meta page: %w; second: %v", err0, err1)
}

// readMeta reads and validates the meta of the page at off.
func readMeta(f io.ReaderAt, off int64) (boltMeta, error) {
	var m boltMeta
	buf := m.raw[:]
	if n, err := f.ReadAt(buf, off); n < len(buf) {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("only %d bytes at offset %d: %w", n, off, berrors.ErrInvalid)
		}
		return boltMeta{}, err
	}
	b := buf[boltPageHeaderSize:]
	ne := binary.NativeEndian
	if ne.Uint32(b) != boltMagic {
		return boltMeta{}, berrors.ErrInvalid
	}
	if v := ne.Uint32(b[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("format version %d, this hub reads %d: %w", v, boltVersion, berrors.ErrVersionMismatch)
	}
	h := fnv.New64a()
	_, _ = h.Write(b[:metaOffChecksum])
	if h.Sum64() != ne.Uint64(b[metaOffChecksum:]) {
		return boltMeta{}, berrors.ErrChecksum
	}
	m.pageSize = ne.Uint32(b[metaOffPageSize:])
	m.pgid = ne.Uint64(b[metaOffPgid:])
	m.txid = ne.Uint64(b[metaOffTxid:])
	// A checksummed meta comes from bbolt, but a page size that bbolt would
	// divide by or map with is checked rather than trusted.
	if m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("page size %d: %w", m.pageSize, berrors.ErrInvalid)
	}
	if m.pgid < 2 {
		return boltMeta{}, fmt.Errorf("high-water mark %d below the two meta pages: %w", m.pgid, berrors.ErrInvalid)
	}
	return m, nil
}
