package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHelpAndUnknown(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	if !strings.Contains(out.String(), "Usage: quadrature") {
		t.Fatalf("help output: %q", out.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"no-such-command"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
	if !strings.Contains(errb.String(), `unknown command "no-such-command"`) {
		t.Fatalf("stderr: %q", errb.String())
	}
	if code := run(nil, &out, &errb); code != 2 {
		t.Fatalf("no args exit %d", code)
	}
}
