//go:build linux

package ipvs

import (
	"errors"
	"quadrature/lvs"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExplainErrno(t *testing.T) {
	for _, c := range []struct {
		op   lvs.Op
		e    unix.Errno
		is   error
		says string
	}{
		{lvs.OpAddService, unix.EPERM, lvs.ErrUnavailable, "CAP_NET_ADMIN"},
		{lvs.OpAddService, unix.ENOENT, unix.ENOENT, "modprobe ip_vs_"},
		{lvs.OpAddDest, unix.EEXIST, lvs.ErrExist, ""},
		{lvs.OpUpdateDest, unix.ENOENT, lvs.ErrNotExist, ""},
		{lvs.OpDeleteService, unix.ESRCH, lvs.ErrNotExist, ""},
		{lvs.OpAddDest, unix.EINVAL, unix.EINVAL, "no route"},
	} {
		err := explain(c.op, c.e)
		if !errors.Is(err, c.is) || !errors.Is(err, c.e) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("explain(%s, %v) = %v", c.op, c.e, err)
		}
	}
}
