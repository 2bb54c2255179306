package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"quadrature/agent"
	"strings"
	"time"

	"quadrature/config"
)

func init() {
	register(command{name: "config", summary: "check, show, merge local files; get, put, validate the group's config", run: runConfig})
}

const configUsage = `Usage:
  quadrature config check [-node NAME] [-hosts FILE] FILE...
      Validate keepalived.conf files (like keepalived -t). Prints a summary
      and exits 0 when valid; prints every error as FILE:LINE: message and
      exits 1 otherwise. Warnings go to stderr in both cases.
  quadrature config show [-node NAME] [-hosts FILE] [-format conf|json] [-compact] FILE
      Print the configuration as evaluated for NAME, as canonical
      keepalived.conf with every default and inherited value written out
      (-compact: only what differs from them) or as JSON.
  quadrature config merge [-hosts FILE] -node NAME FILE -node NAME FILE...
      Merge per-node keepalived.conf files into one cluster file that uses
      @NAME conditional lines where the nodes differ. The merge goes to
      stdout; what cannot be one cluster goes to stderr and exits 1.

  quadrature config get|put|validate [-api ADDR] [-token-file FILE] ...
      The running group's configuration through the admin API of any node:
      get prints it, validate checks a file against the group, put replaces
      it (compare-and-swap with -if-match VERSION, or -force). Run
      'quadrature config get -help' for their flags.

NAME defaults to the first label of the host name (keepalived's config-id).
Host names in the files resolve through -hosts FILE (hosts(5) format) when
given, else through the system resolver.
`

func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	switch args[0] {
	case "check":
		return configCheck(args[1:], stdout, stderr)
	case "show":
		return configShow(args[1:], stdout, stderr)
	case "merge":
		return configMerge(args[1:], stdout, stderr)
	case "get", "put", "validate":
		return runConfigRemote(args[0], args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, configUsage)
		return 0
	}
	fmt.Fprintf(stderr, "quadrature config: unknown subcommand %q (check, show, merge, get, put, validate)\n", args[0])
	return 2
}

// configFlags are the flags check and show share.
type configFlags struct {
	fs      *flag.FlagSet
	node    string
	hosts   string
	format  string
	compact bool
}

func newConfigFlags(name string, stderr io.Writer, withFormat bool) *configFlags {
	f := &configFlags{fs: flag.NewFlagSet("quadrature config "+name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.StringVar(&f.node, "node", config.DefaultNode(), "node name (config-id) that @NAME lines match")
	f.fs.StringVar(&f.hosts, "hosts", "", "hosts(5) `file` to resolve host names with (default: system resolver)")
	if withFormat {
		f.fs.StringVar(&f.format, "format", "conf", "output format: conf or json")
		f.fs.BoolVar(&f.compact, "compact", false, "conf format: leave out default and inherited values")
	}
	f.fs.Usage = func() {
		fmt.Fprint(stderr, configUsage)
		fmt.Fprintf(stderr, "\nFlags of config %s:\n", name)
		f.fs.PrintDefaults()
	}
	return f
}

// parse accepts flags before and after the file names.
func (f *configFlags) parse(args []string) ([]string, error) {
	var files []string
	for {
		if err := f.fs.Parse(args); err != nil {
			return nil, err
		}
		args = f.fs.Args()
		if len(args) == 0 {
			return files, nil
		}
		files = append(files, args[0])
		args = args[1:]
	}
}

// resolveTimeout bounds host name resolution of one command.
const resolveTimeout = 30 * time.Second

func (f *configFlags) options(ctx context.Context) config.LoadOptions {
	o := config.LoadOptions{Node: f.node, HostsFile: f.hosts, Context: ctx}
	if f.hosts == "" {
		o.Resolver = net.DefaultResolver
	}
	return o
}

func printDiagnostics(w io.Writer, prefix string, err error) {
	var el config.ErrorList
	if errors.As(err, &el) {
		for _, d := range el {
			fmt.Fprintf(w, "%s%s\n", prefix, d)
		}
		return
	}
	// A file that cannot be read: say which and why, not a bare
	// "open X: no such file or directory".
	var pe *fs.PathError
	if errors.As(err, &pe) {
		fmt.Fprintf(w, "%s%s: cannot read the configuration: %v\n", prefix, pe.Path, pe.Err)
		return
	}
	fmt.Fprintf(w, "%s%v\n", prefix, err)
}

func configCheck(args []string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	f := newConfigFlags("check", stderr, false)
	files, err := f.parse(args)
	if err != nil {
		return flagExit(err)
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "quadrature config check: no file given")
		f.fs.Usage()
		return 2
	}
	code := 0
	for _, file := range files {
		cfg, warns, err := config.Load(file, f.options(ctx))
		for _, w := range warns {
			fmt.Fprintf(stderr, "%s\n", w)
		}
		if err == nil {
			errs := config.CheckSupport(cfg)
			// An explicit backend choice is checked here; with "auto" the
			// agent checks against the backend it finds on its kernel.
			errs = append(errs, agent.CheckBackend(cfg, cfg.Global.LVSBackend)...)
			if len(errs) > 0 {
				err = errs
			}
		}
		if err != nil {
			printDiagnostics(stderr, "", err)
			code = 1
			continue
		}
		n := cfg.Count()
		prefix := ""
		if len(files) > 1 {
			prefix = file + ": "
		}
		fmt.Fprintf(stdout, "%sok: %d vrrp instances, %d virtual servers, %d real servers, %d checkers\n",
			prefix, n.Instances, n.VirtualServers, n.RealServers, n.Checkers)
	}
	return code
}

func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func configShow(args []string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	f := newConfigFlags("show", stderr, true)
	files, err := f.parse(args)
	if err != nil {
		return flagExit(err)
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, "quadrature config show: give exactly one file")
		return 2
	}
	if f.format != "conf" && f.format != "json" {
		fmt.Fprintf(stderr, "quadrature config show: -format %q is not conf or json\n", f.format)
		return 2
	}
	cfg, warns, err := config.Load(files[0], f.options(ctx))
	for _, w := range warns {
		fmt.Fprintf(stderr, "%s\n", w)
	}
	if err != nil {
		printDiagnostics(stderr, "", err)
		return 1
	}
	switch {
	case f.format == "json":
		_, err = stdout.Write(cfg.JSON())
	case f.compact:
		_, err = stdout.Write(cfg.RenderCompact())
	default:
		_, err = stdout.Write(cfg.Render())
	}
	if err != nil {
		fmt.Fprintf(stderr, "quadrature config show: %v\n", err)
		return 1
	}
	return 0
}

