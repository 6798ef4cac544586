package main

import "syscall"

// procAttr makes the kernel stop an agent if the demo itself dies without
// cleaning up (SIGKILL), so no process is left behind.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} }

// diskUsed is the bytes in use on the file system holding dir (0 when
// unknown): the sample repository's images must not claim more.
func diskUsed(dir string) uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Bsize <= 0 {
		return 0
	}
	return (st.Blocks - st.Bfree) * uint64(st.Bsize)
}
