// Package sample generates Pulse 2 / Medulla imaging repository trees, for
// the demo (cmd/imaging-demo), the benchmarks (bench) and the tests, and
// says what a scan of them must find. It is ordinary product code, so the
// shipped demo does not depend on a test-fixture package.
//
// Images have version-1 UUIDs whose node field is the MAC of the client they
// were taken from; chunk files hold a few bytes while davosInfo.json declares
// realistic sizes in GB, so a 10,000-image tree costs little disk.
package sample

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"imagingstatus/wire"
)

// Options says what to generate. Every count may be zero.
type Options struct {
	Complete   int // finished current-format images; every third has has_error written inverted (true)
	InProgress int // being written: current format without davosInfo.json, or legacy without size.txt; recent mtimes
	Failed     int // aborted (has_error, no chunks), Clonezilla log error, abandoned, unfinished legacy
	Invalid    int // empty directory, unknown contents, broken davosInfo.json
	Legacy     int // finished legacy images (counted as complete)

	Clients int // directories in computers/
	// ClientsWithImages is how many registered clients images are taken
	// from (capped by Clients and by the number of images with a UUID
	// name); the other images come from unregistered machines. The first
	// images generated (complete ones first) go to these clients, so
	// Expected.ClientsWithImages counts those of them that got a complete
	// image: only a complete image can be restored.
	ClientsWithImages int
	// WithUUIDCache writes uuid-cache.txt (without it no MAC matches a client).
	WithUUIDCache bool

	Strays    int       // non-directory entries in masters/ (files, a dangling symlink)
	ImageSize uint64    // declared size of each complete image; 0: 8 to 64 GB, varying
	Now       time.Time // reference for mtimes; zero: time.Now()
}

// Expected is what a scan of the generated tree must report.
type Expected struct {
	Root              string
	ImagesTotal       int
	ImagesComplete    int
	ImagesInProgress  int
	ImagesFailed      int
	ImagesInvalid     int
	BytesComplete     uint64
	Clients           int
	ClientsWithImages int
	// States maps each image directory name to its expected state.
	States map[string]string
	// MACs maps each image directory name to its expected source MAC ("" when none).
	MACs map[string]string
}

// Check compares a scan's counts with the expectation.
func (e Expected) Check(r wire.Repository) error {
	var diffs []string
	cmp := func(name string, got, want any) {
		if got != want {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", name, got, want))
		}
	}
	cmp("root", r.Root, e.Root)
	cmp("images_total", r.ImagesTotal, e.ImagesTotal)
	cmp("images_complete", r.ImagesComplete, e.ImagesComplete)
	cmp("images_in_progress", r.ImagesInProgress, e.ImagesInProgress)
	cmp("images_failed", r.ImagesFailed, e.ImagesFailed)
	cmp("images_invalid", r.ImagesInvalid, e.ImagesInvalid)
	cmp("bytes_complete", r.BytesComplete, e.BytesComplete)
	cmp("clients", r.Clients, e.Clients)
	cmp("clients_with_images", r.ClientsWithImages, e.ClientsWithImages)
	if len(diffs) > 0 {
		return fmt.Errorf("repository scan: %s", strings.Join(diffs, "; "))
	}
	return nil
}

// ClientMAC is the MAC of registered client n (0-based).
func ClientMAC(n int) string {
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", byte(n>>16), byte(n>>8), byte(n))
}

// ComputerUUID is the Medulla computer UUID of registered client n.
func ComputerUUID(n int) string { return fmt.Sprintf("UUID%d", n+1) }

func strangerMAC(n int) string {
	return fmt.Sprintf("02:00:5e:%02x:%02x:%02x", byte(n>>16), byte(n>>8), byte(n))
}

