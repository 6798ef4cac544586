//go:build !linux

package main

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }

// diskUsed is unknown here: the demo then declares small images.
func diskUsed(string) uint64 { return 0 }
