#!/usr/bin/env bash
# Installs what building, testing and the demo need on a Debian machine, as
# root: the Debian packages (real peers and tools the tests drive) and the Go
# modules. Safe to run again; it only installs what is missing.
set -euo pipefail

pkgs=(
  iproute2 iputils-ping procps psmisc nftables   # namespaces, links, firewall
  keepalived                                     # VRRP interoperability peer
  ipvsadm                                        # independent IPVS reader
  nginx-light dnsmasq-base                       # real servers for checkers
  tcpdump tshark                                 # packet decoding checks
  qemu-system-x86 busybox-static cpio kmod xz-utils  # the IPVS VM harness
  prometheus                                     # promtool checks /metrics
  snmpd snmp snmptrapd                           # AgentX master, snmpwalk, trap sink (snmp/)
  bird2 frr                                      # upstream BGP routers (bgp/ peer tests)
  python3-aiosmtpd                               # SMTP sink for smtp_alert and SMTP_CHECK tests (notify/, checks/)
  chromium                                       # headless status-page test
  mmdebstrap systemd-container lintian adduser groff-base  # the .deb under systemd
  gcc libc6-dev                                  # bench-compare builds its keepalived IPVS shim
  curl ca-certificates
)

need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages: ${need[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no, quietly.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  # The packages we install (keepalived, nginx, prometheus) must not start
  # their services on the host: the tests run their own instances inside
  # namespaces. A policy-rc.d that refuses starts, present only while apt
  # runs (and only if the machine has none of its own), keeps them stopped;
  # nothing already running on the machine is stopped or killed.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# quadrature deploy/deps.sh: no service starts while it installs packages\nexit 101\n' >"$guard"
    chmod 0755 "$guard"
    trap 'rm -f "$guard"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if [ -n "$guard" ]; then rm -f "$guard"; trap - EXIT; fi
fi

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    export PATH=/usr/local/go/bin:$PATH
  else
    echo "deps: no Go toolchain found (need Go >= 1.26 in PATH or /usr/local/go)" >&2
    exit 1
  fi
fi
go mod download
echo "deps: ok ($(go version))"
