package api_test

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"quadrature/api/apitest"
)

// The banner and row colours of api/ui/index.html.
var (
	colourCrit   = [3]uint8{0xb3, 0x26, 0x1e} // .banner.crit
	colourWarn   = [3]uint8{0xe8, 0xa1, 0x00} // .banner.warn
	colourRowBad = [3]uint8{0xfd, 0xe2, 0xe2} // tr.rowbad td
)

// countColour counts the pixels of img within 2 of c on every channel.
func countColour(img image.Image, c [3]uint8) int {
	near := func(v uint32, w uint8) bool {
		d := int(v>>8) - int(w)
		return d >= -2 && d <= 2
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, c[0]) && near(g, c[1]) && near(bl, c[2]) {
				n++
			}
		}
	}
	return n
}

// screenshot renders url in headless Chromium into the test's artifact
// directory (kept with go test -artifacts) and decodes it.
func screenshot(t *testing.T, url, name string) image.Image {
	t.Helper()
	path := filepath.Join(t.ArtifactDir(), name+".png")
	chromium(t, url, "--screenshot="+path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	t.Logf("screenshot of %s: %s", name, path)
	if dir := os.Getenv("QUADRATURE_ARTIFACTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "status-"+name+".png"), data, 0o644)
	}
	return img
}

var reTags = regexp.MustCompile(`<[^>]*>`)

// bannerText returns the text of the banner with id alert-ID and its
// class, or "" when the page has none.
func bannerText(dom, id string) (class, text string) {
	re := regexp.MustCompile(`<div class="([^"]*)" id="alert-` + regexp.QuoteMeta(id) + `" role="alert">(.*?)</div>`)
	m := re.FindStringSubmatch(dom)
	if m == nil {
		return "", ""
	}
	return m[1], reTags.ReplaceAllString(m[2], "")
}

// healthy makes the fake group's view from f a group without problems:
// every real server up.
func healthy(f *apitest.Fake) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for i := range f.Svcs {
		for j := range f.Svcs[i].RealServers {
			rs := &f.Svcs[i].RealServers[j]
			rs.Up, rs.Verdict, rs.Agreeing, rs.Weight = true, "up", rs.Reporters, rs.ConfiguredWeight
			for k := range rs.Observations {
				rs.Observations[k].Up, rs.Observations[k].Reason = true, ""
			}
		}
	}
}

