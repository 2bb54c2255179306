package checks

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestSplitCommandLine(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{"/usr/local/bin/check", []string{"/usr/local/bin/check"}, false},
		{"  /bin/check   a\tb  ", []string{"/bin/check", "a", "b"}, false},
		{`/bin/check "two words" 'single "quoted"'`, []string{"/bin/check", "two words", `single "quoted"`}, false},
		{`/bin/check "esc \"q\" \\"`, []string{"/bin/check", `esc "q" \`}, false},
		{`/bin/check a\ b`, []string{"/bin/check", "a b"}, false},
		{`/bin/check ""`, []string{"/bin/check", ""}, false},
		{`/bin/check pre"mid"post`, []string{"/bin/check", "premidpost"}, false},
		{`/bin/check 'it'\''s'`, []string{"/bin/check", "it's"}, false},
		{`/bin/check 'it\'s'`, []string{"/bin/check", "it's"}, false}, // escapes work inside single quotes too
		{`a\tb 'c\nd'`, []string{"a\tb", "c\nd"}, false},
		{`\x41\x4a\x4 \102\7 \cA\E`, []string{"AJ\x04", "B\a", "\x01\x1b"}, false},
		{`\xg \c`, []string{"xg", "c"}, false}, // \x without a hex digit is "x"; \c at the end is "c"
		{"/opt/bin/iweight -p iwash1", []string{"/opt/bin/iweight", "-p", "iwash1"}, false},
		{"a\fb\vc", []string{"a", "b", "c"}, false},
		{`nul\0`, nil, true},
		{``, nil, false},
		{`/bin/check "open`, nil, true},
		{`/bin/check 'open`, nil, true},
		{`/bin/check trailing\`, nil, true},
	}
	for _, c := range cases {
		got, err := SplitCommandLine(c.in)
		if (err != nil) != c.err || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %q %v, want %q err=%v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestParseStatusCodes(t *testing.T) {
	cases := []struct {
		in       string
		has, not []int
		err      bool
	}{
		{"", []int{200, 250, 299}, []int{199, 300, 404}, false},
		{"200", []int{200}, []int{201}, false},
		{"200-204 301,302 500-599", []int{200, 204, 301, 302, 500, 599}, []int{205, 303, 499}, false},
		{"100-599", []int{100, 599}, []int{99, 600}, false},
		{"204-200", nil, nil, true},
		{"2000", nil, nil, true},
		{"099", nil, nil, true},
		{"600", nil, nil, true},
		{"abc", nil, nil, true},
		{"200-", nil, nil, true},
	}
	for _, c := range cases {
		set, err := ParseStatusCodes(c.in)
		if (err != nil) != c.err {
			t.Errorf("%q: err %v", c.in, err)
			continue
		}
		for _, h := range c.has {
			if !set.Contains(h) {
				t.Errorf("%q lacks %d", c.in, h)
			}
		}
		for _, n := range c.not {
			if set.Contains(n) {
				t.Errorf("%q contains %d", c.in, n)
			}
		}
	}
}

// TestScriptConcurrencyLimit: MaxScripts 1 serialises scripts.
func TestScriptConcurrencyLimit(t *testing.T) {
	dir := scriptDir(t)
	p := writeScript(t, dir, "slow.sh", "sleep 0.3; exit 0")
	c, err := NewChecker(Spec{Kind: KindMisc, Misc: &MiscSpec{Path: p, Timeout: 5 * time.Second}}, Options{MaxScripts: 1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := c.Check(context.Background()); !r.Up {
				t.Errorf("%+v", r)
			}
		}()
	}
	wg.Wait()
	if el := time.Since(start); el < 850*time.Millisecond {
		t.Fatalf("3 scripts of 0.3 s with MaxScripts 1 took %v: not serialised", el)
	}
}
