//go:build !linux

package scriptexec

import "syscall"

// Containment mechanisms (see the package documentation).
const (
	ContainCgroup2 = "cgroup2"
	ContainPids    = "cgroup1-pids"
	ContainFreezer = "cgroup1-freezer"
	ContainMarker  = "marker"
	// ContainNone: only the process group is ended (not Linux).
	ContainNone = "none"
)

// Containment returns the mechanism that ends the processes a script
// leaves behind: outside Linux, none beyond the process group.
func Containment() string { return ContainNone }

type tree struct{ marker string }

func newTree() *tree                                  { return &tree{marker: MarkerEnv + "=unsupported"} }
func (t *tree) prepare(*syscall.SysProcAttr) bool     { return false }
func (t *tree) startFailed(*syscall.SysProcAttr) bool { return false }
func (t *tree) retrySucceeded()                       {}
func (t *tree) started(int, bool)                     {}
func (t *tree) abort()                                {}
func (t *tree) killAll() int                          { return 0 }
