package config

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeKeywordsTable fails when the README's compatibility table is
// not the one generated from Keywords (run go generate ./config).
func TestReadmeKeywordsTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, ok := ReplaceKeywordsTable(string(b))
	if !ok {
		t.Fatalf("README.md has no %s ... %s markers", KeywordsBegin, KeywordsEnd)
	}
	if want != string(b) {
		t.Fatal("README.md's keepalived compatibility table is out of date: run go generate ./config")
	}
}

// TestKeywordsTableMatchesParser loads each keyword of the table in its
// block: a supported, not-applied or ignored keyword must be known there
// (any other error, about its missing value, is fine), a refused one must
// be an error naming it, and a not-applied one must warn at its line.
func TestKeywordsTableMatchesParser(t *testing.T) {
	rs := func(body string) string {
		return vs(" real_server 198.51.100.1 80 {\n" + body + "\n }")
	}
	templates := map[string][]func(kw string) string{
		"top level":       {func(kw string) string { return kw + " X {\n}\n" }},
		"global_defs":     {func(kw string) string { return "global_defs {\n " + kw + "\n}\n" }},
		"vrrp_instance":   {func(kw string) string { return inst(" " + kw) }},
		"vrrp_sync_group": {func(kw string) string { return inst() + "vrrp_sync_group G {\n group {\n  VI\n }\n " + kw + "\n}\n" }},
		"authentication":  {func(kw string) string { return inst(" authentication {\n  " + kw + " x\n }") }},
		"vrrp_script":     {func(kw string) string { return "vrrp_script S {\n script /bin/true\n " + kw + "\n}\n" }},
		"virtual_server":  {func(kw string) string { return vs(" " + kw) }},
		"real_server":     {func(kw string) string { return rs("  " + kw) }},
		"any":             {func(kw string) string { return inst(" " + kw) }, func(kw string) string { return "global_defs {\n " + kw + "\n}\n" }},
	}
	for _, kind := range []string{CheckTCP, CheckHTTP, CheckSSL, CheckSMTP, CheckDNS, CheckMisc, CheckUDP, CheckFile} {
		templates["checker"] = append(templates["checker"], func(kw string) string { return rs("  " + kind + " {\n   " + kw + "\n  }") })
	}
	for _, k := range Keywords {
		if strings.ContainsAny(k.Name, " @$") || k.Check {
			continue // value entries, syntax, runtime checks (engine_test)
		}
		tmpls, ok := templates[k.Block]
		if !ok {
			t.Errorf("%s: no template for block %q", k.Name, k.Block)
			continue
		}
		known, refused, warned := false, false, false
		for _, tmpl := range tmpls {
			_, warns, err := loadMem(t, memFS{"main.conf": tmpl(k.Name)}, "n")
			all := diagLines(warns)
			if err != nil {
				all += "\n" + err.Error()
			}
			refusedHere := strings.Contains(all, "not supported: "+k.Name)
			if !strings.Contains(all, "unknown keyword \""+k.Name+"\"") && !refusedHere {
				known = true
			}
			refused = refused || refusedHere
			if strings.Contains(all, ": warning: "+k.Name+": parsed but not applied yet") {
				warned = true
			}
		}
		switch k.Support {
		case Refused:
			if !refused {
				t.Errorf("%s (%s): refused in the table, not by the parser", k.Name, k.Block)
			}
		default:
			if !known {
				t.Errorf("%s (%s): %s in the table, unknown or refused to the parser", k.Name, k.Block, k.Support)
			}
			if k.Support == NotApplied && !warned {
				t.Errorf("%s (%s): not applied, but no warning says so", k.Name, k.Block)
			}
		}
	}
}
