package config

import (
	"slices"
	"strings"
	"testing"
)

// threeNodes is a cluster block of a three-node group (line 1 of the
// file) with extra lines before its closing brace.
func threeNodes(lines ...string) string {
	return "cluster {\n bind 192.0.2.1\n peers 192.0.2.2 192.0.2.3\n" + strings.Join(lines, "\n") + "\n}\n"
}

func diagLines(ds []Diagnostic) string {
	var out []string
	for _, d := range ds {
		out = append(out, d.String())
	}
	return strings.Join(out, "\n")
}

func TestClusterSecurityKeywords(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       func(c *Cluster) bool
	}{
		{"credentials", "credentials /etc/quadrature/credentials", func(c *Cluster) bool { return c.Credentials == "/etc/quadrature/credentials" }},
		{"credentials quoted", `credentials "/etc/my creds"`, func(c *Cluster) bool { return c.Credentials == "/etc/my creds" }},
		{"insecure bare", "insecure", func(c *Cluster) bool { return c.Insecure }},
		{"insecure yes", "insecure yes", func(c *Cluster) bool { return c.Insecure }},
		{"insecure true", "insecure true", func(c *Cluster) bool { return c.Insecure }},
		{"insecure on", "insecure on", func(c *Cluster) bool { return c.Insecure }},
		{"insecure YES", "insecure YES", func(c *Cluster) bool { return c.Insecure }},
		{"insecure no", "insecure no\n credentials /c", func(c *Cluster) bool { return !c.Insecure }},
		{"insecure false", "insecure false\n credentials /c", func(c *Cluster) bool { return !c.Insecure }},
		{"insecure off", "insecure off\n credentials /c", func(c *Cluster) bool { return !c.Insecure }},
		{"insecure and credentials on one line", "insecure credentials /c", func(c *Cluster) bool { return c.Insecure && c.Credentials == "/c" }},
		{"api tls", "credentials /c\n api {\n  cert_file /a.crt\n  key_file /a.key\n  ca_file /ca.crt\n }", func(c *Cluster) bool {
			return c.API.CertFile == "/a.crt" && c.API.KeyFile == "/a.key" && c.API.CAFile == "/ca.crt"
		}},
		{"api tls inline", "credentials /c\n api { cert_file /a.crt key_file /a.key ca_file /ca.crt token_file /t }", func(c *Cluster) bool {
			return c.API.CertFile == "/a.crt" && c.API.KeyFile == "/a.key" && c.API.CAFile == "/ca.crt" && c.API.TokenFile == "/t"
		}},
		{"api ca alone", "credentials /c\n api {\n  ca_file /ca.crt\n }", func(c *Cluster) bool { return c.API.CAFile == "/ca.crt" && c.API.CertFile == "" }},
	} {
		cfg, _, err := loadMem(t, memFS{"main.conf": threeNodes(" " + tc.line)}, "n")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !tc.want(cfg.Cluster) {
			t.Errorf("%s: %+v", tc.name, cfg.Cluster)
		}
		roundTrip(t, tc.name, cfg, LoadOptions{Resolver: Hosts{}})
	}
}

