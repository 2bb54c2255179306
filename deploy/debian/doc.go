// Package debian holds no code: it is the home of the Debian package's
// sources (build.sh, the maintainer scripts, the example configuration,
// the lintian overrides; the unit is deploy/quadrature.service and the man
// pages are in deploy/man). Its Go tests check them for real:
//
//   - the man pages render without groff warnings and name every command,
//     agent flag and cluster keyword;
//   - the package builds and lintian --pedantic finds nothing;
//   - under a real systemd (Debian in systemd-nspawn containers, one per
//     node, each in a network namespace of a test LAN), `dpkg -i` then
//     `systemctl start` brings up a three-node group: Type=notify
//     readiness, `systemctl status`, the hardening (user, capabilities),
//     /metrics with every metric the dashboard and the alerts query,
//     `systemctl reload` (a good and a refused file), journald priorities,
//     the watchdog restarting a stopped agent, stop and purge;
//   - deploy/deps.sh leaves a running keepalived alone.
//
// The systemd tests need root, mmdebstrap, systemd-nspawn and network
// access to a Debian mirror (deploy/deps.sh installs the tools); they skip
// otherwise, and fail under CI=true.
package debian
