package scriptexec

import (
	"strings"
	"testing"
)

func TestLookupCredential(t *testing.T) {
	for _, spec := range []string{"nobody", "nobody nogroup", "nobody:nogroup", "root:nogroup"} {
		c, err := LookupCredential(spec)
		if err != nil {
			t.Fatalf("%q: %v", spec, err)
		}
		wantUID := uint32(65534)
		if strings.HasPrefix(spec, "root") {
			wantUID = 0
		}
		if c.Uid != wantUID || c.Gid != 65534 || len(c.Groups) != 0 {
			t.Fatalf("%q: %+v", spec, c)
		}
	}
	if _, err := LookupCredential("no-such-user-q"); err == nil {
		t.Fatal("unknown user accepted")
	}
}
