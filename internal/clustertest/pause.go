package clustertest

import (
	"syscall"
)

// Pause freezes the node's agent with SIGSTOP (to its process group): a
// stalled process (a long GC pause, a VM stun) that keeps its sockets, its
// VIPs and its nftables table but answers nothing. Resume continues it
// with SIGCONT. A paused agent is still "running" for Running and
// AgentRunning; Kill and the group's teardown work on a paused agent
// (SIGKILL needs no SIGCONT). Pause fails the test when the agent is not
// running; call it from the test goroutine.
func (g *Group) Pause(name string) {
	g.T.Helper()
	g.stopCont(name, syscall.SIGSTOP)
}

// Resume continues an agent frozen by Pause (a no-op for a running agent
// that was not paused).
func (g *Group) Resume(name string) {
	g.T.Helper()
	g.stopCont(name, syscall.SIGCONT)
}

func (g *Group) stopCont(name string, sig syscall.Signal) {
	g.T.Helper()
	pid := g.runningAgent(name, sig).cmd.Process.Pid
	// The agent runs in its own process group (netnstest starts it with
	// Setpgid): signal the group so any child stops and continues with it.
	if err := syscall.Kill(-pid, sig); err != nil {
		if err := syscall.Kill(pid, sig); err != nil {
			g.T.Fatalf("clustertest: %v to agent %s (pid %d): %v", sig, name, pid, err)
		}
	}
}
