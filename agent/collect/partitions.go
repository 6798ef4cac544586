package collect

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v3/disk"

	"imagingstatus/wire"
)

// statfsTimeout bounds the size reads of one Partitions call even when the
// caller's context has no deadline: statfs on a dead NFS server blocks.
const statfsTimeout = 3 * time.Second

// pseudoFS are file system types with no storage an operator cares about.
var pseudoFS = map[string]bool{
	"tmpfs": true, "devtmpfs": true, "ramfs": true, "rootfs": true,
	"overlay": true, "overlayfs": true, "aufs": true, "squashfs": true,
	"proc": true, "sysfs": true, "devpts": true, "mqueue": true,
	"debugfs": true, "tracefs": true, "securityfs": true, "pstore": true,
	"bpf": true, "autofs": true, "fusectl": true, "configfs": true,
	"binfmt_misc": true, "hugetlbfs": true, "nsfs": true, "rpc_pipefs": true,
	"efivarfs": true, "selinuxfs": true, "nfsd": true, "binder": true,
	"binderfs": true, "devfs": true, "fdescfs": true, "procfs": true,
	"linprocfs": true, "linsysfs": true,
	// FUSE helpers of desktops and containers, not storage.
	"fuse.portal": true, "fuse.xdg-document-portal": true, "fuse.gvfsd-fuse": true,
	"fuse.gvfs-fuse-daemon": true, "fuse.lxcfs": true, "fuse.snapfuse": true,
}

// isPseudo says whether a mount is left out of the report. Remote file
// systems (nfs, cifs) and other FUSE mounts (sshfs, ntfs-3g) are kept: an
// imaging repository may live on them.
func isPseudo(fstype, device, mountpoint string) bool {
	if pseudoFS[fstype] || strings.HasPrefix(fstype, "cgroup") {
		return true
	}
	// A mount with no backing device; gopsutil's own filter does the same.
	if device == "" || device == "none" {
		return true
	}
	// Snap packages (loop devices) and kernel interfaces, whatever their type.
	for _, dir := range []string{"/snap", "/var/lib/snapd", "/proc", "/sys", "/dev"} {
		if within(dir, mountpoint) {
			return true
		}
	}
	return false
}

