package api_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"quadrature/api/apitest"
)

// chromium runs headless Chromium on url with extra flags and returns its
// standard output.
func chromium(t *testing.T, url string, extra ...string) []byte {
	t.Helper()
	return chromiumIn(t, "", url, extra...)
}

// chromiumIn is chromium inside network namespace ns ("" = this one).
func chromiumIn(t *testing.T, ns, url string, extra ...string) []byte {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		needProgram(t, "chromium") // skips, or fails under CI=true
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--window-size=1200,900",
		"--virtual-time-budget=5000",
	}, extra...)
	args = append(args, url)
	cmd := exec.CommandContext(ctx, bin, args...)
	if ns != "" {
		cmd = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return stdout.Bytes()
}

// TestStatusPageBrowser renders the status page of a 3-node group in
// headless Chromium: the DOM shows nodes, the leader, the VIP and its master,
// and the real servers with verdicts, agreement and weights; the screenshot
// is a real, non-blank picture.
func TestStatusPageBrowser(t *testing.T) {
	fakes, servers := group(t, nil)
	url := servers[1].URL + "/#token=" + apitest.ReadToken
	dom := string(chromium(t, url, "--dump-dom"))
	if !strings.Contains(dom, `<div id="insecure" role="alert" hidden="">`) {
		t.Error("a secure group shows the insecure banner")
	}
	for _, want := range []string{
		"node iwash2 · leader iwash1",
		"iwash1 ★ leader", "iwash2", "iwash3",
		"VI_1", "192.0.2.100/24",
		">iwash1 MASTER 150<", ">iwash2 BACKUP 100<",
		"TCP 192.0.2.100:3128 wlc",
		"198.51.100.11:3128", "198.51.100.13:3128",
		">up<", ">down<", ">3/3<", ">2/3<", ">100<",
		"TCP_CHECK: connection refused",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if !strings.Contains(dom, `<span id="err"></span>`) {
		t.Error("page shows an error")
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	// An insecure group: the banner shows, and the summary says so.
	fakes[1].Mu.Lock()
	fakes[1].Stat.Insecure = true
	fakes[1].Mu.Unlock()
	insecure := string(chromium(t, url, "--dump-dom"))
	if !strings.Contains(insecure, `<div id="insecure" role="alert">`) || !strings.Contains(insecure, "INSECURE GROUP") ||
		!strings.Contains(insecure, " · INSECURE") {
		t.Errorf("an insecure group shows no warning:\n%s", insecure)
	}
	fakes[1].Mu.Lock()
	fakes[1].Stat.Insecure = false
	fakes[1].Mu.Unlock()

	// A wrong token shows the token form instead of data.
	bad := string(chromium(t, servers[1].URL+"/#token=wrong", "--dump-dom"))
	if !strings.Contains(bad, `<span id="err">token rejected (401)</span>`) || !strings.Contains(bad, `id="auth" class="show"`) {
		t.Errorf("wrong token: page does not ask for a token")
	}
	if strings.Contains(bad, "198.51.100.11:3128") {
		t.Error("wrong token: data rendered anyway")
	}
	// No token at all, on the director itself (loopback): the status
	// reads are open, the page shows the group without asking. From
	// elsewhere it says a token is needed, not that one was rejected
	// (TestE2EAgent's status page, from the client namespace).
	none := string(chromium(t, servers[1].URL+"/", "--dump-dom"))
	if !strings.Contains(none, `<span id="err"></span>`) || strings.Contains(none, `id="auth" class="show"`) ||
		!strings.Contains(none, "198.51.100.11:3128") {
		i := strings.Index(none, `id="err"`)
		t.Errorf("no token on localhost: the page does not show the group: %.200s", none[max(i, 0):])
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, url, "--screenshot="+shot)
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("screenshot %v", b)
	}
	colours := map[[4]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r >> 8, g >> 8, bl >> 8, a >> 8}] = true
		}
	}
	t.Logf("screenshot %dx%d, %d distinct colours (sampled), %d bytes", b.Dx(), b.Dy(), len(colours), len(data))
	if len(colours) < 16 {
		t.Errorf("screenshot looks blank: %d distinct colours", len(colours))
	}
	if dir := os.Getenv("QUADRATURE_ARTIFACTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, "status-page.png"), data, 0o644)
	}
}

func TestStatusPageHeaders(t *testing.T) {
	ts, _ := apitest.NewServer(t, apitest.NewFake("iwash1"), nil)
	resp, body := do(t, ts, "GET", "/", "", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'sha256-", "style-src 'sha256-", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"http://", "https://", "src=\"", "href=\""} {
		if strings.Contains(string(body), bad) {
			t.Errorf("page references an external asset (%q)", bad)
		}
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", resp.Header)
	}
}
