#!/usr/bin/env bash
# lvs/vmtest/run.sh: run the IPVS backend's in-VM tests (lvs/ipvs TestVM*) and the
# keepalived-sized benchmark against a real IPVS kernel, in a small qemu VM
# under TCG (the host kernel has no IPVS; KVM hangs on this machine kind).
#
# It also runs the TestVM* tests of lvs/loopguard (active-active DR with real
# IPVS in network namespaces inside the VM), from their own test binary.
#
# Usage: bash lvs/vmtest/run.sh [-tests] [-bench] [-all] [-keep]
#   -tests  run the TestVM* tests only (lvs/ipvs and lvs/loopguard)
#   -bench  run the benchmark only
#   -all    tests and benchmark in one boot (default)
#   -keep   keep the build directory (printed) for inspection
# Environment:
#   VMTEST_TIMEOUT  seconds before the VM is killed (default 900)
#   VMTEST_RUN      -test.run pattern for the tests (default '^TestVM')
#   CI=true         missing tools are a failure, never a skip
#
# Steps: (1) install qemu-system-x86 busybox-static cpio kmod ipvsadm xz-utils
# with apt-get when missing (root only); (2) download the Debian kernel that
# linux-image-amd64 depends on (cached in lvs/vmtest/cache/) and extract it;
# (3) build an initramfs: static busybox, the kernel's net/ lib/ crypto/
# module trees plus veth dummy macvlan (decompressed, depmod'ed), ipvsadm
# with its shared libraries, an /init; (4) build the static test binary;
# (5) boot qemu, tee the console to a log and exit 0 only on "VMTEST PASS".
set -euo pipefail

mode=all
keep=0
for a in "$@"; do
	case "$a" in
	-tests | --tests) mode=tests ;;
	-bench | --bench) mode=bench ;;
	-all | --all) mode=all ;;
	-keep | --keep) keep=1 ;;
	-h | --help)
		sed -n '2,25p' "$0"
		exit 0
		;;
	*)
		echo "vmtest: unknown argument $a" >&2
		exit 2
		;;
	esac
done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache="$here/cache"
timeout_s=${VMTEST_TIMEOUT:-900}
run_pat=${VMTEST_RUN:-'^TestVM'}
start=$(date +%s)

skip_or_fail() {
	if [ "${CI:-}" = "true" ]; then
		echo "VMTEST FAIL: $*" >&2
		exit 1
	fi
	echo "vmtest: SKIP: $*" >&2
	exit 0
}

# (1) tools
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
{ [ -x /bin/busybox ] && ldd /bin/busybox 2>&1 | grep -q 'not a dynamic'; } || need_pkgs+=(busybox-static)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v depmod >/dev/null || [ -x /usr/sbin/depmod ] || [ -x /sbin/depmod ] || need_pkgs+=(kmod)
command -v ipvsadm >/dev/null || [ -x /usr/sbin/ipvsadm ] || [ -x /sbin/ipvsadm ] || need_pkgs+=(ipvsadm)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		skip_or_fail "missing ${need_pkgs[*]} and not root (apt-get install -y --no-install-recommends ${need_pkgs[*]})"
	fi
	if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' -e '^auxfiles$' || true)" ]; then
		apt-get update
	fi
	echo "vmtest: installing ${need_pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_pkgs[@]}"
fi
command -v go >/dev/null || skip_or_fail "go toolchain not in PATH"
PATH=$PATH:/usr/sbin:/sbin
ipvsadm_bin=$(command -v ipvsadm)
depmod_bin=$(command -v depmod)

# (2) kernel
mkdir -p "$cache"
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$kpkg" ]; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update
		kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	fi
	[ -n "$kpkg" ] || skip_or_fail "apt-cache does not know linux-image-amd64 (run apt-get update)"
