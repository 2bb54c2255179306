// Command quadrature is the single binary of the project: the agent that runs
// a director node and the operator's command-line client.
//
// Subcommands register themselves in init functions of their own files (see
// register); main only dispatches, so each subcommand stays a thin adapter
// over the package that owns its logic.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	// run receives the arguments after the subcommand name and returns the
	// process exit code.
	run func(args []string, stdout, stderr io.Writer) int
	// hidden commands (the shell completion's helper) are not listed.
	hidden bool
}

var commands = map[string]command{}

// register adds a subcommand; it panics on a duplicate name, which is a
// programming error caught by any test that starts the binary.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("quadrature: duplicate subcommand " + c.name)
	}
	commands[c.name] = c
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func usage(w io.Writer) {
	fmt.Fprintf(w, "quadrature %s: clustered, keepalived-compatible high-availability director\n\n", version)
	fmt.Fprintf(w, "Usage: quadrature <command> [flags] [args]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'quadrature <command> -help' for the flags of a command.\n")
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run([]string{"-help"}, stdout, stderr)
			}
		}
		usage(stdout)
		return 0
	case "-version", "--version", "version":
		fmt.Fprintf(stdout, "quadrature %s\n", version)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "quadrature: unknown command %q", args[0])
		if s := closest(args[0]); s != "" {
			fmt.Fprintf(stderr, " (did you mean %q?)", s)
		}
		fmt.Fprintln(stderr)
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

// closest returns the registered command that shares the longest prefix
// with name, if any shares at least two characters.
func closest(name string) string {
	best, bestLen := "", 1
	for n := range commands {
		l := 0
		for l < len(n) && l < len(name) && n[l] == name[l] {
			l++
		}
		if l > bestLen || (l == bestLen && l > 1 && n < best) {
			best, bestLen = n, l
		}
	}
	if strings.TrimSpace(best) == "" {
		return ""
	}
	return best
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