func TestClusterSecurityKeywordErrors(t *testing.T) {
	one := func(lines ...string) string {
		return "cluster {\n bind 192.0.2.1\n" + strings.Join(lines, "\n") + "\n}\n"
	}
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"insecure not a boolean", one(" insecure maybe"),
			[]string{`main.conf:3: insecure: "maybe" is not a boolean (on/off, true/false, yes/no)`}},
		{"insecure two args", one(" insecure yes please"),
			[]string{`main.conf:3: insecure takes at most 1 argument(s), got 2`}},
		{"credentials no dir", one(" credentials"),
			[]string{`main.conf:3: credentials needs exactly 1 argument(s), got 0`}},
		{"credentials two dirs", one(" credentials /a /b"),
			[]string{`main.conf:3: credentials needs exactly 1 argument(s), got 2`}},
		{"credentials empty", one(` credentials ""`),
			[]string{`main.conf:3: credentials: the directory name is empty`}},
		{"api cert_file no arg", one(" api {", "  cert_file", "  key_file /k", " }"),
			[]string{`main.conf:4: cert_file needs exactly 1 argument(s), got 0`, `main.conf:1: cluster: api cert_file and key_file go together`}},
		{"api cert without key", one(" api {", "  cert_file /a.crt", " }"),
			[]string{`main.conf:1: cluster: api cert_file and key_file go together`}},
		{"api key without cert", one(" credentials /c", " api {", "  key_file /a.key", " }"),
			[]string{`main.conf:1: cluster: api cert_file and key_file go together`}},
		{"api ca_file twice the args", one(" api {", "  ca_file /a /b", " }"),
			[]string{`main.conf:4: ca_file needs exactly 1 argument(s), got 2`}},
		{"insecure in api block", one(" api {", "  insecure", " }"),
			[]string{`main.conf:4: unknown keyword "insecure" in cluster api`}},
	} {
		_, _, err := loadMem(t, memFS{"main.conf": tc.src}, "n")
		got := ""
		if err != nil {
			got = err.Error()
		}
		if want := strings.Join(tc.want, "\n"); !sameLines(got, want) {
			t.Errorf("%s:\n got:\n%s\nwant:\n%s", tc.name, got, want)
		}
	}
}

