package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIErrorsForOperators: what the CLI prints when a file cannot be
// read or the agent cannot be reached is one sentence in the operator's
// terms, not the system call's or the HTTP client's chain.
func TestCLIErrorsForOperators(t *testing.T) {
	_, conn := cliEnv(t)
	missing := filepath.Join(t.TempDir(), "nonexistent.conf")
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	for _, c := range []struct {
		name string
		args []string
		want string // the whole of stderr
	}{
		{"config check", []string{"config", "check", missing},
			missing + ": cannot read the configuration: no such file or directory\n"},
		{"config validate", append(append([]string{"config", "validate"}, conn...), missing),
			"quadrature config validate: cannot read " + missing + ": no such file or directory\n"},
		{"config put", append(append([]string{"config", "put", "-force"}, conn...), missing),
			"quadrature config put: cannot read " + missing + ": no such file or directory\n"},
		{"snapshot restore", append(append([]string{"snapshot", "restore"}, conn...), missing),
			"quadrature snapshot restore: cannot read " + missing + ": no such file or directory\nnothing was sent: the group is unchanged\n"},
		{"agent", []string{"agent", "-config", missing, "-data-dir", t.TempDir()},
			"quadrature agent: cannot read " + missing + ": no such file or directory\n"},
		{"status unreachable", []string{"status", "-api", closed, "-token-file", conn[3]},
			"quadrature status: cannot reach the agent at http://" + closed + ": connection refused (is quadrature agent running there? pass -api ADDR)\n"},
		{"transfer unreachable", []string{"transfer", "-api", closed, "-token-file", conn[3], "VI_1", "iwash2"},
			"quadrature transfer: cannot reach the agent at http://" + closed + ": connection refused (is quadrature agent running there? pass -api ADDR)\n"},
		// The fake says "instance VI_9: not found"; the status code follows
		// the message instead of an "api: 404" prefix.
		{"transfer unknown", append([]string{"transfer"}, append(conn, "-clear", "VI_9")...),
			"quadrature transfer: instance VI_9: not found (404)\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(c.args...)
			if code == 0 || stderr != c.want {
				t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, c.want)
			}
			for _, bad := range []string{"open ", "dial tcp", "Get \"", "Post \"", "api: "} {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr carries an internal chain (%q): %s", bad, stderr)
				}
			}
		})
	}
}
