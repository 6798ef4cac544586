//go:build linux

package repo

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// stat stats rel relative to the open directory: fstatat on its descriptor
// skips the path walk from / and allocates nothing, which is most of the
// cost of an unchanged rescan (two stats per image).
func (d *dirRef) stat(rel string, follow bool) (statResult, error) {
	var st unix.Stat_t
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		flags = 0
	}
	for {
		err := unix.Fstatat(d.fd, rel, &st, flags)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return statResult{}, &fs.PathError{Op: "fstatat", Path: d.path + "/" + rel, Err: err}
		}
		break
	}
	return statResult{
		mtime: st.Mtim.Nano(),
		size:  st.Size,
		dir:   st.Mode&unix.S_IFMT == unix.S_IFDIR,
		link:  st.Mode&unix.S_IFMT == unix.S_IFLNK,
	}, nil
}
