package checks

import (
	"context"
	"sync"
	"testing"
	"time"
)

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
