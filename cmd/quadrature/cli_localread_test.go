package main

import (
	"strings"
	"testing"

	"quadrature/api"
	"quadrature/api/apitest"
)

// TestCLIReadsWithoutToken: on the director itself, with no token at hand
// (an ordinary user cannot read DATA_DIR/api-token), read commands ask the
// agent anyway and work when it has no read_token_file; writes still say
// that no token was found and send nothing. With a read token configured
// the status reads still work and the configuration is refused with a
// message saying a token is needed, not a bare 401.
func TestCLIReadsWithoutToken(t *testing.T) {
	t.Setenv("QUADRATURE_TOKEN", "")
	t.Setenv("QUADRATURE_API", "")
	f := apitest.NewFake("iwash1")
	open, _ := apitest.NewServer(t, f, func(o *api.Options) { o.ReadToken = "" })
	closed, _ := apitest.NewServer(t, apitest.NewFake("iwash1"), nil)
	noTok := []string{"-data-dir", t.TempDir()}

	for _, args := range [][]string{{"status"}, {"members"}, {"list"}, {"config", "get"}, {"raft", "list"}} {
		a := append(append(append([]string{}, args...), "-api", open.URL), noTok...)
		if code, out, errs := runCLI(a...); code != 0 || out == "" {
			t.Errorf("%s without a token, no read token configured: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		a = append(append(append([]string{}, args...), "-api", closed.URL), noTok...)
		code, out, errs := runCLI(a...)
		if args[0] != "config" && (code != 0 || out == "") {
			t.Errorf("%s without a token, read token configured: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		// The configuration stays behind the read token.
		if args[0] == "config" && (code != 1 || !strings.Contains(errs, "the agent needs a token for this read") ||
			!strings.Contains(errs, "no API token: pass -token-file FILE")) {
			t.Errorf("%s without a token, read token configured: exit %d %s", strings.Join(args, " "), code, errs)
		}
	}
	f.ResetCalls()
	code, _, errs := runCLI(append([]string{"drain", "-api", open.URL, "tcp/192.0.2.100:3128", "198.51.100.11:3128"}, noTok...)...)
	if code != 1 || !strings.HasPrefix(errs, "quadrature drain: no API token: pass -token-file FILE") {
		t.Errorf("drain without a token: exit %d %s", code, errs)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("drain without a token reached the backend: %v", calls)
	}
}
