package repo

import "os"

// dirRef is an open directory that stats are made relative to.
type dirRef struct {
	f    *os.File
	fd   int
	path string
}

// statResult is the part of a stat the cache compares.
type statResult struct {
	mtime int64 // ns since the epoch
	size  int64
	dir   bool
	link  bool
}

func openDir(path string) (*dirRef, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &dirRef{f: f, fd: int(f.Fd()), path: path}, nil
}

func (d *dirRef) close() { d.f.Close() }
