package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"quadrature/api"
	"quadrature/api/apitest"
)

var updateCLI = flag.Bool("update-cli", false, "rewrite the CLI golden files")

// cliEnv serves a fake 3-node group and returns the flags that point the
// CLI at it with the admin token (from a file) and a data dir without token.
func cliEnv(t *testing.T) (*apitest.Fake, []string) {
	t.Helper()
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte(apitest.AdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("QUADRATURE_TOKEN", "")
	t.Setenv("QUADRATURE_API", "")
	return f, []string{"-api", ts.URL, "-token-file", tok, "-data-dir", filepath.Join(dir, "data")}
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func goldenCLI(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateCLI {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update-cli)", err)
	}
	if got != string(want) {
		t.Errorf("%s:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func TestCLIList(t *testing.T) {
	f, conn := cliEnv(t)
	f.Mu.Lock()
	// A second, firewall-mark service listed first to check the ordering,
	// and a drained real server.
	f.Svcs = append([]api.VirtualService{{
		ID: "fwmark/7", FWMark: 7, Scheduler: "rr",
		RealServers: []api.RealServer{{ID: "[2001:db8::21]:0", Addr: netip.MustParseAddrPort("[2001:db8::21]:0"), Forward: "Masq", Weight: 0, Verdict: "up", Up: true,
			Drained: true, Agreeing: 2, Reporters: 2}},
	}}, f.Svcs...)
	f.Svcs[1].RealServers[0], f.Svcs[1].RealServers[1] = f.Svcs[1].RealServers[1], f.Svcs[1].RealServers[0]
	f.Mu.Unlock()
	code, out, errs := runCLI(append([]string{"list"}, conn...)...)
	if code != 0 {
		t.Fatalf("list: %d %s", code, errs)
	}
	goldenCLI(t, "cli_list.golden", out)
	for _, want := range []string{"IP Virtual Server version", "Prot LocalAddress:Port Scheduler Flags",
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn", "up 3/3", "down 2/3"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q", want)
		}
	}
	// On the nftables backend the header does not claim to be IPVS.
	f.Mu.Lock()
	f.Stat.Backend = "nftables"
	f.Mu.Unlock()
	code, out, _ = runCLI(append([]string{"list"}, conn...)...)
	if first, _, _ := strings.Cut(out, "\n"); code != 0 || first != "Load-balancing table of node iwash1 (nftables backend, not IPVS)" {
		t.Errorf("list on nftables: %d %q", code, first)
	}
	code, out, _ = runCLI(append([]string{"list", "-o", "json"}, conn...)...)
	var body api.ServicesBody
	if code != 0 || json.Unmarshal([]byte(out), &body) != nil || len(body.Services) != 2 || body.Backend != "nftables" {
		t.Errorf("list -o json: %d %s", code, out)
	}
}

func TestCLIStatusMembers(t *testing.T) {
	_, conn := cliEnv(t)
	code, out, errs := runCLI(append([]string{"status"}, conn...)...)
	if code != 0 {
		t.Fatalf("status: %d %s", code, errs)
	}
	goldenCLI(t, "cli_status.golden", out)
	code, out, _ = runCLI(append([]string{"status", "-o", "json"}, conn...)...)
	var st struct {
		api.Status
		VRRP api.VRRPAllBody `json:"vrrp"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Leader != "iwash1" || len(st.VRRP.Nodes) != 1 {
		t.Errorf("status json: %d %s", code, out)
	}
	code, out, errs = runCLI(append([]string{"members"}, conn...)...)
	if code != 0 {
		t.Fatalf("members: %d %s", code, errs)
	}
	goldenCLI(t, "cli_members.golden", out)
	code, out, _ = runCLI(append([]string{"raft", "list"}, conn...)...)
	if code != 0 || !strings.Contains(out, "iwash3  198.51.100.13:7000  voter") {
		t.Errorf("raft list: %d\n%s", code, out)
	}
}

func TestCLIWrites(t *testing.T) {
	f, conn := cliEnv(t)
	steps := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"drain", "tcp/192.0.2.100:3128", "198.51.100.11:3128"}, 0, "drained 198.51.100.11:3128 in tcp/192.0.2.100:3128"},
		{[]string{"drain", "tcp/192.0.2.100:3128", "198.51.100.11:3128"}, 0, "drained"},
		{[]string{"drain", "tcp/192.0.2.100:3128", "198.51.100.99:3128"}, 1, ""},
		{[]string{"drain", "192.0.2.100:3128", "198.51.100.12:3128"}, 0, "drained 198.51.100.12:3128 in tcp/192.0.2.100:3128"},
		{[]string{"undrain", "192.0.2.100:3128", "198.51.100.12:3128"}, 0, "undrained 198.51.100.12:3128 in tcp/192.0.2.100:3128"},
		{[]string{"drain", "192.0.2.200:80", "198.51.100.12:3128"}, 1, ""},
		{[]string{"drain", "only-one-arg"}, 2, ""},
		{[]string{"undrain", "-o", "json", "tcp/192.0.2.100:3128", "198.51.100.11:3128"}, 0, `"ok": true`},
		{[]string{"maintenance", "iwash3", "on"}, 0, "maintenance on for iwash3"},
		{[]string{"maintenance", "iwash3", "sideways"}, 1, ""},
		{[]string{"maintenance", "iwash3", "off"}, 0, "maintenance off"},
		{[]string{"transfer", "VI_1", "iwash2"}, 0, "transfer of VI_1 to iwash2 requested"},
		{[]string{"transfer", "-clear", "VI_1"}, 0, "transfer of VI_1 cleared"},
		{[]string{"transfer", "-clear", "VI_9"}, 1, ""},
		{[]string{"transfer", "-clear", "VI_1", "iwash2"}, 2, ""},
		{[]string{"transfer", "VI_1"}, 2, ""},
		{[]string{"raft", "add-witness", "witness", "198.51.100.20:7000"}, 0, "added witness witness"},
		{[]string{"raft", "add-voter", "iwash4", "198.51.100.14:7000"}, 0, "added voter iwash4"},
		{[]string{"raft", "add-voter", "iwash5", "no-port"}, 1, ""},
		{[]string{"raft", "remove", "iwash4"}, 0, "removed iwash4"},
		{[]string{"raft", "snapshot"}, 0, "snapshot taken"},
		{[]string{"raft", "bogus"}, 2, ""},
	}
	for _, s := range steps {
		code, out, errs := runCLI(append(s.args, conn...)...)
		if code != s.code || !strings.Contains(out, s.out) {
			t.Errorf("%v: exit %d (want %d)\nstdout %s\nstderr %s", s.args, code, s.code, out, errs)
		}
		if code != 0 && errs == "" {
			t.Errorf("%v: failed without a message", s.args)
		}
	}
	f.Mu.Lock()
	udp := f.Svcs[0]
	udp.ID, udp.Protocol = "udp/192.0.2.100:3128", "udp"
	f.Svcs = append(f.Svcs, udp)
	f.Mu.Unlock()
	if code, _, errs := runCLI(append([]string{"drain", "192.0.2.100:3128", "198.51.100.12:3128"}, conn...)...); code != 1 || !strings.Contains(errs, "ambiguous") {
		t.Errorf("ambiguous VS: %d %s", code, errs)
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.Svcs[0].RealServers[0].Drained || f.Mems[2].Maintenance || f.Inst["iwash2"][0].State != "MASTER" || f.Snapshots != 1 || len(f.Raft) != 4 {
		t.Errorf("state after writes: %+v %+v %+v", f.Svcs[0].RealServers[0], f.Mems[2], f.Raft)
	}
}

func TestCLIConfigRemote(t *testing.T) {
	_, conn := cliEnv(t)
	dir := t.TempDir()
	main := filepath.Join(dir, "keepalived.conf")
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(main, []byte("include conf.d/vs.conf\nglobal_defs {\n}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "vs.conf"), []byte("virtual_server 192.0.2.100 3128 {\n}\n"), 0o644)
	inc := filepath.Join(dir, "conf.d", "vs.conf")

	code, out, errs := runConfigRemoteCLI("get", conn...)
	if code != 0 || !strings.Contains(out, "vrrp_instance VI_1") || !strings.Contains(errs, "# config version 7") {
		t.Fatalf("get: %d %s %s", code, out, errs)
	}
	if code, _, errs = runConfigRemoteCLI("validate", append(conn, main, inc)...); code != 0 {
		t.Fatalf("validate: %s", errs)
	}
	if code, _, errs = runConfigRemoteCLI("validate", append(conn, main)...); code != 1 ||
		!strings.Contains(errs, "keepalived.conf:1: include conf.d/vs.conf: no such file") {
		t.Fatalf("validate without include: %d %s", code, errs)
	}
	if code, _, errs = runConfigRemoteCLI("put", append(conn, main, inc)...); code != 1 || !strings.Contains(errs, "-if-match") {
		t.Fatalf("put without -if-match: %d %s", code, errs)
	}
	if code, out, errs = runConfigRemoteCLI("put", append(conn, "-if-match", "7", main, inc)...); code != 0 || !strings.Contains(out, "version 8 applied") {
		t.Fatalf("put: %d %s %s", code, out, errs)
	}
	if code, _, errs = runConfigRemoteCLI("put", append(conn, "-if-match", "7", main, inc)...); code != 1 || !strings.Contains(errs, "412") {
		t.Fatalf("stale put: %d %s", code, errs)
	}
	if code, _, _ = runConfigRemoteCLI("put", append(conn, "-force", main, inc)...); code != 0 {
		t.Fatal("forced put failed")
	}
	if code, _, errs = runConfigRemoteCLI("put", append(conn, "-force", main, "/etc/hostname")...); code != 1 || !strings.Contains(errs, "under the main file's directory") {
		t.Fatalf("include outside dir: %d %s", code, errs)
	}
	out_ := filepath.Join(t.TempDir(), "got")
	os.Mkdir(out_, 0o755)
	if code, _, errs = runConfigRemoteCLI("get", append(conn, "-dir", out_)...); code != 0 {
		t.Fatalf("get -dir: %s", errs)
	}
	got, err := os.ReadFile(filepath.Join(out_, "conf.d", "vs.conf"))
	if err != nil || string(got) != "virtual_server 192.0.2.100 3128 {\n}\n" {
		t.Fatalf("get -dir include: %q %v", got, err)
	}
	code, out, _ = runConfigRemoteCLI("get", append(conn, "-o", "json")...)
	var doc api.ConfigDoc
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc.Version != 9 || len(doc.Files) != 2 {
		t.Fatalf("get -o json: %d %+v", code, doc)
	}
	if code, _, _ = runConfigRemoteCLI("frobnicate", conn...); code != 2 {
		t.Errorf("unknown verb: %d", code)
	}
}

func runConfigRemoteCLI(verb string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runConfigRemote(verb, args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestCLIToken: token lookup order and the messages for refused tokens.
func TestCLIToken(t *testing.T) {
	_, conn := cliEnv(t)
	addr := conn[1]
	dataDir := t.TempDir()
	readFile := filepath.Join(t.TempDir(), "read")
	os.WriteFile(readFile, []byte(apitest.ReadToken+"\n"), 0o600)

	// No flag, no env, no token in the data dir: a clear error (status
	// reads from localhost need none: TestCLIReadsWithoutToken).
	code, _, errs := runCLI("config", "get", "-api", addr, "-data-dir", dataDir)
	if code != 1 || !strings.Contains(errs, "no API token") {
		t.Fatalf("no token: %d %s", code, errs)
	}
	// The agent's generated token in the data dir is found by itself.
	if _, _, err := api.EnsureToken(dataDir); err != nil {
		t.Fatal(err)
	}
	if code, _, errs = runCLI("status", "-api", addr, "-data-dir", dataDir); code != 1 || !strings.Contains(errs, "token was refused") {
		t.Fatalf("data-dir token (not the server's): %d %s", code, errs)
	}
	// The environment wins over the data dir.
	t.Setenv("QUADRATURE_TOKEN", apitest.ReadToken)
	if code, _, errs = runCLI("status", "-api", addr, "-data-dir", dataDir); code != 0 {
		t.Fatalf("env token: %d %s", code, errs)
	}
	if code, _, errs = runCLI("drain", "-api", addr, "a", "b"); code != 1 || !strings.Contains(errs, "needs the admin token") {
		t.Fatalf("read token on write: %d %s", code, errs)
	}
	// -token-file wins over the environment.
	t.Setenv("QUADRATURE_TOKEN", "wrong")
	if code, _, errs = runCLI("status", "-api", addr, "-token-file", readFile); code != 0 {
		t.Fatalf("token file: %d %s", code, errs)
	}
	if code, _, _ = runCLI("status", "-api", addr, "-o", "yaml", "-token-file", readFile); code != 2 {
		t.Errorf("-o yaml: %d", code)
	}
	if code, out, _ := runCLI("status", "-help"); code != 0 && !strings.Contains(out, "Usage") {
		t.Errorf("-help: %d", code)
	}
}

// TestCLIStatusAll: status -all shows every member's instances, asked
// through one node; a member that does not answer is marked.
func TestCLIStatusAll(t *testing.T) {
	base := apitest.NewFake("iwash1")
	var fakes []*apitest.Fake
	var urls []string
	for _, n := range []string{"iwash1", "iwash2", "iwash3"} {
		f := base.Clone(n)
		// An insecure group: nodes show each other the read-only token.
		ts, _ := apitest.NewServer(t, f, func(o *api.Options) { o.PeerToken = apitest.ReadToken })
		fakes, urls = append(fakes, f), append(urls, ts.URL)
	}
	for _, f := range fakes {
		f.Mu.Lock()
		for i := range f.Mems {
			f.Mems[i].APIAddr = strings.TrimPrefix(urls[i], "http://")
		}
		f.Mems[2].State = "dead"
		f.Mu.Unlock()
	}
	t.Setenv("QUADRATURE_TOKEN", apitest.ReadToken)
	code, out, errs := runCLI("status", "-all", "-api", urls[1])
	if code != 0 {
		t.Fatalf("status -all: %d %s", code, errs)
	}
	for _, want := range []string{
		"iwash1  VI_1      51    MASTER  150   iwash1  192.0.2.100/24",
		"iwash2  VI_1      51    BACKUP  100   iwash1  192.0.2.100/24",
		"iwash3  -         -     ?       -     -       no answer: member is dead",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status -all lacks %q:\n%s", want, out)
		}
	}
}
