package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"imagingstatus/wire"
)

// filledStateFile writes a closed state file of a few hundred KiB: entities
// views, each with a few changes. The last two transactions only rewrite
// view "spare", so that losing the newest one (a damaged newest meta page)
// loses nothing the tests look at. It returns the file's size and what its
// header says it holds (pgid × page size, as bbolt itself reports it).
func filledStateFile(t *testing.T, path string, entities int) (size, holds int64) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < 3; r++ {
		var changes []Change
		var views []wire.Entity
		for e := 0; e < entities; e++ {
			id := fmt.Sprintf("ent-%04d", e)
			changes = append(changes, Change{Entity: id, At: t0.Add(time.Duration(r) * time.Minute), To: wire.StatusOffline, Reason: fmt.Sprint(r)})
			views = append(views, view(id, wire.StatusOffline, t0))
		}
		if err := s.Record(changes, views); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := s.SaveViews([]wire.Entity{view("spare", wire.StatusAvailable, t0.Add(time.Duration(i)*time.Second))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *bolt.Tx) error { holds = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size(), holds
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkEntities opens path and checks that the n entities of filledStateFile
// are all there.
func checkEntities(t *testing.T, path string, n int) {
	t.Helper()
	s := openT(t, path)
	lk, err := s.LastKnown()
	if err != nil {
		t.Fatal(err)
	}
	for e := 0; e < n; e++ {
		id := fmt.Sprintf("ent-%04d", e)
		if lk[id].ID != id {
			t.Fatalf("view of %s lost", id)
		}
		if h, err := s.History(id, 0); err != nil || len(h) != 3 {
			t.Fatalf("History(%s) = %d changes, %v; want 3", id, len(h), err)
		}
	}
}

// wantRefused checks that Open refuses path with an ErrCorrupt error that
// names the file, says what to do and contains every one of want, and that
// the file is left as it was.
func wantRefused(t *testing.T, path string, want ...string) {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open succeeded")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error does not wrap ErrCorrupt: %v", err)
	}
	for _, w := range append([]string{path, "move it aside"}, want...) {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
	if after, err := os.ReadFile(path); err != nil || string(after) != string(before) {
		t.Fatalf("Open changed the refused file (%v)", err)
	}
	t.Logf("%v", err)
}

// TestTruncatedStateFile: bbolt trusts the header's high-water mark and maps
// the file, so without the header check a truncated file kills the process
// with SIGBUS or SIGSEGV inside Open, and an empty one starts empty.
func TestTruncatedStateFile(t *testing.T) {
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.db")
	const entities = 300
	size, holds := filledStateFile(t, orig, entities)
	ps := int64(os.Getpagesize())
	t.Logf("state file: %d bytes, header says it holds %d (page size %d)", size, holds, ps)
	if holds <= 64<<10 || size/2 >= holds {
		t.Fatalf("test data too small: %d bytes, holds %d", size, holds)
	}
	truncated := func(n int64) string {
		return fmt.Sprintf("is %d bytes but its header says it holds %d: it was truncated", n, holds)
	}
	for _, tc := range []struct {
		name string
		size int64
		want string
	}{
		{"empty", 0, "is empty (0 bytes): it was probably truncated"},
		{"16KiB", 16 << 10, truncated(16 << 10)},
		{"32KiB", 32 << 10, truncated(32 << 10)},
		{"half", size / 2, truncated(size / 2)},
		{"page+100", ps + 100, truncated(ps + 100)},
		{"one page short", holds - ps, truncated(holds - ps)},
		{"one byte short", holds - 1, truncated(holds - 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".db")
			copyFile(t, orig, path)
			if err := os.Truncate(path, tc.size); err != nil {
				t.Fatal(err)
			}
			wantRefused(t, path, tc.want)
		})
	}
	// Cutting only what lies past the high-water mark (bbolt grows the file
	// ahead) loses nothing: such a file opens with all its data.
	t.Run("unused tail", func(t *testing.T) {
		path := filepath.Join(dir, "tail.db")
		copyFile(t, orig, path)
		if err := os.Truncate(path, holds); err != nil {
			t.Fatal(err)
		}
		checkEntities(t, path, entities)
	})
}

// TestOneMetaPageDamaged: bbolt keeps two meta pages so that one may be
// torn; the file opens from the other one.
func TestOneMetaPageDamaged(t *testing.T) {
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.db")
	const entities = 100
	filledStateFile(t, orig, entities)
	ps := int64(os.Getpagesize())
	for _, tc := range []struct {
		name     string
		off, len int64
	}{
		{"first page garbage", 0, ps},
		{"first meta txid byte", boltPageHeaderSize + metaOffTxid, 1},
		{"second page garbage", ps, ps},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".db")
			copyFile(t, orig, path)
			// Random bytes, each different from the byte it replaces.
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			garbage := make([]byte, tc.len)
			if _, err := f.ReadAt(garbage, tc.off); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, uint64(tc.off)))
			for i := range garbage {
				garbage[i] ^= byte(1 + r.IntN(255))
			}
			if _, err := f.WriteAt(garbage, tc.off); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			checkEntities(t, path, entities)
		})
	}
}

// putMeta writes a bbolt meta page at off, checksummed, as bbolt would.
func putMeta(b []byte, off int, pageSize uint32, pgid, txid uint64) {
	ne := binary.NativeEndian
	p := b[off:]
	ne.PutUint64(p, uint64(off)/uint64(pageSize)) // page id
	ne.PutUint16(p[8:], 0x04)                     // meta page flag
	m := p[boltPageHeaderSize:]
	ne.PutUint32(m, boltMagic)
	ne.PutUint32(m[4:], boltVersion)
	ne.PutUint32(m[metaOffPageSize:], pageSize)
	ne.PutUint64(m[16:], 3) // root bucket page
	ne.PutUint64(m[32:], 2) // freelist page
	ne.PutUint64(m[metaOffPgid:], pgid)
	ne.PutUint64(m[metaOffTxid:], txid)
	h := fnv.New64a()
	h.Write(m[:metaOffChecksum])
	ne.PutUint64(m[metaOffChecksum:], h.Sum64())
}

// TestRandomBytes: files of random bytes, some with a valid-looking header
// claiming more than the file holds, are refused.
func TestRandomBytes(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(2026, 3))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	const ps = 4096
	huge := random(64 << 10)
	putMeta(huge, 0, ps, 1<<62, 7) // pgid × page size overflows 64 bits
	newer := random(64 << 10)
	putMeta(newer, 0, ps, 16, 8)  // fits
	putMeta(newer, ps, ps, 40, 9) // the newer meta wins, and does not fit
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"1 byte", random(1), ""},
		{"79 bytes", random(79), ""},
		{"one page", random(4096), ""},
		{"64KiB", random(64 << 10), ""},
		{"1MiB", random(1 << 20), ""},
		{"header overflows", huge, fmt.Sprintf("header says it holds %d pages of %d bytes: it was truncated", uint64(1<<62), ps)},
		{"newest meta too long", newer, fmt.Sprintf("is %d bytes but its header says it holds %d", 64<<10, 40*ps)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".db")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				wantRefused(t, path)
			} else {
				wantRefused(t, path, tc.want)
			}
		})
	}
}