type mergeArg struct{ node, file string }

// parseMergeArgs reads repeated "-node NAME FILE" pairs and -hosts FILE.
func parseMergeArgs(args []string) (pairs []mergeArg, hosts string, help bool, err error) {
	for i := 0; i < len(args); i++ {
		a := strings.TrimPrefix(args[i], "-")
		name, val, hasVal := strings.Cut(a, "=")
		switch {
		case name == "h" || name == "help":
			return nil, "", true, nil
		case name == "hosts":
			if !hasVal {
				if i+1 >= len(args) {
					return nil, "", false, fmt.Errorf("-hosts needs a file")
				}
				i++
				val = args[i]
			}
			hosts = val
		case name == "node" && args[i] != a:
			if !hasVal {
				if i+1 >= len(args) {
					return nil, "", false, fmt.Errorf("-node needs NAME FILE")
				}
				i++
				val = args[i]
			}
			if i+1 >= len(args) {
				return nil, "", false, fmt.Errorf("-node %s needs a FILE", val)
			}
			i++
			pairs = append(pairs, mergeArg{val, args[i]})
		default:
			return nil, "", false, fmt.Errorf("unexpected argument %q (want -node NAME FILE pairs)", args[i])
		}
	}
	return pairs, hosts, false, nil
}

func configMerge(args []string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	pairs, hosts, help, err := parseMergeArgs(args)
	if help {
		fmt.Fprint(stdout, configUsage)
		return 0
	}
	if err == nil && len(pairs) < 2 {
		err = fmt.Errorf("give at least two -node NAME FILE pairs")
	}
	if err != nil {
		fmt.Fprintf(stderr, "quadrature config merge: %v\n", err)
		return 2
	}
	f := &configFlags{hosts: hosts}
	var inputs []config.NodeConfig
	code := 0
	for _, p := range pairs {
		f.node = p.node
		cfg, warns, err := config.Load(p.file, f.options(ctx))
		for _, w := range warns {
			fmt.Fprintf(stderr, "%s: %s\n", p.node, w)
		}
		if err != nil {
			printDiagnostics(stderr, p.node+": ", err)
			code = 1
		}
		inputs = append(inputs, config.NodeConfig{Node: p.node, Config: cfg})
	}
	text, problems := config.Merge(inputs, f.options(ctx))
	if _, err := stdout.Write(text); err != nil {
		fmt.Fprintf(stderr, "quadrature config merge: %v\n", err)
		return 1
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "problem: %v\n", p)
	}
	if len(problems) > 0 {
		code = 1
	}
	return code
}
