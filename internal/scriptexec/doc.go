// Package scriptexec runs the external scripts of a keepalived.conf —
// MISC_CHECK's misc_path (package checks), vrrp_script and the notify
// scripts (package vrrp) — with keepalived's rules: the command line is
// split like keepalived's quoted/escaped parser does (Split), never by a
// shell; with enable_script_security a script (and every directory above
// it) that a non-root user could change is refused (CheckSecurity);
// without it such a script still runs, as in keepalived, and the runner
// logs a warning once per script naming it, why it is unsafe and that
// enable_script_security would refuse it. It runs as script_user (or the
// script's own user) with no supplementary groups, in its own session
// with a clean environment (PATH, and MarkerEnv=<run id>) and / as
// working directory; a timeout terminates its whole process group,
// SIGTERM then SIGKILL.
//
// # Processes a script leaves behind
//
// keepalived only ends a timed-out script's process group, so anything
// a script starts with setsid, a double fork or a daemon() call outlives
// it: MISC_CHECKs that run every few seconds pile such processes up, as
// root. Here, when the script exits and when it times out, every
// descendant is killed (SIGKILL) and Run returns once they have exited;
// Result.Leftover counts them and the first time a script leaves some,
// a warning names it. Options.KeepDescendants restores keepalived's
// behaviour for scripts that exit in time (a notify script starting a
// daemon directly instead of through the service manager).
//
// Descendants are found by the first mechanism the host allows
// (Containment reports which):
//
//   - ContainCgroup2: a cgroup v2 per run, created under the cgroup of
//     this process (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid
//     hosts) as quadrature-script-<pid>-<n>-<random>. The script is
//     cloned into it (CLONE_INTO_CGROUP, Linux ≥ 5.7), so everything it
//     forks is inside from the first instruction on; it is ended with
//     cgroup.kill (Linux ≥ 5.14; else SIGKILL to each member until
//     empty) and the cgroup is removed. Where the kernel refuses
//     CLONE_INTO_CGROUP the pid is written to cgroup.procs right after
//     start, and the marker scan below also runs.
//   - ContainPids, ContainFreezer: the same with a cgroup v1 pids (or
//     freezer) hierarchy; the pid can only be written after start, so
//     what the script forks in that first instant is caught by the marker
//     scan.
//   - ContainMarker (no writable cgroup hierarchy, e.g. not root): every
//     process of /proc whose initial environment holds this run's
//     MarkerEnv entry is killed, through a pidfd after checking the
//     marker again (a recycled pid is never hit), pass after pass until
//     none is left.
//
// Limits: the per-run cgroup is only as strong as the cgroup
// permissions — a script running as root can move itself out of it (and
// a process that also replaced its environment is then not found). The
// marker scan misses a descendant that exec'd itself with an environment
// without MarkerEnv (env -i, sudo) or that another user owns when we are
// not root, and costs a read of /proc/*/environ per run (about 10 µs a
// process). PR_SET_CHILD_SUBREAPER is not used: it applies to the whole
// process, so orphans of every child of the agent (other packages'
// commands) would be reparented to it and would have to be reaped with
// wait4, racing os/exec's own Wait.
//
// It does not decide what an exit status means (checks and vrrp do) and
// keeps no state beyond a concurrency limit and which warnings it gave.
package scriptexec
