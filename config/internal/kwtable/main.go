// Command kwtable rewrites the keepalived compatibility table of the README
// (between the keywords markers) from config.Keywords:
//
//	go run ./config/internal/kwtable README.md
//
// (go generate ./config runs it.) config's TestReadmeKeywordsTable fails
// when the README is out of date.
package main

import (
	"fmt"
	"os"

	"quadrature/config"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kwtable README.md")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, ok := config.ReplaceKeywordsTable(string(b))
	if !ok {
		fmt.Fprintf(os.Stderr, "%s: no %s ... %s markers\n", os.Args[1], config.KeywordsBegin, config.KeywordsEnd)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[1], []byte(out), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
