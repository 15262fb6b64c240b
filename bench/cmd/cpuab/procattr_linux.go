package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent asks the kernel to stop the server when cpuab dies without
// stopping it (killed, crashed), so that no server is left spinning on the
// shared machine.
func dieWithParent(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
