// Package scriptexec runs the external scripts of a keepalived.conf —
// MISC_CHECK's misc_path (package checks), vrrp_script and the notify
// scripts (package vrrp) — with keepalived's rules: the command line is
// split like keepalived's quoted/escaped parser does (Split), never by a
// shell; with enable_script_security a script (and every directory above
// it) that a non-root user could change is refused (CheckSecurity); it
// runs as script_user (or the script's own user) with no supplementary
// groups, in its own session with a clean environment; a timeout
// terminates its whole process group, SIGTERM then SIGKILL.
//
// It does not decide what an exit status means (checks and vrrp do) and
// keeps no state beyond a concurrency limit.
package scriptexec
