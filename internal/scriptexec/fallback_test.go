package scriptexec

import (
	"bytes"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"testing"
)

// The root fallback is said once per process, and only when a script
// needs the default user: three runners (checkers, vrrp_script, notify)
// for a configuration without scripts say nothing.
func TestRootFallbackWarnedOnceWhenUsed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the fallback applies to root only")
	}
	if _, err := user.Lookup("keepalived_script"); err == nil {
		t.Skip("user keepalived_script exists: no fallback")
	}
	fallbackWarned.Store(false)
	t.Cleanup(func() { fallbackWarned.Store(false) })
	var b bytes.Buffer
	log := slog.New(slog.NewTextHandler(&b, nil))
	var rs []*Runner
	for i := 0; i < 3; i++ {
		r, err := NewRunner(Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if b.Len() != 0 {
		t.Fatalf("warned without a script: %s", b.String())
	}
	for _, r := range rs {
		if _, err := r.Credential(""); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Credential("root"); err != nil { // an explicit user: nothing to say
			t.Fatal(err)
		}
	}
	if n := strings.Count(b.String(), "script_user is not set"); n != 1 {
		t.Fatalf("warned %d times:\n%s", n, b.String())
	}
}
