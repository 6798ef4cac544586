package collect

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"imagingstatus/wire"
)

func TestIsPseudo(t *testing.T) {
	tests := []struct {
		fstype, device, mountpoint string
		want                       bool
	}{
		{"ext4", "/dev/sda1", "/", false},
		{"xfs", "/dev/mapper/vg-imaging", "/var/lib/pulse2", false},
		{"btrfs", "/dev/nvme0n1p2", "/home", false},
		{"zfs", "tank/imaging", "/tank/imaging", false},
		{"nfs4", "nas:/export/imaging", "/var/lib/pulse2/imaging", false},
		{"cifs", "//nas/share", "/mnt/share", false},
		{"fuseblk", "/dev/sdb1", "/media/usb", false},
		{"fuse.sshfs", "user@host:/data", "/mnt/remote", false},
		{"vfat", "/dev/sda1", "/boot/efi", false},
		{"ext4", "/dev/sdc1", "/run/media/admin/USB", false},
		{"tmpfs", "tmpfs", "/run", true},
		{"devtmpfs", "udev", "/dev", true},
		{"overlay", "overlay", "/", true},
		{"squashfs", "/dev/loop3", "/snap/core20/1974", true},
		{"ext4", "/dev/loop5", "/snap/thing/1", true},
		{"proc", "proc", "/proc", true},
		{"sysfs", "sysfs", "/sys", true},
		{"cgroup2", "cgroup2", "/sys/fs/cgroup", true},
		{"cgroup", "cgroup", "/sys/fs/cgroup/cpu", true},
		{"devpts", "devpts", "/dev/pts", true},
		{"mqueue", "mqueue", "/dev/mqueue", true},
		{"debugfs", "debugfs", "/sys/kernel/debug", true},
		{"tracefs", "tracefs", "/sys/kernel/tracing", true},
		{"securityfs", "securityfs", "/sys/kernel/security", true},
		{"pstore", "pstore", "/sys/fs/pstore", true},
		{"bpf", "bpf", "/sys/fs/bpf", true},
		{"autofs", "systemd-1", "/proc/sys/fs/binfmt_misc", true},
		{"autofs", "systemd-1", "/mnt/auto", true},
		{"fusectl", "fusectl", "/sys/fs/fuse/connections", true},
		{"configfs", "configfs", "/sys/kernel/config", true},
		{"binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc", true},
		{"hugetlbfs", "hugetlbfs", "/dev/hugepages", true},
		{"nsfs", "nsfs", "/run/docker/netns/abc", true},
		{"ramfs", "ramfs", "/mnt/ram", true},
		{"rpc_pipefs", "sunrpc", "/run/rpc_pipefs", true},
		{"efivarfs", "efivarfs", "/sys/firmware/efi/efivars", true},
		{"fuse.portal", "portal", "/run/user/1000/doc", true},
		{"fuse.gvfsd-fuse", "gvfsd-fuse", "/run/user/1000/gvfs", true},
		{"fuse.lxcfs", "lxcfs", "/var/lib/lxcfs", true},
		{"ext4", "none", "/mnt/x", true},
		{"ext4", "", "/mnt/x", true},
		{"ext4", "/dev/sdd1", "/snapshots", false}, // not /snap
		{"ext4", "/dev/sdd1", "/devdata", false},   // not /dev
	}
	for _, tt := range tests {
		if got := isPseudo(tt.fstype, tt.device, tt.mountpoint); got != tt.want {
			t.Errorf("isPseudo(%q, %q, %q) = %v, want %v", tt.fstype, tt.device, tt.mountpoint, got, tt.want)
		}
	}
}

