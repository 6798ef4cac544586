package main

import "syscall"

// procAttr makes the kernel stop an agent if the demo itself dies without
// cleaning up (SIGKILL), so no process is left behind.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} }
