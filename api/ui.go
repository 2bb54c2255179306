package api

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
)

// The status page is one self-contained HTML file: inline CSS and JS, no
// external assets, so it works offline. It holds no data: the page fetches
// /v1/... with the token the operator gives it (URL fragment #token=..., which
// browsers never send to the server, or a form), keeps the token in
// sessionStorage for the tab only and sends it as a bearer header, so the
// page itself can be served without authentication. A strict
// Content-Security-Policy admits only the page's own script and style (by
// hash) and connections to this origin.
//
//go:embed ui/index.html
var uiPage []byte

var uiCSP = buildCSP(uiPage)

var (
	reScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	reStyle  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
)

func cspHashes(page []byte, re *regexp.Regexp) string {
	var out []string
	for _, m := range re.FindAllSubmatch(page, -1) {
		sum := sha256.Sum256(m[1])
		out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return strings.Join(out, " ")
}

func buildCSP(page []byte) string {
	return "default-src 'none'; script-src " + cspHashes(page, reScript) +
		"; style-src " + cspHashes(page, reStyle) +
		"; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

func (s *Server) handleUI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	w.Write(uiPage)
}
