package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"quadrature/api"
	"quadrature/api/client"
	"quadrature/config"
)

// runConfigRemote implements the API-backed verbs of 'quadrature config':
// get, put and validate. The 'config' dispatcher (config_cmd.go) calls it
// with verb and the arguments after it.
func runConfigRemote(verb string, args []string, stdout, stderr io.Writer) int {
	switch verb {
	case "get":
		return configGet(args, stdout, stderr)
	case "put":
		return configPut(args, stdout, stderr)
	case "validate":
		return configValidate(args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "quadrature config: unknown remote verb %q (get, put, validate)\n", verb)
	return 2
}

const configGetUsage = `Usage: quadrature config get [flags]
  Print the running configuration's main file as it was submitted
  (-rendered: the canonical keepalived.conf; -dir DIR: write the main file
  and its includes into DIR; -o json: version, files, rendered text and the
  JSON model). The version goes to stderr; pass it to
  'quadrature config put -if-match VERSION' so concurrent edits are detected.
  -stale reads the node's own applied configuration without asking the
  leader: it answers when the group has no quorum, says so on stderr, and
  may be behind the group.
`

func configGet(args []string, stdout, stderr io.Writer) int {
	f := newAPIFlags("config get", configGetUsage, stdout, stderr)
	f.reads = true
	rendered := f.fs.Bool("rendered", false, "print the canonical rendered keepalived.conf")
	dir := f.fs.String("dir", "", "write every file of the configuration into `DIR`")
	stale := f.fs.Bool("stale", false, "read this node's applied configuration without a leader (may be behind the group)")
	return f.run(args, 0, 0, func(ctx context.Context, c *client.Client, _ []string) error {
		get := c.Config
		if *stale {
			get = c.StaleConfig
		}
		doc, err := get(ctx)
		if err != nil {
			return err
		}
		if doc.Stale {
			fmt.Fprintf(stderr, "# stale read: %s\n", doc.StaleReason)
		}
		if f.json() {
			return writeJSONOut(stdout, doc)
		}
		fmt.Fprintf(stderr, "# config version %d\n", doc.Version)
		if *dir != "" {
			return writeConfigDir(*dir, doc, stdout)
		}
		if *rendered {
			_, err = io.WriteString(stdout, doc.Rendered)
			return err
		}
		_, err = io.WriteString(stdout, doc.Files[doc.Main])
		return err
	})
}

func writeConfigDir(dir string, doc api.ConfigDoc, stdout io.Writer) error {
	names := make([]string, 0, len(doc.Files))
	for n := range doc.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	root, err := os.OpenRoot(dir) // confines every name to dir
	if err != nil {
		return err
	}
	defer root.Close()
	for _, n := range names {
		if d := filepath.Dir(filepath.FromSlash(n)); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		if err := root.WriteFile(filepath.FromSlash(n), []byte(doc.Files[n]), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", n, err)
		}
		fmt.Fprintln(stdout, filepath.Join(dir, filepath.FromSlash(n)))
	}
	return nil
}

const configPutUsage = `Usage: quadrature config put [flags] (-if-match VERSION | -force) MAIN [INCLUDE...]
  Validate and apply a new configuration on the whole group. MAIN is the
  main keepalived.conf; INCLUDEs are the files it includes, named by their
  path relative to MAIN's directory. With -if-match VERSION (from
  'quadrature config get') the write fails if someone changed the
  configuration meanwhile; -force writes unconditionally. An invalid
  configuration changes nothing and every error is printed as FILE:LINE.
`

func configPut(args []string, stdout, stderr io.Writer) int {
	f := newAPIFlags("config put", configPutUsage, stdout, stderr)
	ifMatch := f.fs.Uint64("if-match", 0, "apply only if the running config `VERSION` is this one")
	allowEmpty := f.fs.Bool("allow-empty", false, "accept a configuration with no vrrp_instance and no virtual_server (removes every VIP and virtual service)")
	force := f.fs.Bool("force", false, "apply whatever the running version")
	return f.run(args, 1, -1, func(ctx context.Context, c *client.Client, pos []string) error {
		if (*ifMatch == 0) == !*force {
			return errors.New("pass exactly one of -if-match VERSION (see 'quadrature config get') and -force")
		}
		req, err := loadConfigFiles(pos)
		if err != nil {
			return err
		}
		res, err := c.PutConfigOpts(ctx, req, *ifMatch, client.PutOptions{AllowEmpty: *allowEmpty})
		if errors.Is(err, api.ErrConflict) {
			return fmt.Errorf("%w\n(someone changed the configuration: get it again, merge, retry)", err)
		}
		if err != nil {
			return err
		}
		if f.json() {
			return writeJSONOut(stdout, res)
		}
		fmt.Fprintf(stdout, "configuration version %d applied\n", res.Version)
		printWarnings(stderr, res.Warnings)
		return nil
	})
}

const configValidateUsage = `Usage: quadrature config validate [flags] MAIN [INCLUDE...]
  Validate a configuration with the group's validator without applying it.
  Exits 0 when valid, 1 with every error as FILE:LINE otherwise.
`

func configValidate(args []string, stdout, stderr io.Writer) int {
	f := newAPIFlags("config validate", configValidateUsage, stdout, stderr)
	return f.run(args, 1, -1, func(ctx context.Context, c *client.Client, pos []string) error {
		req, err := loadConfigFiles(pos)
		if err != nil {
			return err
		}
		res, err := c.ValidateConfig(ctx, req)
		if err != nil {
			return err
		}
		if f.json() {
			return writeJSONOut(stdout, res)
		}
		fmt.Fprintf(stdout, "configuration valid (running version %d)\n", res.Version)
		if res.Diff == "" {
			fmt.Fprintln(stdout, "no change from the running configuration")
		} else {
			printChanges(stdout, res.Changes)
			fmt.Fprint(stdout, res.Diff)
		}
		printWarnings(stderr, res.Warnings)
		return nil
	})
}

// printChanges lists the instances and virtual servers a validated
// configuration adds, removes or changes, one line per kind.
func printChanges(w io.Writer, c *api.ConfigChanges) {
	if c.Empty() {
		return
	}
	for _, l := range []struct {
		what  string
		names []string
	}{
		{"vrrp_instance added", c.InstancesAdded}, {"vrrp_instance removed", c.InstancesRemoved},
		{"vrrp_instance changed", c.InstancesChanged}, {"virtual_server added", c.VirtualServersAdded},
		{"virtual_server removed", c.VirtualServersRemoved}, {"virtual_server changed", c.VirtualServersChanged},
	} {
		if len(l.names) > 0 {
			fmt.Fprintf(w, "%s: %s\n", l.what, strings.Join(l.names, ", "))
		}
	}
}

func printWarnings(w io.Writer, ws []api.ConfigError) {
	for _, x := range ws {
		pos := x.File
		if x.File != "" && x.Line > 0 {
			pos = fmt.Sprintf("%s:%d", x.File, x.Line)
		}
		fmt.Fprintln(w, config.FormatDiagnostic(pos, x.Message, true))
	}
}

// loadConfigFiles reads MAIN and its includes into a request; include names
// are relative to MAIN's directory, as the include lines write them.
func loadConfigFiles(paths []string) (api.ConfigRequest, error) {
	dir := filepath.Dir(paths[0])
	req := api.ConfigRequest{Main: filepath.Base(paths[0]), Files: map[string]string{}}
	total := 0
	for i, p := range paths {
		name := filepath.Base(p)
		if i > 0 {
			rel, err := filepath.Rel(dir, p)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return req, fmt.Errorf("%s: includes must live under the main file's directory %s", p, dir)
			}
			name = filepath.ToSlash(rel)
		}
		if _, dup := req.Files[name]; dup {
			return req, fmt.Errorf("%s: given twice", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return req, fileError(err)
		}
		total += len(data)
		if total > api.MaxConfigBody {
			return req, fmt.Errorf("configuration larger than %d bytes", api.MaxConfigBody)
		}
		req.Files[name] = string(data)
	}
	return req, nil
}