fi
deb=$(ls "$cache/${kpkg}"_*.deb 2>/dev/null | tail -n1 || true)
if [ -z "$deb" ]; then
	echo "vmtest: downloading $kpkg"
	(cd "$cache" && apt-get download "$kpkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
	deb=$(ls "$cache/${kpkg}"_*.deb 2>/dev/null | tail -n1 || true)
	[ -n "$deb" ] || skip_or_fail "apt-get download $kpkg failed"
fi
kroot="$cache/root-$(basename "$deb" .deb)"
if [ ! -d "$kroot/lib/modules" ]; then
	rm -rf "$kroot.tmp"
	mkdir -p "$kroot.tmp"
	dpkg-deb -x "$deb" "$kroot.tmp"
	mv "$kroot.tmp" "$kroot"
fi
kver=$(ls "$kroot/lib/modules" | head -n1)
vmlinuz=$(ls "$kroot"/boot/vmlinuz-* | head -n1)
echo "vmtest: kernel $kver ($(basename "$deb"))"

# (3) initramfs
work=$(mktemp -d "${TMPDIR:-/tmp}/qvmtest.XXXXXX")
cleanup() {
	if [ "$keep" = 1 ]; then echo "vmtest: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
ir="$work/root"
mkdir -p "$ir"/{bin,sbin,etc,proc,sys,dev,tmp,run,lib/modules/"$kver"/kernel/drivers/net,lib64,usr/lib}
cp /bin/busybox "$ir/bin/busybox"
for app in $("$ir/bin/busybox" --list); do
	[ -e "$ir/bin/$app" ] || ln -s busybox "$ir/bin/$app"
done
kmods="$kroot/lib/modules/$kver"
for d in net lib crypto; do
	cp -a "$kmods/kernel/$d" "$ir/lib/modules/$kver/kernel/"
done
for m in veth dummy macvlan; do
	f=$(find "$kmods/kernel/drivers/net" -maxdepth 1 -name "$m.ko*" | head -n1)
	[ -n "$f" ] && cp "$f" "$ir/lib/modules/$kver/kernel/drivers/net/"
done
cp "$kmods"/modules.order "$kmods"/modules.builtin* "$ir/lib/modules/$kver/" 2>/dev/null || true
# busybox modprobe cannot read compressed modules: decompress them.
find "$ir/lib/modules" -name '*.ko.xz' -exec xz -d {} +
find "$ir/lib/modules" -name '*.ko.zst' -exec sh -c 'for f; do zstd -q -d --rm "$f"; done' _ {} + 2>/dev/null || true
find "$ir/lib/modules" -name '*.ko.gz' -exec gunzip {} + 2>/dev/null || true
sed -i -e 's/\.ko\.\(xz\|zst\|gz\)$/.ko/' "$ir/lib/modules/$kver/modules.order" 2>/dev/null || true
"$depmod_bin" -b "$ir" "$kver"

# ipvsadm and its shared libraries (an independent reader of the table).
cp "$ipvsadm_bin" "$ir/sbin/ipvsadm"
for lib in $(ldd "$ipvsadm_bin" | awk '/=>/ {print $3} /^[ \t]*\// {print $1}'); do
	[ -f "$lib" ] || continue
	mkdir -p "$ir$(dirname "$lib")"
	cp -L "$lib" "$ir$lib"
done

# (4) the static test binary
echo "vmtest: building ipvs.test"
(cd "$repo" && CGO_ENABLED=0 go test -c -o "$ir/ipvs.test" ./lvs/ipvs)
echo "vmtest: building loopguard.test"
(cd "$repo" && CGO_ENABLED=0 go test -c -o "$ir/loopguard.test" ./lvs/loopguard)

case "$mode" in
tests) run_tests=1 run_bench=0 ;;
bench) run_tests=0 run_bench=1 ;;
*) run_tests=1 run_bench=1 ;;
esac
cat >"$ir/init" <<EOF
#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo "vmtest: kernel \$(uname -r)"
# crc32c_generic first: busybox modprobe ignores libcrc32c's softdep.
modprobe crc32c_generic
for m in ip_vs \$(cd /lib/modules/$kver/kernel/net/netfilter/ipvs && ls ip_vs_*.ko | sed 's/\.ko\$//'); do
	modprobe \$m || echo "vmtest: modprobe \$m failed"
done
for m in veth dummy macvlan fou ipip ip_gre; do modprobe \$m 2>/dev/null; done
# lvs/loopguard: a bridge, and nftables NAT (the kernel cannot autoload
# modules here: there is no /sbin/modprobe for its usermode helper).
for m in bridge nf_conntrack nf_nat nf_tables nft_chain_nat nft_nat nft_ct; do
	modprobe \$m || echo "vmtest: modprobe \$m failed"
done
ip link set lo up
ip link show dummy0 >/dev/null 2>&1 || ip link add dummy0 type dummy
echo 0 > /proc/sys/net/ipv6/conf/dummy0/accept_dad
ip link set dummy0 up
ip addr add 192.0.2.1/24 dev dummy0
ip -6 addr add 2001:db8::1/64 dev dummy0
ip route add 198.51.100.0/24 dev dummy0
ip route add 203.0.113.0/24 dev dummy0
ip -6 route add 2001:db8:1::/48 dev dummy0
ip -6 route add 2001:db8:2::/48 dev dummy0
echo "vmtest: schedulers: \$(ls /sys/module | grep '^ip_vs_' | tr '\n' ' ')"
export QUADRATURE_VM=1
rc=0
if [ $run_tests = 1 ]; then
	/ipvs.test -test.v -test.count=1 -test.timeout=600s -test.run '$run_pat' || rc=1
	/loopguard.test -test.v -test.count=1 -test.timeout=600s -test.run '$run_pat' || rc=1
fi
if [ $run_bench = 1 ] && [ \$rc = 0 ]; then
	QUADRATURE_VM_BENCH=1 /ipvs.test -test.v -test.count=1 -test.timeout=600s -test.run '^TestVMBenchKeepalivedScale\$' || rc=1
fi
if [ \$rc = 0 ]; then echo "VMTEST PASS"; else echo "VMTEST FAIL"; fi
sync
poweroff -f
EOF
chmod +x "$ir/init"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1 >"$work/initrd.gz")
echo "vmtest: initramfs $(du -h "$work/initrd.gz" | cut -f1), built in $(($(date +%s) - start))s"

# (5) boot
if [ "$(id -u)" != 0 ] && [ ! -r /dev/kvm ] && ! command -v qemu-system-x86_64 >/dev/null; then
	skip_or_fail "no qemu"
fi
log="$here/cache/vmtest-$mode.log"
echo "vmtest: booting (TCG, timeout ${timeout_s}s), console in $log"
boot=$(date +%s)
set +e
timeout --foreground -k 5 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 \
	-nographic -no-reboot -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1" </dev/null 2>&1 | sed -u 's/\r$//' | tee "$log"
qrc=${PIPESTATUS[0]}
set -e
echo "vmtest: VM ran $(($(date +%s) - boot))s, total $(($(date +%s) - start))s, qemu exit $qrc"
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo "VMTEST FAIL: timeout after ${timeout_s}s" >&2
	exit 1
fi
if grep -q 'Kernel panic' "$log"; then
	echo "VMTEST FAIL: kernel panic" >&2
	exit 1
fi
if grep -qx 'VMTEST PASS' "$log"; then
	grep '^BENCH' "$log" || true
	grep '^LOOPGUARD' "$log" || true
	exit 0
fi
echo "VMTEST FAIL: no PASS marker (see $log)" >&2
exit 1
