package bench

import "syscall"

// childAttr makes the kernel kill a started process when this one dies
// (a test binary killed by its timeout, a bench interrupted hard).
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
