package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"imagingstatus/agent/repo/repotest"
	"imagingstatus/wire"
)

const (
	v1  = "6ecc2a6c-e8ed-11f1-800c-525400a1b2c3"
	v1U = "6ECC2A6C-E8ED-11F1-800C-525400A1B2C4"
	v4  = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
)

// mkImage writes an image directory whose files and directory were all last
// modified age ago.
func mkImage(t testing.TB, root, name string, files map[string]string, age time.Duration) string {
	t.Helper()
	dir := filepath.Join(root, "masters", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	for fn, c := range files {
		p := filepath.Join(dir, fn)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(dir, at, at); err != nil {
		t.Fatal(err)
	}
	return dir
}

func validate(t testing.TB, r wire.Repository) {
	t.Helper()
	rep := wire.Report{Figures: wire.Figures{Repository: &r}}
	if err := rep.Validate(); err != nil {
		t.Fatalf("scan result fails wire validation: %v", err)
	}
}

func scan(t testing.TB, s *Scanner) wire.Repository {
	t.Helper()
	r, err := s.Scan()
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	validate(t, r)
	return r
}

func czFiles(extra map[string]string) map[string]string {
	m := map[string]string{"disk": "sda\n", "parts": "sda1\n", "clonezilla-img": "Partclone successfully cloned\nTotal 0 errors\n", "sda1.ext4-ptcl-img.gz.aa": "xx", "sda-pt.sf": "label: dos\n"}
	for k, v := range extra {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func TestImageStates(t *testing.T) {
	const day = 24 * time.Hour
	legacy := map[string]string{"CONF": "x\n", "conf.txt": "title Win XP master\ndesc old\n", "size.txt": "2048\t/x\n", "log.txt": "ok\n", "progress.txt": "100\n"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name    string
		dir     string
		files   map[string]string
		age     time.Duration
		state   string
		format  string
		title   string
		size    uint64
		mac     string
		problem string
	}{
		{name: "davos complete", dir: v1, files: czFiles(map[string]string{"davosInfo.json": `{"title": "Win 11", "description": "", "size": 53687091200, "has_error": false}`}),
			age: day, state: wire.ImageComplete, format: wire.FormatDavos, title: "Win 11", size: 50 << 30, mac: "52:54:00:a1:b2:c3"},
		{name: "has_error inverted on success", dir: v1, files: czFiles(map[string]string{"davosInfo.json": `{"title": "Inv", "size": 10, "has_error": true}`}),
			age: day, state: wire.ImageComplete, title: "Inv", size: 10},
		{name: "has_error and no chunk", dir: v1, files: czFiles(map[string]string{"davosInfo.json": `{"title": "A", "size": 10, "has_error": true}`, "sda1.ext4-ptcl-img.gz.aa": ""}),
			age: day, state: wire.ImageFailed, problem: "has_error"},
		{name: "no has_error but no payload", dir: v1, files: map[string]string{"davosInfo.json": `{"title": "A", "size": 10, "has_error": false}`},
			age: day, state: wire.ImageFailed, problem: "disk/parts and partition image"},
		{name: "clonezilla log error", dir: v1, files: czFiles(map[string]string{"clonezilla-img": "start\nFailed to save partition /dev/sda1.\n", "davosInfo.json": `{"title": "A", "size": 10, "has_error": false}`}),
			age: day, state: wire.ImageFailed, problem: "Failed to save partition"},
		{name: "broken json", dir: v1, files: czFiles(map[string]string{"davosInfo.json": `{"title": "Image of`}),
			age: day, state: wire.ImageInvalid, problem: "not valid JSON"},
		{name: "json array", dir: v1, files: czFiles(map[string]string{"davosInfo.json": `[1,2]`}),
			age: day, state: wire.ImageInvalid, problem: "not a JSON object"},
		{name: "json trailing data", dir: v1, files: czFiles(map[string]string{"davosInfo.json": `{} {}`}),
			age: day, state: wire.ImageInvalid, problem: "data after"},
		{name: "json without size or title", dir: v1, files: map[string]string{"davosInfo.json": `{}`, "disk": "sda", "parts": "sda1", "sda1.ntfs-ptcl-img.gz.aa": "123"},
			age: day, state: wire.ImageComplete, title: v1, size: 2 + 3 + 4 + 3},
		{name: "json odd types", dir: v1, files: czFiles(map[string]string{"davosInfo.json": `{"title": 5, "size": "1000", "has_error": "yes"}`}),
			age: day, state: wire.ImageComplete, title: v1, size: 1000},
		{name: "half-written recent", dir: v1, files: czFiles(map[string]string{"sda2.ext4-ptcl-img.gz.aa": "y"}),
			age: time.Minute, state: wire.ImageInProgress, format: wire.FormatDavos, title: v1},
		{name: "half-written abandoned", dir: v1, files: czFiles(nil),
			age: 3 * time.Hour, state: wire.ImageFailed, problem: "abandoned"},
		{name: "half-written log error", dir: v1, files: czFiles(map[string]string{"clonezilla-img": "ERROR: disk gone\n"}),
			age: time.Minute, state: wire.ImageFailed, problem: "disk gone"},
		{name: "legacy complete", dir: v1U, files: legacy,
			age: 400 * day, state: wire.ImageComplete, format: wire.FormatLegacy, title: "Win XP master", size: 2048 * 1024, mac: "52:54:00:a1:b2:c4"},
		{name: "legacy latin-1 title", dir: v1, files: with(legacy, "conf.txt", "title Poste comptabilit\xe9\n"),
			age: day, state: wire.ImageComplete, title: "Poste comptabilité"},
		{name: "legacy in progress", dir: v1, files: with(legacy, "progress.txt", "42%\n", "size.txt", "-"),
			age: time.Minute, state: wire.ImageInProgress, title: "Win XP master"},
		{name: "legacy progress not 100", dir: v1, files: with(legacy, "progress.txt", "progress: 99\n"),
			age: time.Minute, state: wire.ImageInProgress},
		{name: "legacy unfinished old", dir: v1, files: with(legacy, "progress.txt", "42\n"),
			age: 30 * day, state: wire.ImageFailed, problem: "progress 42%"},
		{name: "legacy no size.txt old", dir: v1, files: with(legacy, "size.txt", "-"),
			age: 30 * day, state: wire.ImageFailed, problem: "no size.txt"},
		{name: "legacy bad size.txt", dir: v1, files: with(legacy, "size.txt", "du: cannot access\n"),
			age: 30 * day, state: wire.ImageFailed, problem: "du -k"},
		{name: "legacy without CONF", dir: v1, files: with(legacy, "CONF", "-"),
			age: day, state: wire.ImageFailed, problem: "CONF"},
		{name: "legacy log error", dir: v1, files: with(legacy, "log.txt", "error: write failed\n"),
			age: day, state: wire.ImageFailed, problem: "log.txt"},
		{name: "empty dir", dir: v1, files: nil, age: day, state: wire.ImageInvalid, problem: "empty directory"},
		{name: "unknown files", dir: "lost+found", files: map[string]string{"foo.iso": "x"},
			age: day, state: wire.ImageInvalid, problem: "no davosInfo.json", mac: "-"},
		{name: "v4 uuid", dir: v4, files: nil, age: day, state: wire.ImageInvalid, mac: "-"},
		{name: "long title clipped", dir: v1, files: czFiles(map[string]string{"davosInfo.json": `{"title": "` + strings.Repeat("é", 300) + "\\u0000\\n" + `", "size": 1}`}),
			age: day, state: wire.ImageComplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			mkImage(t, root, tt.dir, tt.files, tt.age)
			r := scan(t, New(root))
			if r.ImagesTotal != 1 || len(r.Images) != 1 {
				t.Fatalf("images_total %d, list %d; want 1", r.ImagesTotal, len(r.Images))
			}
			im := r.Images[0]
			if im.State != tt.state {
				t.Errorf("state %q (%s), want %q", im.State, im.Problem, tt.state)
			}
			if tt.format != "" && im.Format != tt.format {
				t.Errorf("format %q, want %q", im.Format, tt.format)
			}
			if tt.title != "" && im.Title != tt.title {
				t.Errorf("title %q, want %q", im.Title, tt.title)
			}
			if tt.size != 0 && im.Size != tt.size {
				t.Errorf("size %d, want %d", im.Size, tt.size)
			}
			switch tt.mac {
			case "":
			case "-":
				if im.SourceMAC != "" {
					t.Errorf("source mac %q, want none", im.SourceMAC)
				}
			default:
				if im.SourceMAC != tt.mac {
					t.Errorf("source mac %q, want %q", im.SourceMAC, tt.mac)
				}
			}
			if !strings.Contains(im.Problem, tt.problem) {
				t.Errorf("problem %q, want it to mention %q", im.Problem, tt.problem)
			}
			if (im.State == wire.ImageComplete || im.State == wire.ImageInProgress) && im.Problem != "" {
				t.Errorf("problem %q on a %s image", im.Problem, im.State)
			}
			if im.Created.IsZero() {
				t.Error("created is zero")
			}
			if im.State == wire.ImageComplete && r.BytesComplete != im.Size {
				t.Errorf("bytes_complete %d, want %d", r.BytesComplete, im.Size)
			}
		})
	}
}

func TestGenerated(t *testing.T) {
	tests := []struct {
		name string
		o    repotest.Options
	}{
		{"empty", repotest.Options{}},
		{"mixed", repotest.Options{Complete: 12, InProgress: 4, Failed: 8, Invalid: 6, Legacy: 3, Clients: 10, ClientsWithImages: 6, WithUUIDCache: true, Strays: 3}},
		{"no uuid cache", repotest.Options{Complete: 5, Clients: 5, ClientsWithImages: 5}},
		{"no clients", repotest.Options{Complete: 5, Failed: 2, WithUUIDCache: true}},
		{"more clients with images than images", repotest.Options{Complete: 2, Clients: 9, ClientsWithImages: 9, WithUUIDCache: true}},
		{"large", repotest.Options{Complete: 1700, InProgress: 20, Failed: 120, Invalid: 60, Legacy: 100, Clients: 800, ClientsWithImages: 500, WithUUIDCache: true, Strays: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.name == "large" {
				t.Skip("short")
			}
			root := t.TempDir()
			exp, err := repotest.Generate(root, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			s := New(root)
			r := scan(t, s)
			if err := exp.Check(r); err != nil {
				t.Fatal(err)
			}
			if len(r.Images) != exp.ImagesTotal || r.Generation != 1 {
				t.Fatalf("list %d, generation %d; want %d, 1", len(r.Images), r.Generation, exp.ImagesTotal)
			}
			if !slices.IsSortedFunc(r.Images, func(a, b wire.Image) int { return strings.Compare(a.UUID, b.UUID) }) {
				t.Error("images not sorted by uuid")
			}
			for _, im := range r.Images {
				if im.State != exp.States[im.UUID] {
					t.Errorf("%s: state %s (%s), want %s", im.UUID, im.State, im.Problem, exp.States[im.UUID])
				}
				if im.SourceMAC != exp.MACs[im.UUID] {
					t.Errorf("%s: mac %q, want %q", im.UUID, im.SourceMAC, exp.MACs[im.UUID])
				}
			}
			// Only in-progress images (clock-dependent) are read again.
			before := s.reads
			r2 := scan(t, s)
			if got := s.reads - before; got != exp.ImagesInProgress {
				t.Errorf("unchanged rescan read %d images, want %d", got, exp.ImagesInProgress)
			}
			if r2.Generation != r.Generation {
				t.Errorf("unchanged rescan moved generation %d → %d", r.Generation, r2.Generation)
			}
			if err := exp.Check(r2); err != nil {
				t.Fatal(err)
			}
			if p := s.Problems(); len(p) != 0 {
				t.Errorf("problems: %v", p)
			}
		})
	}
}

func TestCache(t *testing.T) {
	root := t.TempDir()
	exp, err := repotest.Generate(root, repotest.Options{Complete: 40, Legacy: 5, Failed: 4, Invalid: 3, Clients: 10, ClientsWithImages: 5, WithUUIDCache: true})
	if err != nil {
		t.Fatal(err)
	}
	s := New(root)
	r := scan(t, s)
	if s.reads != exp.ImagesTotal || s.cache.reads != 1 {
		t.Fatalf("cold scan read %d images and uuid-cache %d times, want %d and 1", s.reads, s.cache.reads, exp.ImagesTotal)
	}
	gen := r.Generation
	step := func(name string, wantReads int, wantGenChange bool) wire.Repository {
		t.Helper()
		before := s.reads
		r := scan(t, s)
		if got := s.reads - before; got != wantReads {
			t.Errorf("%s: %d image reads, want %d", name, got, wantReads)
		}
		if changed := r.Generation != gen; changed != wantGenChange {
			t.Errorf("%s: generation %d → %d, want change %v", name, gen, r.Generation, wantGenChange)
		}
		gen = r.Generation
		return r
	}
	r2 := step("unchanged", 0, false)
	if &r2.Images[0] != &r.Images[0] {
		t.Error("unchanged rescan rebuilt the image list")
	}

	// Pick a complete current-format image.
	var target wire.Image
	for _, im := range r.Images {
		if im.State == wire.ImageComplete && im.Format == wire.FormatDavos {
			target = im
			break
		}
	}
	dir := filepath.Join(root, "masters", target.UUID)
	past := func(d time.Duration) time.Time { return time.Now().Add(-d) }

	// A new file changes the dir mtime: re-read, but the image is the same
	// (its size is declared), so the generation stays.
	if err := os.WriteFile(filepath.Join(dir, "Info-dmi.txt"), []byte("dmi"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(dir, past(time.Hour), past(time.Hour))
	step("file added", 1, false)
	step("unchanged after add", 0, false)

	// davosInfo.json rewritten in place, directory mtime restored.
	st, _ := os.Stat(dir)
	jp := filepath.Join(dir, "davosInfo.json")
	if err := os.WriteFile(jp, []byte(`{"title": "Renamed", "size": 123, "has_error": false}`), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(jp, past(30*time.Minute), past(30*time.Minute))
	os.Chtimes(dir, st.ModTime(), st.ModTime())
	r = step("json rewritten in place", 1, true)
	i, _ := slices.BinarySearchFunc(r.Images, target.UUID, func(im wire.Image, id string) int { return strings.Compare(im.UUID, id) })
	if im := r.Images[i]; im.Title != "Renamed" || im.Size != 123 {
		t.Errorf("re-read image: title %q size %d", im.Title, im.Size)
	}
	step("unchanged after rewrite", 0, false)

	// A removed image is forgotten.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	r = step("image removed", 0, true)
	if r.ImagesTotal != exp.ImagesTotal-1 || len(s.recs) != exp.ImagesTotal-1 {
		t.Errorf("after removal: total %d, cached %d", r.ImagesTotal, len(s.recs))
	}

	// A racy image (mtime now) is read again on the next scan, then cached.
	t0 := time.Now()
	s.now = func() time.Time { return t0 }
	mkImage(t, root, v1, czFiles(map[string]string{"davosInfo.json": `{"title": "new", "size": 5}`}), 0)
	step("image added", 1, true)
	step("racy image re-read", 1, false)
	s.now = func() time.Time { return t0.Add(5 * time.Second) }
	step("racy re-read", 1, false)
	step("settled", 0, false)

	// uuid-cache.txt is read only when it changes.
	reads := s.cache.reads
	scan(t, s)
	if s.cache.reads != reads {
		t.Error("unchanged uuid-cache.txt re-read")
	}
	cp := filepath.Join(root, "uuid-cache.txt")
	if err := os.WriteFile(cp, []byte("[UUID10]\nmac=52:54:00:a1:b2:c3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(cp, past(time.Minute), past(time.Minute))
	r = scan(t, s)
	if s.cache.reads != reads+1 {
		t.Errorf("changed uuid-cache.txt read %d times", s.cache.reads-reads)
	}
	if r.ClientsWithImages != 1 { // only UUID10 (client 9) is known now, and it matches the image added above
		t.Errorf("clients_with_images %d after uuid-cache change, want 1", r.ClientsWithImages)
	}
}

func TestInProgressBecomesStale(t *testing.T) {
	root := t.TempDir()
	mkImage(t, root, v1, czFiles(nil), 10*time.Minute)
	s := New(root)
	r := scan(t, s)
	if r.ImagesInProgress != 1 {
		t.Fatalf("in progress %d, want 1", r.ImagesInProgress)
	}
	r2 := scan(t, s)
	if r2.Generation != r.Generation {
		t.Error("in-progress image without writes changed the generation")
	}
	s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	r3 := scan(t, s)
	if r3.ImagesFailed != 1 || r3.Generation == r.Generation {
		t.Fatalf("after 2 h: failed %d, generation %d→%d", r3.ImagesFailed, r.Generation, r3.Generation)
	}
	before := s.reads
	scan(t, s)
	if s.reads != before {
		t.Error("stale failed image is still re-read every scan")
	}
	s.StaleAfter = 3 * time.Hour
	os.Chtimes(filepath.Join(root, "masters", v1), time.Now().Add(-time.Minute), time.Now().Add(-time.Minute))
	if r := scan(t, s); r.ImagesInProgress != 1 {
		t.Errorf("StaleAfter 3h: in progress %d, want 1", r.ImagesInProgress)
	}
}

func TestNonDirectoryEntries(t *testing.T) {
	root := t.TempDir()
	img := mkImage(t, root, v1, czFiles(map[string]string{"davosInfo.json": `{"title":"x","size":7}`}), time.Hour)
	m := filepath.Join(root, "masters")
	os.WriteFile(filepath.Join(m, "notes.txt"), []byte("x"), 0o644)
	os.Symlink(filepath.Join(root, "nowhere"), filepath.Join(m, "dangling"))
	os.Symlink(filepath.Join(m, "notes.txt"), filepath.Join(m, "link-to-file"))
	other := filepath.Join(root, "elsewhere", v4)
	os.MkdirAll(filepath.Dir(other), 0o755)
	if err := os.Rename(img, other); err != nil {
		t.Fatal(err)
	}
	os.Symlink(other, filepath.Join(m, v1)) // an image stored elsewhere, linked
	r := scan(t, New(root))
	if r.ImagesTotal != 1 || r.ImagesComplete != 1 || r.Images[0].UUID != v1 {
		t.Fatalf("total %d complete %d %+v", r.ImagesTotal, r.ImagesComplete, r.Images)
	}
}

func TestRepositoryErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, root string) string // returns the root to scan
		want  string
		is    error
	}{
		{"root missing", func(t *testing.T, root string) string { return filepath.Join(root, "nope") },
			"root not readable: no such directory", fs.ErrNotExist},
		{"root is a file", func(t *testing.T, root string) string {
			p := filepath.Join(root, "f")
			os.WriteFile(p, nil, 0o644)
			return p
		}, "root not readable: not a directory", nil},
		{"masters missing", func(t *testing.T, root string) string { return root },
			"masters/ not readable: no such directory", fs.ErrNotExist},
		{"masters is a file", func(t *testing.T, root string) string {
			os.WriteFile(filepath.Join(root, "masters"), []byte("x"), 0o644)
			return root
		}, "masters/ not readable: not a directory", nil},
		{"masters dangling symlink", func(t *testing.T, root string) string {
			os.Symlink(filepath.Join(root, "gone"), filepath.Join(root, "masters"))
			return root
		}, "masters/ not readable: no such directory", fs.ErrNotExist},
		{"masters symlink loop", func(t *testing.T, root string) string {
			os.Symlink(filepath.Join(root, "masters"), filepath.Join(root, "masters"))
			return root
		}, "masters/ not readable: too many levels of symbolic links", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := tt.setup(t, t.TempDir())
			r, err := New(root).Scan()
			if err == nil {
				t.Fatal("no error")
			}
			want := "imaging repository " + root + ": " + tt.want
			if err.Error() != want {
				t.Errorf("error %q\nwant  %q", err, want)
			}
			var se *ScanError
			if !errors.As(err, &se) || se.Err == nil {
				t.Errorf("error %T does not wrap its cause", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error does not wrap %v", tt.is)
			}
			if r.Root != root || r.ImagesTotal != 0 {
				t.Errorf("repository on error: %+v", r)
			}
		})
	}
}

func TestRecoversAfterError(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	if _, err := s.Scan(); err == nil {
		t.Fatal("no error without masters/")
	}
	mkImage(t, root, v1, nil, time.Hour)
	r := scan(t, s)
	if r.ImagesTotal != 1 || r.Generation != 1 {
		t.Errorf("after masters/ appeared: total %d generation %d", r.ImagesTotal, r.Generation)
	}
}

func TestClientsAndUUIDCache(t *testing.T) {
	img := czFiles(map[string]string{"davosInfo.json": `{"title":"x","size":7}`})
	tests := []struct {
		name        string
		computers   []string // "-" : computers/ is a file
		cache       string   // "-" : no file, "dir": a directory
		clients     int
		withImages  int
		problemPart string
	}{
		{"missing computers and cache", nil, "-", 0, 0, ""},
		{"missing uuid-cache", []string{"UUID1", "UUID2"}, "-", 2, 0, ""},
		{"match", []string{"UUID1", "UUID2", "UUID3"}, "; c\n[UUID1]\nmac = 52:54:00:A1:B2:C3\n[UUID2]\nmac=52:54:00:00:00:09\n", 3, 1, ""},
		{"match is case-insensitive on uuid", []string{"uuid1"}, "[UUID1]\nmac=52-54-00-a1-b2-c3\n", 1, 1, ""},
		{"unregistered computer in cache", []string{"UUID2"}, "[UUID1]\nmac=52:54:00:a1:b2:c3\n", 1, 0, ""},
		{"bad lines skipped", []string{"UUID1"}, "garbage\n[UUID1\nmac=52:54:00:a1:b2:c3\n[UUID1]\n  # x\nmac\n= 1\nmac = zz\n   mac   =   525400a1b2c3  \n", 1, 1, ""},
		{"computers is a file", []string{"-"}, "-", 0, 0, "computers/ not readable: not a directory"},
		{"uuid-cache is a directory", []string{"UUID1"}, "dir", 1, 0, "uuid-cache.txt not readable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			mkImage(t, root, v1, img, time.Hour)
			for _, c := range tt.computers {
				if c == "-" {
					os.WriteFile(filepath.Join(root, "computers"), nil, 0o644)
					continue
				}
				os.MkdirAll(filepath.Join(root, "computers", c), 0o755)
				os.WriteFile(filepath.Join(root, "computers", c, "hostname"), []byte(c), 0o644)
			}
			if len(tt.computers) > 0 && tt.computers[0] != "-" {
				os.WriteFile(filepath.Join(root, "computers", "stray-file"), nil, 0o644)
			}
			switch tt.cache {
			case "-":
			case "dir":
				os.Mkdir(filepath.Join(root, "uuid-cache.txt"), 0o755)
			default:
				os.WriteFile(filepath.Join(root, "uuid-cache.txt"), []byte(tt.cache), 0o644)
			}
			s := New(root)
			r := scan(t, s)
			if r.Clients != tt.clients || r.ClientsWithImages != tt.withImages {
				t.Errorf("clients %d with images %d, want %d %d", r.Clients, r.ClientsWithImages, tt.clients, tt.withImages)
			}
			p := strings.Join(s.Problems(), "; ")
			if tt.problemPart == "" && p != "" || !strings.Contains(p, tt.problemPart) {
				t.Errorf("problems %q, want %q", p, tt.problemPart)
			}
			r2 := scan(t, s)
			if r2.Clients != r.Clients || r2.ClientsWithImages != r.ClientsWithImages {
				t.Error("rescan changed the client figures")
			}
		})
	}
}

func TestMACFromUUID(t *testing.T) {
	tests := map[string]string{
		v1:                                      "52:54:00:a1:b2:c3",
		v1U:                                     "52:54:00:a1:b2:c4",
		v4:                                      "",
		"":                                      "",
		"6ecc2a6c-e8ed-11f1-800c-525400a1b2c":   "",
		"6ecc2a6c-e8ed-11f1-800c-525400a1b2cx":  "",
		"6ecc2a6ce8ed-11f1-800c-525400a1b2c3-":  "",
		"6ecc2a6c-e8ed-11f1-800c-525400a1b2c3 ": "",
		"UUID12":                                "",
	}
	for in, want := range tests {
		if got := macFromUUIDv1(in); got != want {
			t.Errorf("macFromUUIDv1(%q) = %q, want %q", in, got, want)
		}
	}
	mac := "aa:bb:cc:00:11:22"
	if got := macFromUUIDv1(repotest.UUIDv1(time.Now(), 7, mac)); got != mac {
		t.Errorf("repotest UUID gives mac %q, want %q", got, mac)
	}
}

func TestParsers(t *testing.T) {
	if n, ok := parseDuK([]byte("123456\t/var/lib/x\n")); !ok || n != 123456 {
		t.Errorf("parseDuK = %d %v", n, ok)
	}
	for _, bad := range []string{"", "x 1", "-5 /x", "99999999999999999999 /x"} {
		if _, ok := parseDuK([]byte(bad)); ok {
			t.Errorf("parseDuK(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{"title  A b \ndesc c": "A b", "desc d\nTITLE=Z": "Z", "titles x\n": "", "title": ""} {
		if got := legacyTitle([]byte(in)); got != want {
			t.Errorf("legacyTitle(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"Total Time: 0 errors\nok": "", "  Error: bad\n": "Error: bad", "x partclone fail y": "x partclone fail y"} {
		if got := logErrorLine([]byte(in)); got != want {
			t.Errorf("logErrorLine(%q) = %q, want %q", in, got, want)
		}
	}
	if got := clean("a\x00b\xffc\n"); got != "a b\uFFFDc" {
		t.Errorf("clean = %q", got)
	}
}

// FuzzUUIDCache: the parser never panics and only returns normalised entries.
func FuzzUUIDCache(f *testing.F) {
	f.Add("[UUID1]\nmac = aa:bb:cc:dd:ee:ff\nshortname = pc1\nupdated=1700000000\n")
	f.Add("; comment\n# other\n\n[ UUID2 ]\nMAC: AA-BB-CC-DD-EE-FF\n")
	f.Add("[\nmac=\n=\n[]\nmac=aabbccddeeff")
	f.Add("\xff\xfe[x]\r\nmac='00:11:22:33:44:55'\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		for k, mac := range parseUUIDCache([]byte(s)) {
			if k == "" || k != strings.ToLower(k) {
				t.Fatalf("bad key %q", k)
			}
			if normalizeMAC(mac) != mac || len(mac) != 17 {
				t.Fatalf("mac %q not normalised", mac)
			}
		}
	})
}

// FuzzDavosInfo: the decoder never panics and what it yields passes wire
// validation once cleaned.
func FuzzDavosInfo(f *testing.F) {
	f.Add(`{"title": "Image of pc at 2024-01-01 10:00:00", "description": "", "size": 1234, "has_error": true}`)
	f.Add(`{"title": 1, "size": -1, "has_error": "false"}`)
	f.Add(`{"size": 1e300}`)
	f.Add(`[] `)
	f.Add(`{"title": "\u0000\ud800"}`)
	f.Fuzz(func(t *testing.T, s string) {
		info, err := decodeDavosInfo([]byte(s))
		if err != nil {
			return
		}
		im := wire.Image{UUID: "u", Title: clean(info.Title), State: wire.ImageComplete, Size: info.Size}
		rep := wire.Report{Figures: wire.Figures{Repository: &wire.Repository{ImagesTotal: 1, ImagesComplete: 1, Images: []wire.Image{im}}}}
		if err := rep.Validate(); err != nil {
			t.Fatalf("title %q: %v", info.Title, err)
		}
	})
}

func benchRepo(b *testing.B) string {
	root := b.TempDir()
	_, err := repotest.Generate(root, repotest.Options{Complete: 9400, Legacy: 200, Failed: 300, Invalid: 90, InProgress: 10,
		Clients: 3000, ClientsWithImages: 2000, WithUUIDCache: true})
	if err != nil {
		b.Fatal(err)
	}
	return root
}

func BenchmarkScanUnchanged10k(b *testing.B) {
	root := benchRepo(b)
	s := New(root)
	if _, err := s.Scan(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := s.Scan(); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

func BenchmarkScanCold10k(b *testing.B) {
	root := benchRepo(b)
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := New(root).Scan(); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

// clients_with_images counts a registered client only when one of its
// images is complete: that is what can be restored.
func TestClientsWithImagesCountsCompleteOnly(t *testing.T) {
	complete := czFiles(map[string]string{"davosInfo.json": `{"title":"x","size":7}`})
	tests := []struct {
		name  string
		files []map[string]string // images of the client, nil: empty directory
		age   time.Duration
		want  int
	}{
		{"complete", []map[string]string{complete}, time.Hour, 1},
		{"empty directory only", []map[string]string{nil}, time.Hour, 0},
		{"failed only", []map[string]string{czFiles(map[string]string{"davosInfo.json": `{"size":7}`, "sda1.ext4-ptcl-img.gz.aa": ""})}, time.Hour, 0},
		{"invalid only", []map[string]string{{"davosInfo.json": `{"title":`}}, time.Hour, 0},
		{"in progress only", []map[string]string{czFiles(nil)}, time.Minute, 0},
		{"failed and complete", []map[string]string{{"README": "x"}, complete}, time.Hour, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for i, f := range tt.files {
				name := repotest.UUIDv1(time.Now().Add(time.Duration(i)*time.Second), uint16(i), "52:54:00:a1:b2:c3")
				mkImage(t, root, name, f, tt.age)
			}
			os.MkdirAll(filepath.Join(root, "computers", "UUID1"), 0o755)
			os.WriteFile(filepath.Join(root, "uuid-cache.txt"), []byte("[UUID1]\nmac=52:54:00:a1:b2:c3\n"), 0o644)
			s := New(root)
			if r := scan(t, s); r.ClientsWithImages != tt.want || r.Clients != 1 {
				t.Fatalf("clients %d with images %d, want 1 and %d (%+v)", r.Clients, r.ClientsWithImages, tt.want, r.Images)
			}
		})
	}
}

// Update reads only what it is told, the racy images, and the hot ones on
// the hot cadence; its figures match a full scan's.
func TestUpdate(t *testing.T) {
	root := t.TempDir()
	exp, err := repotest.Generate(root, repotest.Options{Complete: 20, Legacy: 2, Failed: 4, Invalid: 3, InProgress: 2, Clients: 6, ClientsWithImages: 4, WithUUIDCache: true})
	if err != nil {
		t.Fatal(err)
	}
	s := New(root)
	if _, err := s.Rescan(); err != nil {
		t.Fatal(err)
	}
	step := func(what string, c Changes, wantReads int) wire.Repository {
		t.Helper()
		before := s.reads
		r, err := s.Update(c)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := s.reads - before; got != wantReads {
			t.Errorf("%s: %d reads, want %d", what, got, wantReads)
		}
		// The same figures as a scan from scratch.
		full, err := New(root).Rescan()
		if err != nil {
			t.Fatal(err)
		}
		full.Generation = r.Generation
		if !reflect.DeepEqual(full, r) {
			t.Errorf("%s: update %+v\nfull scan %+v", what, r, full)
		}
		return r
	}
	r := step("nothing changed", Changes{}, 0)
	if err := exp.Check(r); err != nil {
		t.Fatal(err)
	}
	// The two in-progress images (written 2 min ago) and the newest complete
	// one (37 min ago) are hot.
	step("hot cadence", Changes{Hot: true}, 3)

	added := repotest.UUIDv1(time.Now(), 9, repotest.ClientMAC(5))
	mkImage(t, root, added, czFiles(map[string]string{"davosInfo.json": `{"title":"n","size":3}`}), time.Hour)
	r = step("image added", Changes{Images: []string{added, "no-such-image"}}, 1)
	if r.ImagesComplete != exp.ImagesComplete+1 {
		t.Errorf("complete %d after adding one", r.ImagesComplete)
	}
	os.RemoveAll(filepath.Join(root, "masters", added))
	step("image removed", Changes{Images: []string{added}}, 0)

	os.MkdirAll(filepath.Join(root, "computers", "UUID99"), 0o755)
	os.Chtimes(filepath.Join(root, "computers"), time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
	if r = step("client added", Changes{Clients: true}, 0); r.Clients != exp.Clients+1 {
		t.Errorf("clients %d after adding one", r.Clients)
	}

	if err := os.RemoveAll(filepath.Join(root, "masters")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(Changes{}); err == nil || !strings.Contains(err.Error(), "masters/ not readable: no such directory") {
		t.Errorf("missing masters/: %v", err)
	}
}

// The record's size is what the memory figures in docs/BENCHMARKS.md
// assume: a field added without care grows every image's cost.
func TestRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(record{}); n != 72 {
		t.Errorf("record is %d bytes, want 72", n)
	}
}

// A scan that read or dropped many images packs names and titles into one
// string; the list is the same as a fresh scanner's before and after.
func TestCompactKeepsTheList(t *testing.T) {
	root := t.TempDir()
	if _, err := repotest.Generate(root, repotest.Options{Complete: 150, Failed: 10, Invalid: 5, Legacy: 5, Clients: 20, ClientsWithImages: 10, WithUUIDCache: true}); err != nil {
		t.Fatal(err)
	}
	packed := func(s *Scanner) bool {
		for i := 1; i < len(s.recs); i++ {
			prev, cur := s.recs[i-1].text, s.recs[i].text
			if unsafe.StringData(cur) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(prev)), len(prev))) {
				return false
			}
		}
		return true
	}
	same := func(what string, s *Scanner) {
		t.Helper()
		got, want := scan(t, s), scan(t, New(root))
		got.Generation = want.Generation
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the list differs from a fresh scan's:\n%+v\n%+v", what, got.Images, want.Images)
		}
	}
	s := New(root)
	first := scan(t, s)
	if s.loose != 0 || !packed(s) {
		t.Fatalf("not packed after a cold scan (%d loose)", s.loose)
	}
	same("cold scan", s)

	// A few changes: read, not packed again.
	var changed []string
	for i := range 3 {
		name := repotest.UUIDv1(time.Now().Add(-2*time.Hour), uint16(i), repotest.ClientMAC(i))
		mkImage(t, root, name, czFiles(map[string]string{"davosInfo.json": fmt.Sprintf(`{"title":"few %d","size":3}`, i)}), time.Hour)
		changed = append(changed, name)
	}
	if _, err := s.Update(Changes{Images: changed}); err != nil {
		t.Fatal(err)
	}
	if s.loose != 3 || packed(s) {
		t.Errorf("3 images read: %d loose, packed %v; want 3 loose, not packed", s.loose, packed(s))
	}
	same("three added", s)

	// Many: 100 added with titles, 40 removed: packed again.
	changed = changed[:0]
	for i := range 100 {
		name := repotest.UUIDv1(time.Now().Add(-3*time.Hour), uint16(100+i), repotest.ClientMAC(i))
		mkImage(t, root, name, czFiles(map[string]string{"davosInfo.json": fmt.Sprintf(`{"title":"Image n° %d","size":%d}`, i, i+1)}), time.Hour)
		changed = append(changed, name)
	}
	for _, im := range first.Images[:40] {
		if err := os.RemoveAll(filepath.Join(root, "masters", im.UUID)); err != nil {
			t.Fatal(err)
		}
		changed = append(changed, im.UUID)
	}
	if _, err := s.Update(Changes{Images: changed}); err != nil {
		t.Fatal(err)
	}
	if s.loose != 0 || !packed(s) {
		t.Errorf("after 140 changes: %d loose, packed %v", s.loose, packed(s))
	}
	same("100 added, 40 removed", s)
}