// UUIDv1 builds a version-1 UUID for time t, clock sequence seq and node mac.
func UUIDv1(t time.Time, seq uint16, mac string) string {
	ts := uint64(t.UnixNano()/100) + 0x01B21DD213814000 // 100 ns since 1582-10-15
	var node [8]byte
	var b [6]byte
	if _, err := fmt.Sscanf(mac, "%02x:%02x:%02x:%02x:%02x:%02x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]); err == nil {
		copy(node[2:], b[:])
	}
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x",
		uint32(ts), uint16(ts>>32), uint16(ts>>48)&0x0fff|0x1000, seq&0x3fff|0x8000, binary.BigEndian.Uint64(node[:]))
}

type gen struct {
	root, masters string
	o             Options
	now           time.Time
	exp           Expected
	n             int // images with a UUID name so far (MAC assignment)
	cwi           int
	client        int          // registered client of the last uuidName, -1 for none
	restorable    map[int]bool // registered clients with a complete image
	jobs          []job
}

type job struct {
	name  string
	at    time.Time
	files map[string]string
}

// write creates the queued image directories, a few at a time (creating
// 70,000 small files is system-call bound).
func (g *gen) write() error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan job)
	)
	for range max(4, 2*runtime.NumCPU()) {
		wg.Go(func() {
			for j := range next {
				if err := writeImage(filepath.Join(g.masters, j.name), j.at, j.files); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, j := range g.jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	return first
}

// writeImage writes files, then sets every mtime (directory last) to at.
func writeImage(dir string, at time.Time, files map[string]string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	for fn, content := range files {
		p := filepath.Join(dir, fn)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(p, at, at); err != nil {
			return err
		}
	}
	return os.Chtimes(dir, at, at)
}

// Generate writes a repository tree under root (created if needed; existing
// contents are left alone, so use an empty directory).
func Generate(root string, o Options) (Expected, error) {
	g := &gen{root: filepath.Clean(root), o: o, now: o.Now}
	if g.now.IsZero() {
		g.now = time.Now()
	}
	g.masters = filepath.Join(g.root, "masters")
	g.exp = Expected{Root: g.root, States: map[string]string{}, MACs: map[string]string{}}
	g.cwi = min(max(o.ClientsWithImages, 0), max(o.Clients, 0))
	if err := g.run(); err != nil {
		return Expected{}, err
	}
	return g.exp, nil
}

func (g *gen) run() error {
	for _, d := range []string{"masters", "computers", "bootloader", "bootmenus", "davos", "postinst", "isos", "archives"} {
		if err := os.MkdirAll(filepath.Join(g.root, d), 0o755); err != nil {
			return err
		}
	}
	if err := g.clients(); err != nil {
		return err
	}
	type kind struct {
		count int
		make  func(i int) error
	}
	for _, k := range []kind{
		{g.o.Complete, g.complete},
		{g.o.Legacy, g.legacy},
		{g.o.Failed, g.failed},
		{g.o.InProgress, g.inProgress},
		{g.o.Invalid, g.invalid},
	} {
		for i := 0; i < k.count; i++ {
			if err := k.make(i); err != nil {
				return err
			}
		}
	}
	if err := g.write(); err != nil {
		return err
	}
	for i := 0; i < g.o.Strays; i++ {
		var err error
		if i%2 == 0 {
			err = os.WriteFile(filepath.Join(g.masters, fmt.Sprintf("stray-%d.txt", i)), []byte("not an image\n"), 0o644)
		} else {
			err = os.Symlink(filepath.Join(g.root, "nowhere", fmt.Sprint(i)), filepath.Join(g.masters, fmt.Sprintf("dangling-%d", i)))
		}
		if err != nil {
			return err
		}
	}
	// Without uuid-cache.txt no MAC names a client.
	if g.o.WithUUIDCache {
		g.exp.ClientsWithImages = len(g.restorable)
	}
	return nil
}

func (g *gen) clients() error {
	g.exp.Clients = max(g.o.Clients, 0)
	var ini strings.Builder
	ini.WriteString("; uuid-cache.txt written by agent/repo/sample\n\n")
	for n := 0; n < g.o.Clients; n++ {
		dir := filepath.Join(g.root, "computers", ComputerUUID(n))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		host := fmt.Sprintf("pc-%04d", n+1)
		if err := os.WriteFile(filepath.Join(dir, "hostname"), []byte(host+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "exclude"), nil, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&ini, "[%s]\nmac = %s\nshortname = %s\nfullname = %s.example.lan\nentity = UUID1\nupdated = %d\n\n",
			ComputerUUID(n), ClientMAC(n), host, host, g.now.Add(-time.Duration(n)*time.Minute).Unix())
	}
	if !g.o.WithUUIDCache {
		return nil
	}
	// A computer no longer registered whose MAC did take images: must not count.
	fmt.Fprintf(&ini, "# removed from computers/\n[UUID999999]\nmac=%s\nshortname=gone\nthis line is not ini\n", strangerMAC(0))
	p := filepath.Join(g.root, "uuid-cache.txt")
	if err := os.WriteFile(p, []byte(ini.String()), 0o644); err != nil {
		return err
	}
	old := g.now.Add(-time.Hour)
	return os.Chtimes(p, old, old)
}

// image queues one image directory; write creates them.
func (g *gen) image(name string, at time.Time, state string, files map[string]string) error {
	g.jobs = append(g.jobs, job{name, at, files})
	g.exp.ImagesTotal++
	switch state {
	case wire.ImageComplete:
		g.exp.ImagesComplete++
	case wire.ImageInProgress:
		g.exp.ImagesInProgress++
	case wire.ImageFailed:
		g.exp.ImagesFailed++
	case wire.ImageInvalid:
		g.exp.ImagesInvalid++
	}
	g.exp.States[name] = state
	return nil
}

// uuidName gives the next image a v1 UUID whose node is a client MAC: the
// first images cover every client that must have one, later ones alternate
// between those clients and unregistered machines.
func (g *gen) uuidName(at time.Time) (string, string) {
	k := g.n
	g.n++
	var mac string
	switch {
	case g.cwi > 0 && (k < g.cwi || k%2 == 0):
		g.client = k % g.cwi
		mac = ClientMAC(g.client)
	default:
		g.client = -1
		mac = strangerMAC(k % 7)
	}
	name := UUIDv1(at, uint16(k), mac)
	g.exp.MACs[name] = mac
	return name, mac
}

// completeImage records that the image just named by uuidName is complete.
func (g *gen) completeImage() {
	if g.client < 0 {
		return
	}
	if g.restorable == nil {
		g.restorable = make(map[int]bool)
	}
	g.restorable[g.client] = true
}

func (g *gen) size(i int) uint64 {
	if g.o.ImageSize > 0 {
		return g.o.ImageSize
	}
	return uint64(8+(i*7)%57) << 30
}

func clonezillaFiles(log string) map[string]string {
	return map[string]string{
		"disk":                     "sda\n",
		"parts":                    "sda1 sda2\n",
		"sda-pt.sf":                "label: dos\ndevice: /dev/sda\nunit: sectors\n",
		"clonezilla-img":           log,
		"sda1.ntfs-ptcl-img.gz.aa": "\x1f\x8b\x08\x00ptcl",
		"sda2.ntfs-ptcl-img.gz.aa": "\x1f\x8b\x08\x00ptcl",
	}
}

const okLog = "Starting saving /dev/sda1 as /home/partimag/img/sda1.XXX...\nPartclone successfully cloned the device (/dev/sda1) to the image (-)\nTotal Time: 00:04:12, 0 errors\n"

func davosJSON(title string, size uint64, hasError bool) string {
	return fmt.Sprintf(`{"title": %q, "description": "", "size": %d, "has_error": %t}`, title, size, hasError)
}

func (g *gen) complete(i int) error {
	at := g.now.Add(-time.Duration(i+1) * 37 * time.Minute)
	name, _ := g.uuidName(at)
	g.completeImage()
	sz := g.size(i)
	f := clonezillaFiles(okLog)
	f["davosInfo.json"] = davosJSON(fmt.Sprintf("Image of pc-%04d at %s", i%1000, at.Format("2006-01-02 15:04:05")), sz, i%3 == 0)
	g.exp.BytesComplete += sz
	return g.image(name, at, wire.ImageComplete, f)
}

func (g *gen) legacy(i int) error {
	at := g.now.Add(-time.Duration(i+1)*24*time.Hour - 400*24*time.Hour)
	name, _ := g.uuidName(at)
	g.completeImage()
	kib := uint64(4_000_000 + i*1024)
	g.exp.BytesComplete += kib * 1024
	return g.image(name, at, wire.ImageComplete, map[string]string{
		"CONF":         "part1 ntfs\n",
		"conf.txt":     fmt.Sprintf("title Legacy master %d\ndesc Windows XP SP3\n", i),
		"size.txt":     fmt.Sprintf("%d\t/var/lib/pulse2/imaging/masters/%s\n", kib, name),
		"log.txt":      "backup started\nbackup done\n",
		"progress.txt": "100\n",
	})
}

func (g *gen) failed(i int) error {
	at := g.now.Add(-time.Duration(i+1)*3*time.Hour - 48*time.Hour)
	name, _ := g.uuidName(at)
	var f map[string]string
	switch i % 4 {
	case 0: // aborted: davosInfo.json written with has_error, no partition image
		f = map[string]string{"disk": "sda\n", "parts": "sda1\n", "clonezilla-img": "Starting saving /dev/sda1\n",
			"davosInfo.json": davosJSON("Image of pc-aborted", 4096, true)}
	case 1: // Clonezilla reports an error, has_error says false
		f = clonezillaFiles(okLog + "Failed to save partition /dev/sda2.\n")
		f["davosInfo.json"] = davosJSON("Image with a bad disk", 20<<30, false)
	case 2: // abandoned half-written image
		f = clonezillaFiles(okLog)
		delete(f, "sda2.ntfs-ptcl-img.gz.aa")
	default: // unfinished legacy image, long ago
		f = map[string]string{"CONF": "part1\n", "conf.txt": "title Old one\n", "progress.txt": "37\n"}
	}
	return g.image(name, at, wire.ImageFailed, f)
}

func (g *gen) inProgress(i int) error {
	at := g.now.Add(-2 * time.Minute)
	name, _ := g.uuidName(at.Add(time.Duration(i) * time.Millisecond))
	var f map[string]string
	if i%2 == 0 {
		f = map[string]string{"disk": "sda\n", "parts": "sda1 sda2\n", "clonezilla-img": "Starting saving /dev/sda1\n",
			"sda1.ntfs-ptcl-img.gz.aa": "\x1f\x8b"}
	} else {
		f = map[string]string{"CONF": "part1\n", "conf.txt": "title Being saved\n", "progress.txt": "42\n"}
	}
	return g.image(name, at, wire.ImageInProgress, f)
}

func (g *gen) invalid(i int) error {
	at := g.now.Add(-time.Duration(i+1) * 5 * time.Hour)
	switch i % 3 {
	case 0:
		name, _ := g.uuidName(at)
		return g.image(name, at, wire.ImageInvalid, nil)
	case 1:
		name := fmt.Sprintf("not-an-image-%d", i)
		g.exp.MACs[name] = ""
		return g.image(name, at, wire.ImageInvalid, map[string]string{"README.txt": "copied here by hand\n"})
	default:
		name, _ := g.uuidName(at)
		f := clonezillaFiles(okLog)
		f["davosInfo.json"] = `{"title": "Image of`
		return g.image(name, at, wire.ImageInvalid, f)
	}
}
