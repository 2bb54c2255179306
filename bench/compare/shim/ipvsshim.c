/*
 * ipvsshim: an LD_PRELOAD library that lets keepalived's checker process run
 * on a kernel without the ip_vs module (this build host). keepalived's
 * healthchecker refuses to start when IPVS cannot be initialised; with no
 * "IPVS" generic-netlink family it falls back to IPVS's socket options on a
 * raw socket (getsockopt/setsockopt IPPROTO_IP, IP_VS_SO_*), which the
 * kernel answers with ENOPROTOOPT. This library answers those options, and
 * only those, as an IPVS with an empty table would: every set succeeds and
 * is forgotten, reads return no services. Everything else (the checks'
 * sockets, timers, logging) goes to the real kernel untouched, so the
 * checker's own work is what is measured. Written for bench/compare.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define IPVS_BASE 1152 /* IP_VS_BASE_CTL: 64 + 1024 + 64 */
#define IPVS_SET_LAST (IPVS_BASE + 15)
#define IPVS_GET_VERSION IPVS_BASE
#define IPVS_GET_INFO (IPVS_BASE + 1)
#define IPVS_GET_LAST (IPVS_BASE + 7)

static int is_ipvs(int level, int opt, int last)
{
	return level == IPPROTO_IP && opt >= IPVS_BASE && opt <= last;
}

int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
	static int (*real)(int, int, int, const void *, socklen_t);
	if (is_ipvs(level, opt, IPVS_SET_LAST))
		return 0;
	if (!real)
		real = dlsym(RTLD_NEXT, "setsockopt");
	return real(fd, level, opt, val, len);
}

int getsockopt(int fd, int level, int opt, void *val, socklen_t *len)
{
	static int (*real)(int, int, int, void *, socklen_t *);
	if (is_ipvs(level, opt, IPVS_GET_LAST)) {
		if (!val || !len)
			return errno = EINVAL, -1;
		memset(val, 0, *len);
		if (opt == IPVS_GET_VERSION) {
			snprintf(val, *len, "IP Virtual Server version 1.2.1 (size=4096)");
		} else if (opt == IPVS_GET_INFO && *len >= 3 * sizeof(unsigned int)) {
			unsigned int *info = val; /* version, size, num_services */
			info[0] = 0x010201;
			info[1] = 4096;
		}
		return 0;
	}
	if (!real)
		real = dlsym(RTLD_NEXT, "getsockopt");
	return real(fd, level, opt, val, len);
}