// TestStatusPageShowsProblems renders the status page in headless Chromium
// for each state an operator must not miss at 3 a.m. (degraded, fenced,
// kernel table not the committed one, tables diverging between nodes, a
// real server down, a dead peer): each shows a banner in the alarm colour
// with its reason, the affected row is marked, and a healthy group shows
// none. The screenshots are kept in the test's artifact directory
// (go test -artifacts -outputdir DIR) and logged.
func TestStatusPageShowsProblems(t *testing.T) {
	fakes, servers := group(t, nil)
	f := fakes[1]
	url := servers[1].URL + "/#token=" + apitest.ReadToken
	for _, g := range fakes {
		healthy(g)
	}
	reset := func() {
		f.Mu.Lock()
		defer f.Mu.Unlock()
		f.Stat.Degraded, f.Stat.DegradedReason = false, ""
		f.Stat.Fenced, f.Stat.FencedReason = false, ""
		f.Stat.DesiredDigest = ""
		for i := range f.Mems {
			f.Mems[i].State, f.Mems[i].Reason, f.Mems[i].TableDigest = "alive", "", f.Stat.TableDigest
		}
	}

	type check struct {
		name   string
		set    func()
		banner string   // id after "alert-"
		sev    string   // crit or warn
		text   []string // in the banner
		row    string   // text of a row that must be marked rowbad ("" none)
	}
	checks := []check{
		{name: "degraded", banner: "degraded", sev: "warn",
			set: func() {
				f.Stat.Degraded = true
				f.Stat.DegradedReason = "no contact with a Raft leader for 12s (degraded_after 3s): this node programs its table from its own checkers' verdicts"
			},
			text: []string{"DEGRADED", "Node iwash2 runs degraded: no contact with a Raft leader for 12s (degraded_after 3s)"}},
		{name: "fenced", banner: "fenced", sev: "crit",
			set: func() {
				f.Stat.Fenced = true
				f.Stat.FencedReason = "no contact with a Raft quorum for 4s (leader lease 500ms): quorum_fence instance VI_1 in FAULT, holding no VIP"
			},
			text: []string{"FENCED", "Node iwash2 is fenced: no contact with a Raft quorum for 4s", "VI_1 in FAULT"}},
		{name: "unsynced", banner: "unsynced", sev: "warn",
			set:  func() { f.Stat.DesiredDigest = "sha256:0123456789ab" },
			text: []string{"KERNEL TABLE DIFFERS", "sha256:5f0c1e9a7b3d", "sha256:0123456789ab"}},
		{name: "diverged", banner: "diverged", sev: "warn",
			set:  func() { f.Mems[2].TableDigest = "sha256:77aa00bb11cc" },
			text: []string{"TABLES DIVERGE", "iwash1, iwash2 sha256:5f0c1e9a7b3d", "iwash3 sha256:77aa00bb11cc"}},
		{name: "rsdown", banner: "rsdown", sev: "crit",
			set: func() {
				rs := &f.Svcs[0].RealServers[2]
				rs.Up, rs.Verdict, rs.Weight, rs.Agreeing = false, "down", 0, 2
				for k := 1; k < len(rs.Observations); k++ {
					rs.Observations[k].Up, rs.Observations[k].Reason = false, "TCP_CHECK: connection refused"
				}
			},
			text: []string{"1 REAL SERVER DOWN", "198.51.100.13:3128 in tcp/192.0.2.100:3128 (TCP_CHECK: connection refused)"},
			row:  "198.51.100.13:3128"},
		{name: "peerdead", banner: "peer-iwash3", sev: "crit",
			set: func() {
				f.Mems[2].State = "dead"
				f.Mems[2].Reason = "gossip: stopped answering probes 42s ago; last answered the Raft leader 41s ago, 17 log entries behind"
			},
			text: []string{"NODE IWASH3 DEAD", "iwash3 is dead: gossip: stopped answering probes 42s ago"},
			row:  "iwash3"},
	}

	// Healthy: no banner, neither alarm colour anywhere.
	dom := string(chromium(t, url, "--dump-dom"))
	if strings.Contains(dom, `id="alert-`) || !strings.Contains(dom, "198.51.100.13:3128") {
		t.Fatalf("healthy group: banners shown or no data:\n%s", dom)
	}
	img := screenshot(t, url, "healthy")
	for _, c := range [][3]uint8{colourCrit, colourWarn, colourRowBad} {
		if n := countColour(img, c); n != 0 {
			t.Errorf("healthy group: %d pixels of alarm colour %x", n, c)
		}
	}

	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			reset()
			f.Mu.Lock()
			c.set()
			f.Mu.Unlock()
			t.Cleanup(func() {
				reset()
				healthy(f)
			})
			dom := string(chromium(t, url, "--dump-dom"))
			class, text := bannerText(dom, c.banner)
			if class != "banner "+c.sev {
				t.Fatalf("banner alert-%s: class %q, want \"banner %s\" (text %q)\n%s", c.banner, class, c.sev, text, dom)
			}
			for _, want := range c.text {
				if !strings.Contains(text, want) {
					t.Errorf("banner alert-%s %q lacks %q", c.banner, text, want)
				}
			}
			if n := strings.Count(dom, `id="alert-`); n != 1 {
				t.Errorf("%d banners, want only alert-%s", n, c.banner)
			}
			if c.row != "" {
				re := regexp.MustCompile(`<tr class="rowbad">(.*?)</tr>`)
				found := false
				for _, m := range re.FindAllStringSubmatch(dom, -1) {
					found = found || strings.Contains(m[1], c.row)
				}
				if !found {
					t.Errorf("no row of %s marked rowbad", c.row)
				}
			}
			img := screenshot(t, url, c.name)
			want, other := colourCrit, colourWarn
			if c.sev == "warn" {
				want, other = colourWarn, colourCrit
			}
			// A banner is the page's width and over 40 px high.
			if n := countColour(img, want); n < 1000*30 {
				t.Errorf("%s: %d pixels of the banner colour %x, want a full-width banner", c.name, n, want)
			}
			if n := countColour(img, other); n != 0 {
				t.Errorf("%s: %d pixels of the other alarm colour %x", c.name, n, other)
			}
			if c.row != "" {
				if n := countColour(img, colourRowBad); n < 1000 {
					t.Errorf("%s: %d pixels of the marked row colour, want a marked row", c.name, n)
				}
			}
		})
	}
}
