// Package ipvs is the lvs.DataPlane over the kernel's IPVS, through
// generic netlink: New opens it (lvs.ErrUnavailable where the kernel has
// no IPVS), and *IPVS reads the table (whole, or one slice of services'
// destinations for lvs's sliced resync), applies lvs.Plans with pipelined
// writes, and reads statistics.
//
// ipvs_linux.go holds the data plane, ipvscodec.go the codec of the IPVS
// netlink family it needs beyond github.com/cloudflare/ipvs; ipvs_other.go
// makes the package build elsewhere. The model, the diff and the
// reconciler are package lvs's; this package only speaks to the kernel.
//
// Its TestVM* tests need a kernel with IPVS: lvs/vmtest/run.sh boots one in
// qemu with this package's test binary (make vmtest); on the build host
// they skip.
package ipvs