func TestClusterFiles(t *testing.T) {
	tls := &ClusterTLS{CertFile: "/t/n.crt", KeyFile: "/t/n.key", CAFile: "/t/ca.crt"}
	for _, tc := range []struct {
		name string
		c    *Cluster
		want ClusterFiles
	}{
		{"nil cluster", nil, ClusterFiles{}},
		{"nothing", &Cluster{}, ClusterFiles{}},
		{"credentials only", &Cluster{Credentials: "/etc/quadrature/credentials/"}, ClusterFiles{
			CertFile: "/etc/quadrature/credentials/node.crt", KeyFile: "/etc/quadrature/credentials/node.key",
			CAFile: "/etc/quadrature/credentials/ca.crt", GossipKeyFile: "/etc/quadrature/credentials/gossip.key",
			TokenFile: "/etc/quadrature/credentials/api-token", ReadTokenFile: "/etc/quadrature/credentials/api-read-token",
			APICertFile: "/etc/quadrature/credentials/node.crt", APIKeyFile: "/etc/quadrature/credentials/node.key",
			APICAFile: "/etc/quadrature/credentials/ca.crt",
		}},
		{"relative credentials stay relative", &Cluster{Credentials: "creds"}, ClusterFiles{
			CertFile: "creds/node.crt", KeyFile: "creds/node.key", CAFile: "creds/ca.crt", GossipKeyFile: "creds/gossip.key",
			TokenFile: "creds/api-token", ReadTokenFile: "creds/api-read-token",
			APICertFile: "creds/node.crt", APIKeyFile: "creds/node.key", APICAFile: "creds/ca.crt",
		}},
		{"explicit files without credentials", &Cluster{TLS: tls, GossipKeyFile: "/g.key", API: ClusterAPI{TokenFile: "/tok", ReadTokenFile: "/rtok"}}, ClusterFiles{
			CertFile: "/t/n.crt", KeyFile: "/t/n.key", CAFile: "/t/ca.crt", GossipKeyFile: "/g.key",
			TokenFile: "/tok", ReadTokenFile: "/rtok",
			// a tls block alone does not put the API on TLS
		}},
		{"explicit api tls without credentials", &Cluster{API: ClusterAPI{CertFile: "/a.crt", KeyFile: "/a.key"}}, ClusterFiles{
			APICertFile: "/a.crt", APIKeyFile: "/a.key",
		}},
		{"every explicit keyword wins over credentials", &Cluster{
			Credentials: "/c", TLS: tls, GossipKeyFile: "/g.key",
			API: ClusterAPI{TokenFile: "/tok", ReadTokenFile: "/rtok", CertFile: "/a.crt", KeyFile: "/a.key", CAFile: "/aca.crt"},
		}, ClusterFiles{
			CertFile: "/t/n.crt", KeyFile: "/t/n.key", CAFile: "/t/ca.crt", GossipKeyFile: "/g.key",
			TokenFile: "/tok", ReadTokenFile: "/rtok", APICertFile: "/a.crt", APIKeyFile: "/a.key", APICAFile: "/aca.crt",
		}},
		{"tls block wins as a whole", &Cluster{Credentials: "/c", TLS: &ClusterTLS{CertFile: "/x.crt"}}, ClusterFiles{
			CertFile: "/x.crt", GossipKeyFile: "/c/gossip.key", TokenFile: "/c/api-token", ReadTokenFile: "/c/api-read-token",
			APICertFile: "/c/node.crt", APIKeyFile: "/c/node.key", APICAFile: "/c/ca.crt",
		}},
		{"api files win one by one", &Cluster{Credentials: "/c", API: ClusterAPI{CAFile: "/clients-ca.crt", TokenFile: "/tok"}}, ClusterFiles{
			CertFile: "/c/node.crt", KeyFile: "/c/node.key", CAFile: "/c/ca.crt", GossipKeyFile: "/c/gossip.key",
			TokenFile: "/tok", ReadTokenFile: "/c/api-read-token",
			APICertFile: "/c/node.crt", APIKeyFile: "/c/node.key", APICAFile: "/clients-ca.crt",
		}},
		{"gossip key file wins", &Cluster{Credentials: "/c", GossipKeyFile: "/g.key"}, ClusterFiles{
			CertFile: "/c/node.crt", KeyFile: "/c/node.key", CAFile: "/c/ca.crt", GossipKeyFile: "/g.key",
			TokenFile: "/c/api-token", ReadTokenFile: "/c/api-read-token",
			APICertFile: "/c/node.crt", APIKeyFile: "/c/node.key", APICAFile: "/c/ca.crt",
		}},
	} {
		if got := tc.c.Files(); got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

// TestClusterFilesFromConfig resolves the files of a loaded block.
func TestClusterFilesFromConfig(t *testing.T) {
	cfg, _, err := loadMem(t, memFS{"main.conf": threeNodes(" credentials /etc/quadrature/credentials", " api {\n  token_file /etc/quadrature/token\n }")}, "n")
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Cluster.Files()
	if f.CertFile != "/etc/quadrature/credentials/"+CredCertFile || f.TokenFile != "/etc/quadrature/token" ||
		f.ReadTokenFile != "/etc/quadrature/credentials/"+CredReadTokenFile || f.GossipKeyFile != "/etc/quadrature/credentials/"+CredGossipKeyFile {
		t.Fatalf("%+v", f)
	}
}

const groupNeedsCredentials = "cluster: a group of %s nodes needs credentials (it has %s): " +
	"add `credentials DIR` (written by `quadrature cluster init`), or tls { } and gossip_key_file; " +
	"`insecure yes` runs without them (anyone on the LAN can then join and reprogram the group)"

func needsCredentials(where, n, has string) string {
	return where + ": " + strings.NewReplacer("%s nodes", n+" nodes", "(it has %s)", "(it has "+has+")").Replace(groupNeedsCredentials)
}

func runsUnauthenticated(where, n, has string) string {
	return where + ": warning: cluster: insecure: the group of " + n + " nodes runs unauthenticated (it has " + has +
		"): anyone on the LAN can join and reprogram it; `quadrature cluster init` writes credentials"
}

func TestClusterSecurityValidation(t *testing.T) {
	const tlsBlock = " tls {\n  cert_file /n.crt\n  key_file /n.key\n  ca_file /ca.crt\n }"
	const none = "no mutual TLS and no gossip key"
	for _, tc := range []struct {
		name  string
		files memFS
		errs  []string
		warns []string
	}{
		{"three nodes without anything", memFS{"main.conf": threeNodes()},
			[]string{needsCredentials("main.conf:1", "3", none)}, nil},
		{"the error is at the cluster block", memFS{"main.conf": "global_defs {\n router_id x\n}\n\n" + threeNodes()},
			[]string{needsCredentials("main.conf:5", "3", none)}, nil},
		{"the error is at the cluster block of an include", memFS{"main.conf": "global_defs {\n}\ninclude cl.conf\n", "cl.conf": "\n" + threeNodes()},
			[]string{needsCredentials("cl.conf:2", "3", none)}, nil},
		{"bootstrap_expect counts", memFS{"main.conf": "cluster {\n bind 192.0.2.1\n bootstrap_expect 5\n}\n"},
			[]string{needsCredentials("main.conf:1", "5", none)},
			[]string{"main.conf:1: warning: cluster: bootstrap_expect 5 is more than the 1 nodes listed"}},
		{"bootstrap_expect above the peers", memFS{"main.conf": threeNodes(" bootstrap_expect 4")},
			[]string{needsCredentials("main.conf:1", "4", none)},
			[]string{"main.conf:1: warning: cluster: bootstrap_expect 4 is more than the 3 nodes listed"}},
		{"two nodes", memFS{"main.conf": "cluster {\n bind 192.0.2.1\n peers 192.0.2.1 192.0.2.2\n}\n"},
			[]string{needsCredentials("main.conf:1", "2", none)}, nil},
		{"tls without gossip key", memFS{"main.conf": threeNodes(tlsBlock)},
			[]string{needsCredentials("main.conf:1", "3", "no gossip key")}, nil},
		{"gossip key without tls", memFS{"main.conf": threeNodes(" gossip_key_file /g.key")},
			[]string{needsCredentials("main.conf:1", "3", "no mutual TLS")}, nil},
		{"insecure no is not insecure", memFS{"main.conf": threeNodes(" insecure no")},
			[]string{needsCredentials("main.conf:1", "3", none)}, nil},
		{"credentials", memFS{"main.conf": threeNodes(" credentials /does/not/exist")}, nil, nil},
		{"tls and gossip key", memFS{"main.conf": threeNodes(tlsBlock, " gossip_key_file /g.key")}, nil, nil},
		{"insecure", memFS{"main.conf": threeNodes(" insecure yes")}, nil,
			[]string{runsUnauthenticated("main.conf:1", "3", none)}},
		{"insecure bare", memFS{"main.conf": "\n\n" + threeNodes(" insecure")}, nil,
			[]string{runsUnauthenticated("main.conf:3", "3", none)}},
		{"insecure with tls only", memFS{"main.conf": threeNodes(tlsBlock, " insecure yes")}, nil,
			[]string{runsUnauthenticated("main.conf:1", "3", "no gossip key")}},
		{"insecure with credentials is ignored", memFS{"main.conf": threeNodes(" credentials /c", " insecure yes")}, nil,
			[]string{"main.conf:1: warning: cluster: insecure is ignored: credentials secure the group"}},
		{"insecure with tls and gossip key is ignored", memFS{"main.conf": threeNodes(tlsBlock, " gossip_key_file /g.key", " insecure yes")}, nil,
			[]string{"main.conf:1: warning: cluster: insecure is ignored: tls and gossip_key_file secure the group"}},
		{"insecure with credentials on one node", memFS{"main.conf": "cluster {\n bind 192.0.2.1\n credentials /c\n insecure\n}\n"}, nil,
			[]string{"main.conf:1: warning: cluster: insecure is ignored: credentials secure the group"}},
		{"one node needs nothing", memFS{"main.conf": "cluster {\n bind 192.0.2.1\n}\n"}, nil, nil},
		{"one node listing itself needs nothing", memFS{"main.conf": "cluster {\n bind 192.0.2.1\n peers 192.0.2.1\n}\n"}, nil, nil},
		{"one node insecure says nothing", memFS{"main.conf": "cluster {\n bind 192.0.2.1\n insecure yes\n}\n"}, nil, nil},
		{"no cluster block needs nothing", memFS{"main.conf": "global_defs {\n}\n"}, nil, nil},
	} {
		_, warns, err := loadMem(t, tc.files, "n")
		got := ""
		if err != nil {
			got = err.Error()
		}
		if want := strings.Join(tc.errs, "\n"); got != want {
			t.Errorf("%s: errors:\n got:\n%s\nwant:\n%s", tc.name, got, want)
		}
		if got, want := diagLines(warns), strings.Join(tc.warns, "\n"); got != want {
			t.Errorf("%s: warnings:\n got:\n%s\nwant:\n%s", tc.name, got, want)
		}
	}
}

// A file replicated to every node of a group, with per-node lines in the
// main file and in an include: NodeNames is the same list for every node
// (and for a node the file does not name).
func TestNodeNames(t *testing.T) {
	files := memFS{
		"main.conf": `# the group
@lb1 global_defs {
@^lb1 global_defs {
 router_id x
}
include inc/*.conf
cluster {
 @lb1 bind 192.0.2.1
 @lb2 bind 192.0.2.2
 @lb3	bind 192.0.2.3
 peers 192.0.2.1 192.0.2.2 192.0.2.3
 credentials /etc/quadrature/credentials
}
@ignored-by-all
@^ 
`,
		"inc/vrrp.conf": `vrrp_instance VI {
 interface eth0
 virtual_router_id 1
 @lb3 priority 50
 @^backup-a priority 100
 @lb1 priority 150
 virtual_ipaddress {
  192.0.2.10/24
 }
}
`,
	}
	want := []string{"backup-a", "ignored-by-all", "lb1", "lb2", "lb3"}
	for _, node := range []string{"lb1", "lb2", "lb3", "other"} {
		cfg, _, err := loadMem(t, files, node)
		if node == "other" {
			// No bind for this node: the errors do not matter, the
			// names do.
			if err == nil {
				t.Fatalf("node other: want a bind error")
			}
		} else if err != nil {
			t.Fatalf("node %s: %v", node, err)
		}
		if !slices.Equal(cfg.NodeNames, want) {
			t.Errorf("node %s: NodeNames = %q, want %q", node, cfg.NodeNames, want)
		}
		if node == "other" {
			continue
		}
		// NodeNames describe the source, not its meaning: the rendering
		// (no conditional lines) loads back Equal, without them.
		back, _, err := LoadBytes("r.conf", cfg.Render(), LoadOptions{Node: node, Resolver: Hosts{}})
		if err != nil || !Equal(cfg, back) || back.NodeNames != nil {
			t.Errorf("node %s: round trip: %v %s %q", node, err, Diff(cfg, back), back.NodeNames)
		}
		if !strings.Contains(string(cfg.JSON()), `"node_names": [`) {
			t.Errorf("node %s: JSON has no node_names", node)
		}
	}
	cfg, _, err := loadMem(t, memFS{"main.conf": "global_defs {\n}\n"}, "n")
	if err != nil || cfg.NodeNames != nil {
		t.Fatalf("no conditional lines: %v %q", err, cfg.NodeNames)
	}
}

// An include under a condition that does not hold is not read, so the
// names only it uses are not known (the condition's own name is).
func TestNodeNamesSkippedInclude(t *testing.T) {
	files := memFS{"main.conf": "@b include b.conf\n", "b.conf": "global_defs {\n@c router_id c\n}\n"}
	for node, want := range map[string][]string{"a": {"b"}, "b": {"b", "c"}} {
		cfg, _, err := loadMem(t, files, node)
		if err != nil || !slices.Equal(cfg.NodeNames, want) {
			t.Errorf("node %s: %v %q, want %q", node, err, cfg.NodeNames, want)
		}
	}
}

// The new keywords render and load back, in the full and the compact form,
// and merge: per-node differences become @node lines.
func TestClusterSecurityRenderAndMerge(t *testing.T) {
	node := func(name, bind, extra string) NodeConfig {
		src := "cluster {\n bind " + bind + "\n peers 192.0.2.1 192.0.2.2\n" + extra + "\n}\n"
		cfg, _, err := LoadBytes(name+".conf", []byte(src), LoadOptions{Node: name, Resolver: Hosts{}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		roundTrip(t, name, cfg, LoadOptions{Resolver: Hosts{}})
		return NodeConfig{Node: name, Config: cfg}
	}
	a := node("a", "192.0.2.1", ` credentials "/etc/quadrature/a creds"
 insecure yes
 api {
  cert_file /etc/q/api.crt
  key_file /etc/q/api.key
  ca_file /etc/q/clients.crt
 }`)
	b := node("b", "192.0.2.2", ` insecure on
 api {
  ca_file /etc/q/clients.crt
 }`)
	for _, tc := range []struct {
		text []byte
		want []string
	}{
		{a.Config.Render(), []string{`  credentials "/etc/quadrature/a creds"`, "  insecure yes", "    cert_file /etc/q/api.crt", "    key_file /etc/q/api.key", "    ca_file /etc/q/clients.crt"}},
		{a.Config.RenderCompact(), []string{`  credentials "/etc/quadrature/a creds"`, "  insecure yes", "    cert_file /etc/q/api.crt"}},
		{b.Config.RenderCompact(), []string{"  insecure yes", "    ca_file /etc/q/clients.crt"}},
	} {
		for _, w := range tc.want {
			if !slices.Contains(strings.Split(string(tc.text), "\n"), w) {
				t.Errorf("rendering has no line %q:\n%s", w, tc.text)
			}
		}
	}
	text, problems := Merge([]NodeConfig{a, b}, LoadOptions{Resolver: Hosts{}})
	if len(problems) != 0 {
		t.Fatalf("merge problems: %v\n%s", problems, text)
	}
	for _, w := range []string{`@a   credentials "/etc/quadrature/a creds"`, "  insecure yes", "    ca_file /etc/q/clients.crt", "@a     cert_file /etc/q/api.crt"} {
		if !slices.Contains(strings.Split(string(text), "\n"), w) {
			t.Errorf("merged text has no line %q:\n%s", w, text)
		}
	}
	back, _, err := LoadBytes("merged.conf", text, LoadOptions{Node: "b", Resolver: Hosts{}})
	if err != nil || !Equal(back, b.Config) || !slices.Equal(back.NodeNames, []string{"a", "b"}) {
		t.Fatalf("merged for b: %v %s %q", err, Diff(back, b.Config), back.NodeNames)
	}
}

// TestGoldenCluster pins the canonical rendering of the cluster samples
// for one node.
func TestGoldenCluster(t *testing.T) {
	for _, name := range []string{"conditional_cluster", "cluster_explicit_tls"} {
		cfg, warns, err := Load("testdata/realworld/"+name+".conf", LoadOptions{Node: "lb1", Resolver: Hosts{}})
		if err != nil {
			t.Fatal(err)
		}
		// The samples use quadrature's ';' separators on purpose; each is
		// a warning that keepalived would read the line differently.
		var other []Diagnostic
		for _, w := range warns {
			if !strings.Contains(w.Msg, "keepalived does not") {
				other = append(other, w)
			}
		}
		if len(other) != 0 {
			t.Errorf("%s: warnings: %s", name, diagLines(other))
		}
		golden(t, name+".lb1.conf.golden", cfg.Render())
		golden(t, name+".lb1.compact.conf.golden", cfg.RenderCompact())
		golden(t, name+".lb1.json.golden", cfg.JSON())
	}
}
