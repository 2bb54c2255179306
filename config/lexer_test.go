package config

import (
	"strings"
	"testing"
)

func tokensText(toks []Token) string {
	var parts []string
	for _, t := range toks {
		switch t.Kind {
		case TokEOL:
			if t.Text == ";" {
				parts = append(parts, ";")
			} else {
				parts = append(parts, "⏎")
			}
		case TokWord:
			if t.Quoted {
				parts = append(parts, "«"+t.Text+"»")
			} else {
				parts = append(parts, t.Text)
			}
		default:
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, " ")
}

func TestLex(t *testing.T) {
	for _, tc := range []struct{ name, src, node, want string }{
		{"comments", "a b # c\n! whole line\nd!e #f", "", "a b ⏎ d!e ⏎"},
		{"quotes", `x "a # b" 'c\n' "d\"e\x41\101"`, "", `x «a # b» «c\n» «d"eAA» ⏎`},
		{"semicolons", "protocol TCP ; lb_algo rr;lb_kind DR", "", "protocol TCP ; lb_algo rr ; lb_kind DR ⏎"},
		{"braces", "a{b}\nc {\n}", "", "a { b } ⏎ c { ⏎ } ⏎"},
		{"conditional", "@n1 priority 150\n@n2 priority 100\n@^n1 weight 3", "n1", "priority 150 ⏎"},
		{"conditional-not", "@n1 priority 150\n@^n1 weight 3", "n2", "weight 3 ⏎"},
		{"params", "$IF=eth0\n$X=${IF} 7\ninterface $IF\nv $X$Y ${X}", "", "interface eth0 ⏎ v eth0 7$Y eth0 7 ⏎"},
		{"multiline-param", "$L=a \\\n  b\nx $L", "", "x a b ⏎"},
		{"crlf", "a b\r\nc\r\n", "", "a b ⏎ c ⏎"},
		{"unknown-param", "auth_pass pa$$word", "", "auth_pass pa$$word ⏎"},
		{"builtins", "file ${_PWD}/x ; c ${_HASH}${_BANG}", "", "file ./x ; c #! ⏎"},
	} {
		toks, err := Lex("t.conf", []byte(tc.src), tc.node)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := tokensText(toks); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestLexPositions(t *testing.T) {
	toks, err := Lex("p.conf", []byte("a\n\n  b c\n# x\nd"), "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		if tk.Kind == TokWord {
			got = append(got, tk.Text+"@"+tk.Pos.String())
		}
	}
	if strings.Join(got, " ") != "a@p.conf:1 b@p.conf:3 c@p.conf:3 d@p.conf:5" {
		t.Fatal(got)
	}
}

func TestLexBuiltinNotSupported(t *testing.T) {
	_, err := Lex("r.conf", []byte("x ${_RANDOM 1 9}"), "")
	if err == nil || err.Error() != "r.conf:1: not supported: ${_RANDOM}" {
		t.Fatalf("err = %v", err)
	}
}

func TestLexRecursiveParam(t *testing.T) {
	_, err := Lex("r.conf", []byte("$A=$B\n$B=$A\nx $A"), "")
	if err == nil || !strings.Contains(err.Error(), "r.conf:3: parameter expansion too deep") {
		t.Fatalf("err = %v", err)
	}
}

func TestInclude(t *testing.T) {
	files := memFS{
		"main.conf":         "include conf.d/*.conf\ninclude none/*.conf\nglobal_defs {\n include inner.conf\n}\n",
		"conf.d/a.conf":     "vrrp_script chk { script \"/bin/true\"\n}\n",
		"conf.d/b.conf":     "vrrp_script chk2 {\n script /bin/false\n weight -10\n}\n",
		"conf.d/inner.conf": "",
		"inner.conf":        "router_id lb1\n",
		"conf.d/skip.txt":   "garbage",
	}
	cfg, _, err := loadMem(t, files, "n")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Scripts) != 2 || cfg.Scripts[1].Weight != -10 || cfg.Global.RouterID != "lb1" {
		t.Fatalf("%+v %+v", cfg.Scripts, cfg.Global)
	}
	if cfg.Scripts[1].Pos.String() != "conf.d/b.conf:1" {
		t.Fatalf("pos %s", cfg.Scripts[1].Pos)
	}
}

func TestIncludeCycle(t *testing.T) {
	files := memFS{
		"main.conf":  "include a.conf\n",
		"a.conf":     "include sub/b.conf\n",
		"sub/b.conf": "include ../a.conf\n",
	}
	_, _, err := loadMem(t, files, "n")
	if err == nil || !strings.Contains(err.Error(), "sub/b.conf:1: include cycle: main.conf -> a.conf -> sub/b.conf -> a.conf") {
		t.Fatalf("err = %v", err)
	}
	files = memFS{"main.conf": "includem nothing*.conf\n"}
	if _, _, err := loadMem(t, files, "n"); err == nil || !strings.Contains(err.Error(), `main.conf:1: includem "nothing*.conf" matches no file`) {
		t.Fatalf("err = %v", err)
	}
}

// TestIncludeMissing: an include matching nothing is a warning at its line
// (keepalived goes on and says "Config files missing"), not silence.
func TestIncludeMissing(t *testing.T) {
	for _, line := range []string{"include nothing*.conf", "include none.conf", "includer x/{a,b}.conf"} {
		_, warns, err := loadMem(t, memFS{"main.conf": "global_defs {\n}\n" + line + "\n"}, "n")
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if got := diagLines(warns); !strings.HasPrefix(got, "main.conf:3: warning: includ") || !strings.Contains(got, "matches no file") {
			t.Errorf("%s: warnings %q", line, got)
		}
	}
}

func TestBraceExpansion(t *testing.T) {
	got := strings.Join(expandBraces("/etc/{a,b{1,2}}/x.conf"), " ")
	if got != "/etc/a/x.conf /etc/b1/x.conf /etc/b2/x.conf" {
		t.Fatal(got)
	}
}

func TestParseBlocks(t *testing.T) {
	toks, _ := Lex("p.conf", []byte("vrrp_instance VI\n{\n state MASTER\n authentication { auth_type PASS ; auth_pass x }\n}\n"), "")
	stmts, errs := Parse(toks)
	if len(errs) > 0 || len(stmts) != 1 || !stmts[0].HasBlock || len(stmts[0].Block) != 2 {
		t.Fatalf("%v %+v", errs, stmts)
	}
	auth := stmts[0].Block[1]
	if auth.Key != "authentication" || len(auth.Block) != 2 || auth.Block[1].Key != "auth_pass" {
		t.Fatalf("%+v", auth)
	}
	_, errs = Parse(mustLex(t, "a {\n b {\n"))
	if errs.Error() != "p.conf:1: missing '}' for the block opened here\np.conf:2: missing '}' for the block opened here" {
		t.Fatalf("%q", errs.Error())
	}
	_, errs = Parse(mustLex(t, "}\n{ x }\n"))
	if errs.Error() != "p.conf:1: unexpected '}'\np.conf:2: unexpected '{' without a keyword" {
		t.Fatalf("%q", errs.Error())
	}
}

func mustLex(t *testing.T, src string) []Token {
	t.Helper()
	toks, err := Lex("p.conf", []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	return toks
}
