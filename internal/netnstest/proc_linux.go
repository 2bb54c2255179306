package netnstest

import (
	"os/exec"
	"syscall"
)

func newProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func killGroup(c *exec.Cmd) {
	if c.SysProcAttr != nil && c.SysProcAttr.Setpgid {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	_ = c.Process.Kill()
}
