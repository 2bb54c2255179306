package main

// Shared plumbing of the API client subcommands (status, members, list,
// drain, undrain, maintenance, transfer, raft, config get|put|validate):
// flags, token lookup, output. The logic lives in package api/client.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"quadrature/api"
	"quadrature/api/client"
)

// apiFlags are the flags every API client subcommand takes.
type apiFlags struct {
	fs        *flag.FlagSet
	name      string
	addr      string
	tokenFile string
	dataDir   string
	caFile    string
	output    string
	timeout   time.Duration
	// reads: the command only reads; without a token it asks anyway
	// (an agent answers reads from localhost without one when no
	// read-only token is configured). noToken says why none was found.
	reads   bool
	noToken error
	stdout  io.Writer
	stderr  io.Writer
}

const apiFlagsHelp = `
Connection: -api ADDR (host:port or https://host:port; default $QUADRATURE_API
or 127.0.0.1:9900). Token, first found: -token-file FILE, $QUADRATURE_TOKEN,
DATA_DIR/api-token (the agent's generated admin token; -data-dir, default
/var/lib/quadrature). Reads (status, members, list, config get, raft list)
without any token are sent without one: an agent answers them from its own
host when no read_token_file is configured.
`

func newAPIFlags(name, usage string, stdout, stderr io.Writer) *apiFlags {
	f := &apiFlags{fs: flag.NewFlagSet("quadrature "+name, flag.ContinueOnError), name: name, stdout: stdout, stderr: stderr}
	f.fs.SetOutput(stderr)
	def := os.Getenv("QUADRATURE_API")
	if def == "" {
		def = api.DefaultListen
	}
	f.fs.StringVar(&f.addr, "api", def, "API `address`: host:port or http(s)://host:port")
	f.fs.StringVar(&f.tokenFile, "token-file", "", "`file` whose first line is the API token")
	f.fs.StringVar(&f.dataDir, "data-dir", api.DefaultDataDir, "agent data `dir` holding the generated api-token")
	f.fs.StringVar(&f.caFile, "ca-file", "", "PEM `file` to verify an https API with")
	f.fs.StringVar(&f.output, "o", "text", "output: text or json")
	f.fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "request timeout")
	f.fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fmt.Fprint(stderr, apiFlagsHelp)
		fmt.Fprintf(stderr, "\nFlags:\n")
		f.fs.PrintDefaults()
	}
	return f
}

// parse parses flags placed anywhere among the positional arguments and
// returns the positional ones. ok is false when the caller must exit with
// code (help or a usage error).
func (f *apiFlags) parse(args []string) (pos []string, code int, ok bool) {
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		args = f.fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if f.output != "text" && f.output != "json" {
		fmt.Fprintf(f.stderr, "quadrature %s: -o %q: want text or json\n", f.name, f.output)
		return nil, 2, false
	}
	return pos, 0, true
}

// usageError prints a usage problem and returns exit code 2.
func (f *apiFlags) usageError(format string, args ...any) int {
	fmt.Fprintf(f.stderr, "quadrature %s: %s\n", f.name, fmt.Sprintf(format, args...))
	fmt.Fprintf(f.stderr, "Run 'quadrature %s -help' for usage.\n", f.name)
	return 2
}

// client builds the API client with the token found by client.ResolveToken.
func (f *apiFlags) client() (*client.Client, error) {
	tok, _, err := client.ResolveToken(f.tokenFile, os.Getenv, f.dataDir)
	if err != nil && (!f.reads || f.tokenFile != "") {
		return nil, err
	}
	if err != nil {
		f.noToken, tok = err, ""
	}
	return client.New(client.Options{Addr: f.addr, Token: tok, CAFile: f.caFile, Timeout: f.timeout})
}

func (f *apiFlags) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), f.timeout)
}

// fail reports an error and returns exit code 1.
func (f *apiFlags) fail(err error) int {
	msg := err.Error()
	switch {
	case errors.Is(err, client.ErrUnauthorized) && f.noToken != nil:
		// Asked without a token and refused: the agent wants one for
		// reads (a read token is configured, or this is not localhost).
		msg = "the agent needs a token for this read (it answers without one only on its own host, " +
			"and only when no read_token_file is configured): " + f.noToken.Error()
	case errors.Is(err, client.ErrUnauthorized):
		msg += "\n(the token was refused: check -token-file / " + client.TokenEnv + ")"
	case errors.Is(err, client.ErrForbidden):
		msg += "\n(this needs the admin token, not the read-only one)"
	}
	fmt.Fprintf(f.stderr, "quadrature %s: %s\n", f.name, msg)
	return 1
}

// run is the common skeleton: parse, check the argument count, build the
// client and call do.
func (f *apiFlags) run(args []string, minArgs, maxArgs int, do func(ctx context.Context, c *client.Client, pos []string) error) int {
	return f.runChecked(args, func(pos []string) string {
		if len(pos) < minArgs || (maxArgs >= 0 && len(pos) > maxArgs) {
			if minArgs == maxArgs {
				return fmt.Sprintf("want %d argument(s), got %d", minArgs, len(pos))
			}
			return fmt.Sprintf("want %d to %d arguments, got %d", minArgs, maxArgs, len(pos))
		}
		return ""
	}, do)
}

// runChecked is run with a check of the positional arguments (after the
// flags are parsed) that returns a usage problem, or "".
func (f *apiFlags) runChecked(args []string, check func(pos []string) string, do func(ctx context.Context, c *client.Client, pos []string) error) int {
	pos, code, ok := f.parse(args)
	if !ok {
		return code
	}
	if msg := check(pos); msg != "" {
		return f.usageError("%s", msg)
	}
	c, err := f.client()
	if err != nil {
		return f.fail(err)
	}
	ctx, cancel := f.context()
	defer cancel()
	if err := do(ctx, c, pos); err != nil {
		return f.fail(err)
	}
	return 0
}

func (f *apiFlags) json() bool { return f.output == "json" }

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// table prints rows as left-aligned columns separated by two spaces.
func table(w io.Writer, rows [][]string) {
	widths := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			if len(c) > widths[i] {
				widths[i] = len(c)
			}
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-len(c)+2))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// fileError says what went wrong with a file in the operator's terms
// ("cannot read /etc/x.conf: no such file or directory") instead of the
// system call's ("open /etc/x.conf: no such file or directory"); other
// errors are returned as they are.
func fileError(err error) error {
	var pe *fs.PathError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	return &fileProblem{pe: pe}
}

type fileProblem struct{ pe *fs.PathError }

func (f *fileProblem) Error() string {
	why := f.pe.Err.Error()
	switch f.pe.Op {
	case "open", "read", "stat", "lstat", "openat":
		return fmt.Sprintf("cannot read %s: %s", f.pe.Path, why)
	case "mkdir", "mkdirat":
		return fmt.Sprintf("cannot create the directory %s: %s", f.pe.Path, why)
	case "write", "create":
		return fmt.Sprintf("cannot write %s: %s", f.pe.Path, why)
	}
	return fmt.Sprintf("%s: %s %s", f.pe.Path, f.pe.Op, why)
}

func (f *fileProblem) Unwrap() error { return f.pe }
