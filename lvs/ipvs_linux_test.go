//go:build linux

package lvs

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExplainErrno(t *testing.T) {
	for _, c := range []struct {
		op   Op
		e    unix.Errno
		is   error
		says string
	}{
		{OpAddService, unix.EPERM, ErrUnavailable, "CAP_NET_ADMIN"},
		{OpAddService, unix.ENOENT, unix.ENOENT, "modprobe ip_vs_"},
		{OpAddDest, unix.EEXIST, ErrExist, ""},
		{OpUpdateDest, unix.ENOENT, ErrNotExist, ""},
		{OpDeleteService, unix.ESRCH, ErrNotExist, ""},
		{OpAddDest, unix.EINVAL, unix.EINVAL, "no route"},
	} {
		err := explain(c.op, c.e)
		if !errors.Is(err, c.is) || !errors.Is(err, c.e) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("explain(%s, %v) = %v", c.op, c.e, err)
		}
	}
}
