//go:build !linux

package repo

import (
	"io/fs"
	"os"
	"path/filepath"
)

func (d *dirRef) stat(rel string, follow bool) (statResult, error) {
	p := filepath.Join(d.path, filepath.FromSlash(rel))
	var fi fs.FileInfo
	var err error
	if follow {
		fi, err = os.Stat(p)
	} else {
		fi, err = os.Lstat(p)
	}
	if err != nil {
		return statResult{}, err
	}
	return statResult{mtime: fi.ModTime().UnixNano(), size: fi.Size(), dir: fi.IsDir(), link: fi.Mode()&fs.ModeSymlink != 0}, nil
}
