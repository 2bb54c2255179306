package config

import (
	"fmt"
	"strings"
)

// README markers around the generated compatibility table.
const (
	KeywordsBegin = "<!-- keywords:begin (generated from config/keywords.go by go generate ./config; do not edit) -->"
	KeywordsEnd   = "<!-- keywords:end -->"
)

// KeywordsMarkdown is the compatibility table of the README, generated from
// Keywords.
func KeywordsMarkdown() string {
	var b strings.Builder
	b.WriteString("| Keyword | Where | quadrature | Notes |\n|---|---|---|---|\n")
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, k := range Keywords {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", esc(k.Name), k.Block, k.Support, esc(k.Reason))
	}
	return b.String()
}

// ReplaceKeywordsTable returns readme with the text between the markers
// replaced by KeywordsMarkdown; ok is false when the markers are missing.
func ReplaceKeywordsTable(readme string) (string, bool) {
	i := strings.Index(readme, KeywordsBegin)
	j := strings.Index(readme, KeywordsEnd)
	if i < 0 || j < i {
		return readme, false
	}
	return readme[:i+len(KeywordsBegin)] + "\n" + KeywordsMarkdown() + readme[j:], true
}
