package main

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

func init() {
	register(command{name: "completion", summary: "print the bash or zsh completion script", run: runCompletion})
	register(command{name: "__complete", hidden: true, run: runComplete})
}

const completionUsage = `Usage: quadrature completion bash|zsh

Prints a completion script for the shell. The Debian package installs
both; by hand:

    quadrature completion bash > /etc/bash_completion.d/quadrature
    quadrature completion zsh > /usr/local/share/zsh/site-functions/_quadrature

The scripts ask the binary itself what to offer (quadrature __complete),
so they follow its commands and flags without being regenerated.
`

// verbs are the second words of the commands that take one. A test checks
// this table against each command's usage text.
var verbs = map[string][]string{
	"cluster":     {"init", "issue", "revoke", "unrevoke"},
	"completion":  {"bash", "zsh"},
	"config":      {"check", "show", "merge", "get", "put", "validate"},
	"maintenance": {"on", "off"},
	"raft":        {"list", "add-voter", "add-witness", "remove", "snapshot"},
	"snapshot":    {"save", "restore", "inspect"},
}

// maintenance takes NODE on|off: its verb is the second argument.
var verbPosition = map[string]int{"maintenance": 2}

const bashCompletion = `# bash completion for quadrature                           -*- shell-script -*-
_quadrature() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local IFS=$'\n'
	local words
	words=$(quadrature __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
	if [ -z "$words" ]; then
		# Arguments that are not commands or flags: files.
		compopt -o default 2>/dev/null
		COMPREPLY=()
		return 0
	fi
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _quadrature quadrature
`

const zshCompletion = `#compdef quadrature
# zsh completion for quadrature
_quadrature() {
	local -a words_
	words_=("${(@f)$(quadrature __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
	if [[ -z "${words_[*]}" ]]; then
		_files
		return
	fi
	compadd -a words_
}
compdef _quadrature quadrature
`

func runCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, completionUsage)
		return 2
	}
	switch args[0] {
	case "bash":
		fmt.Fprint(stdout, bashCompletion)
	case "zsh":
		fmt.Fprint(stdout, zshCompletion)
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, completionUsage)
	default:
		fmt.Fprintf(stderr, "quadrature completion: unknown shell %q (want bash or zsh)\n", args[0])
		return 2
	}
	return 0
}

// runComplete prints the candidates for the last word of args (the words
// after "quadrature", the last one being completed, possibly empty), one
// per line; nothing means "complete file names".
func runComplete(args []string, stdout, _ io.Writer) int {
	for _, c := range complete(args) {
		fmt.Fprintln(stdout, c)
	}
	return 0
}

func complete(args []string) []string {
	if len(args) == 0 {
		args = []string{""}
	}
	cur := args[len(args)-1]
	done := args[:len(args)-1]
	if len(done) == 0 {
		var out []string
		for n, c := range commands {
			if !c.hidden && strings.HasPrefix(n, cur) {
				out = append(out, n)
			}
		}
		sort.Strings(out)
		return out
	}
	cmd := done[0]
	if _, ok := commands[cmd]; !ok {
		return nil
	}
	// The verb, if the command has one and it was given.
	pos := verbPosition[cmd]
	if pos == 0 {
		pos = 1
	}
	positional := nonFlags(cmd, done[1:])
	verb := ""
	if vs := verbs[cmd]; vs != nil {
		if len(positional) >= pos {
			verb = positional[pos-1]
		} else if len(positional) == pos-1 && !strings.HasPrefix(cur, "-") {
			return withPrefix(vs, cur)
		}
	}
	if strings.HasPrefix(cur, "-") {
		return withPrefix(flagNames(flagsOf(cmd, verb)), cur)
	}
	return nil
}

// nonFlags drops flags and the values of the flags that take one
// ("-api ADDR"; "-api=ADDR" is one word).
func nonFlags(cmd string, ws []string) []string {
	var takes map[string]bool
	var out []string
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		if strings.HasPrefix(w, "-") {
			if takes == nil {
				takes = flagsOf(cmd, "")
			}
			name := "-" + strings.TrimLeft(w, "-")
			if !strings.Contains(w, "=") && i+1 < len(ws) && takes[name] {
				i++
			}
			continue
		}
		out = append(out, w)
	}
	return out
}

var (
	// "  -api address" / "  -force" in a flag table.
	flagTableRE = regexp.MustCompile(`(?m)^\s+(-[a-z][a-z0-9-]*)( \S+)?$`)
	// "-node NAME", "[-compact]" in usage lines and prose.
	flagWordRE = regexp.MustCompile(`(?:^|[\s\[|(])(-[a-z][a-z0-9-]*)(\]| [A-Z][A-Z.]*\b)?`)
)

// flagsOf reads the flags of "quadrature CMD [VERB] -help" from its help
// text, the flag table and the usage lines ("quadrature CMD ..."), and reports for each whether
// it takes a value.
func flagsOf(cmd, verb string) map[string]bool {
	args := []string{"-help"}
	if verb != "" && verbPosition[cmd] == 0 {
		args = []string{verb, "-help"}
	}
	var out, errb bytes.Buffer
	commands[cmd].run(args, &out, &errb)
	help := out.String() + errb.String()
	flags := map[string]bool{}
	for _, line := range strings.Split(help, "\n") {
		if !strings.Contains(line, "quadrature "+cmd+" ") {
			continue // prose ("like keepalived -t") names other programs' flags
		}
		for _, m := range flagWordRE.FindAllStringSubmatch(line, -1) {
			flags[m[1]] = m[2] != "]"
		}
	}
	for _, m := range flagTableRE.FindAllStringSubmatch(help, -1) {
		flags[m[1]] = m[2] != ""
	}
	delete(flags, "-help")
	delete(flags, "-h")
	return flags
}

func flagNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for f := range m {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func withPrefix(ws []string, p string) []string {
	var out []string
	for _, w := range ws {
		if strings.HasPrefix(w, p) {
			out = append(out, w)
		}
	}
	return out
}
