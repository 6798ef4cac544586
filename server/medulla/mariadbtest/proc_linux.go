package mariadbtest

import "syscall"

// The server dies with the test binary even if the binary is killed or
// panics before Stop runs.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