// within says whether path is dir or below it, by whole path components.
func within(dir, path string) bool {
	if dir == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// mount is one line of the mount table, in table order.
type mount struct {
	Device, Mountpoint, FSType string
}

// holder returns the index of the mount that holds path: the longest mount
// point containing it, the last one on a tie because a later mount on the
// same point hides the earlier ones. -1 when none does or path is "".
func holder(mounts []mount, path string) int {
	best := -1
	if path == "" {
		return best
	}
	for i, m := range mounts {
		if within(m.Mountpoint, path) && (best < 0 || len(m.Mountpoint) >= len(mounts[best].Mountpoint)) {
			best = i
		}
	}
	return best
}

// selectPartitions picks the partitions to report from the mount table,
// without sizes: real file systems, each device once (its shortest mount
// point, bind mounts and btrfs subvolumes share the device's figures), the
// one holding mainPath marked Main and first, the others by mount point.
//
// The mount holding mainPath is always kept, even when it is a pseudo file
// system (the repository on an overlay root in a container, or on a tmpfs):
// the report must show the space the repository has.
func selectPartitions(mounts []mount, mainPath string) []wire.Partition {
	h := holder(mounts, mainPath)
	kept := make(map[string]int) // key → index into out
	var out []wire.Partition
	for i, m := range mounts {
		if i != h && isPseudo(m.FSType, m.Device, m.Mountpoint) {
			continue
		}
		key := "dev:" + m.Device
		if i == h && isPseudo(m.FSType, m.Device, m.Mountpoint) {
			// Pseudo devices ("overlay", "tmpfs") are names, not devices.
			key = "mnt:" + m.Mountpoint
		}
		p := wire.Partition{Device: m.Device, Mountpoint: m.Mountpoint, FSType: m.FSType}
		j, dup := kept[key]
		if !dup {
			kept[key] = len(out)
			out = append(out, p)
			j = len(out) - 1
		} else if shorter(m.Mountpoint, out[j].Mountpoint) {
			p.Main = out[j].Main
			out[j] = p
		}
		if i == h {
			out[j].Main = true
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Main != out[b].Main {
			return out[a].Main
		}
		return out[a].Mountpoint < out[b].Mountpoint
	})
	return out
}

func shorter(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// resolvePath returns mainPath absolute with symlinks resolved, or the
// nearest existing parent's resolution when it does not exist (yet).
func resolvePath(mainPath string) string {
	if mainPath == "" {
		return ""
	}
	p, err := filepath.Abs(mainPath)
	if err != nil {
		return ""
	}
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

// Partitions returns every real mounted partition with its size; see
// selectPartitions for which ones. The partition holding mainPath is marked
// Main and comes first.
//
// When some partition's size cannot be read (permission, hung network
// mount), the others are still returned together with an error naming it:
// a non-nil error with a non-empty slice is a partial result.
func Partitions(ctx context.Context, mainPath string) ([]wire.Partition, error) {
	// all=true: gopsutil's own filter (types marked nodev in
	// /proc/filesystems) would drop NFS and the overlay root we may need.
	stats, err := disk.PartitionsWithContext(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("partitions: reading the mount table: %w", err)
	}
	mounts := make([]mount, len(stats))
	for i, s := range stats {
		mounts[i] = mount{Device: s.Device, Mountpoint: filepath.Clean(s.Mountpoint), FSType: s.Fstype}
	}
	sel := selectPartitions(mounts, resolvePath(mainPath))

	mps := make([]string, len(sel))
	for i, p := range sel {
		mps[i] = p.Mountpoint
	}
	usages := statAll(ctx, mps)

	out := sel[:0]
	var errs []error
	for i, p := range sel {
		u := usages[i]
		if u.err != nil {
			// A mount point in PID 1's namespace we cannot see is not a failure.
			if !errors.Is(u.err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("partition %s: size: %w", p.Mountpoint, u.err))
			}
			continue
		}
		if u.total == 0 {
			continue // zero-size: a pseudo file system we did not know
		}
		p.Total, p.Used, p.Free = u.total, u.used, u.free
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

type usage struct {
	total, used, free uint64
	err               error
}

// busy holds the mount points whose statfs has not returned (a dead NFS
// server): they are skipped until it does, so a hung mount costs one blocked
// goroutine in all, not one more per tick.
var busy sync.Map

var errBusy = errors.New("an earlier size read is still blocked (unresponsive file system?)")

// statAll reads the sizes sequentially in one goroutine and gives up at the
// deadline, so a hung mount point cannot stall the report.
func statAll(ctx context.Context, mps []string) []usage {
	ctx, cancel := context.WithTimeout(ctx, statfsTimeout)
	defer cancel()
	type result struct {
		i int
		u usage
	}
	ch := make(chan result, len(mps)) // buffered: the worker never blocks on send
	go func() {
		for i, mp := range mps {
			if err := ctx.Err(); err != nil {
				ch <- result{i, usage{err: err}}
				continue
			}
			if _, loaded := busy.LoadOrStore(mp, struct{}{}); loaded {
				ch <- result{i, usage{err: errBusy}}
				continue
			}
			s, err := disk.UsageWithContext(ctx, mp)
			busy.Delete(mp)
			if err != nil {
				ch <- result{i, usage{err: err}}
				continue
			}
			ch <- result{i, usage{total: s.Total, used: s.Used, free: s.Free}}
		}
	}()
	out := make([]usage, len(mps))
	got := make([]bool, len(mps))
	for n := 0; n < len(mps); n++ {
		select {
		case r := <-ch:
			out[r.i], got[r.i] = r.u, true
		case <-ctx.Done():
			for i := range out {
				if !got[i] {
					out[i].err = fmt.Errorf("no answer: %w", ctx.Err())
				}
			}
			return out
		}
	}
	return out
}