func TestHolder(t *testing.T) {
	mounts := []mount{
		{"/dev/sda1", "/", "ext4"},
		{"/dev/sdb1", "/var/lib", "xfs"},
		{"/dev/sdc1", "/var/lib/pulse2", "xfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"/dev/sdd1", "/var/lib/pulse2", "ext4"}, // mounted over sdc1
	}
	tests := []struct {
		path string
		want int
	}{
		{"/var/lib/pulse2/imaging", 4},
		{"/var/lib/pulse2", 4},
		{"/var/lib/pulse22", 1}, // component-wise, not string prefix
		{"/var/lib", 1},
		{"/var/libx", 0},
		{"/tmp/x", 3},
		{"/", 0},
		{"", -1},
	}
	for _, tt := range tests {
		if got := holder(mounts, tt.path); got != tt.want {
			t.Errorf("holder(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
	if got := holder(nil, "/x"); got != -1 {
		t.Errorf("holder(nil) = %d, want -1", got)
	}
}

func TestSelectPartitions(t *testing.T) {
	p := func(dev, mp, fs string, main bool) wire.Partition {
		return wire.Partition{Device: dev, Mountpoint: mp, FSType: fs, Main: main}
	}
	host := []mount{
		{"sysfs", "/sys", "sysfs"},
		{"proc", "/proc", "proc"},
		{"udev", "/dev", "devtmpfs"},
		{"/dev/sda2", "/", "ext4"},
		{"tmpfs", "/run", "tmpfs"},
		{"/dev/sda1", "/boot/efi", "vfat"},
		{"/dev/sdb1", "/var/lib/pulse2", "xfs"},
		{"/dev/loop0", "/snap/core/1", "squashfs"},
		{"/dev/sdb1", "/srv/pulse2-imaging-bind", "xfs"}, // bind mount, longer
		{"/dev/sda2", "/var/lib/docker/x", "ext4"},       // bind mount of root
		{"nas:/export", "/mnt/nas", "nfs4"},
		{"overlay", "/var/lib/docker/overlay2/m", "overlay"},
	}
	tests := []struct {
		name   string
		mounts []mount
		path   string
		want   []wire.Partition
	}{
		{
			name:   "repository on its own partition",
			mounts: host,
			path:   "/var/lib/pulse2/imaging",
			want: []wire.Partition{
				p("/dev/sdb1", "/var/lib/pulse2", "xfs", true),
				p("/dev/sda2", "/", "ext4", false),
				p("/dev/sda1", "/boot/efi", "vfat", false),
				p("nas:/export", "/mnt/nas", "nfs4", false),
			},
		},
		{
			name:   "repository reached through a longer bind mount: the device's shortest mount point is Main",
			mounts: host,
			path:   "/srv/pulse2-imaging-bind/masters",
			want: []wire.Partition{
				p("/dev/sdb1", "/var/lib/pulse2", "xfs", true),
				p("/dev/sda2", "/", "ext4", false),
				p("/dev/sda1", "/boot/efi", "vfat", false),
				p("nas:/export", "/mnt/nas", "nfs4", false),
			},
		},
		{
			name:   "repository on root",
			mounts: host,
			path:   "/opt/imaging",
			want: []wire.Partition{
				p("/dev/sda2", "/", "ext4", true),
				p("/dev/sda1", "/boot/efi", "vfat", false),
				p("nas:/export", "/mnt/nas", "nfs4", false),
				p("/dev/sdb1", "/var/lib/pulse2", "xfs", false),
			},
		},
		{
			name:   "no main path",
			mounts: host,
			path:   "",
			want: []wire.Partition{
				p("/dev/sda2", "/", "ext4", false),
				p("/dev/sda1", "/boot/efi", "vfat", false),
				p("nas:/export", "/mnt/nas", "nfs4", false),
				p("/dev/sdb1", "/var/lib/pulse2", "xfs", false),
			},
		},
		{
			name: "container with an overlay root and nothing real: overlay kept as Main",
			mounts: []mount{
				{"overlay", "/", "overlay"},
				{"proc", "/proc", "proc"},
				{"tmpfs", "/dev", "tmpfs"},
				{"shm", "/dev/shm", "tmpfs"},
			},
			path: "/var/lib/pulse2/imaging",
			want: []wire.Partition{p("overlay", "/", "overlay", true)},
		},
		{
			name: "container with an overlay root and bind-mounted real files: overlay Main, device kept",
			mounts: []mount{
				{"overlay", "/", "overlay"},
				{"/dev/vda1", "/etc/hosts", "ext4"},
				{"/dev/vda1", "/etc/hostname", "ext4"},
			},
			path: "/data",
			want: []wire.Partition{
				p("overlay", "/", "overlay", true),
				p("/dev/vda1", "/etc/hosts", "ext4", false),
			},
		},
		{
			name: "repository on a tmpfs: kept as Main, other tmpfs mounts not",
			mounts: []mount{
				{"/dev/sda1", "/", "ext4"},
				{"tmpfs", "/tmp", "tmpfs"},
				{"tmpfs", "/run", "tmpfs"},
			},
			path: "/tmp/TestX/001",
			want: []wire.Partition{
				p("tmpfs", "/tmp", "tmpfs", true),
				p("/dev/sda1", "/", "ext4", false),
			},
		},
		{
			name: "same mount point mounted twice: the last one holds the path",
			mounts: []mount{
				{"/dev/sda1", "/", "ext4"},
				{"/dev/sdb1", "/data", "ext4"},
				{"/dev/sdc1", "/data", "xfs"},
			},
			path: "/data/imaging",
			want: []wire.Partition{
				p("/dev/sdc1", "/data", "xfs", true),
				p("/dev/sda1", "/", "ext4", false),
				p("/dev/sdb1", "/data", "ext4", false),
			},
		},
		{
			name:   "empty table",
			mounts: nil,
			path:   "/x",
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := selectPartitions(tt.mounts, tt.path)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestResolvePath(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"", ""},
		{real, real},
		{link, real},
		{filepath.Join(link, "missing", "deeper"), real},
		{"/nonexistent-imaging-root/x", "/"},
	}
	for _, tt := range tests {
		if got := resolvePath(tt.in); got != tt.want {
			t.Errorf("resolvePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStatAllCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, u := range statAll(ctx, []string{"/", "/"}) {
		if u.err == nil {
			t.Errorf("statAll with a canceled context: %+v", u)
		}
	}
	if got := statAll(context.Background(), nil); len(got) != 0 {
		t.Errorf("statAll(nil) = %v", got)
	}
}

// TestOnThisMachine calls the real collectors and checks the values are sane.
func TestOnThisMachine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	dir := t.TempDir()
	parts, err := Partitions(ctx, dir)
	if err != nil {
		t.Logf("partial partitions: %v", err)
	}
	if len(parts) == 0 {
		t.Fatalf("no partitions (err %v)", err)
	}
	if !parts[0].Main {
		t.Errorf("first partition %+v is not Main for %s", parts[0], dir)
	}
	mains := 0
	for _, p := range parts {
		t.Logf("%+v", p)
		if p.Main {
			mains++
		}
		if p.Total == 0 || p.Used > p.Total || p.Free > p.Total {
			t.Errorf("insane sizes: %+v", p)
		}
	}
	if mains != 1 {
		t.Errorf("%d Main partitions, want 1", mains)
	}

	name, up, boot, err := Host(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if name == "" || up == 0 || boot.IsZero() || boot.After(time.Now()) {
		t.Errorf("Host() = %q, %d, %v", name, up, boot)
	}

	m, err := Memory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Total == 0 || m.Used > m.Total || m.Available > m.Total || m.SwapUsed > m.SwapTotal {
		t.Errorf("Memory() = %+v", m)
	}

	l, err := Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l.CPUs < 1 || l.Load1 < 0 || l.Load5 < 0 || l.Load15 < 0 {
		t.Errorf("Load() = %+v", l)
	}
}
