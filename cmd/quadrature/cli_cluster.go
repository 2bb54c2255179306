package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"quadrature/api/client"
	"quadrature/cluster/credentials"
)

func init() {
	register(command{name: "cluster", summary: "group credentials: init (CA, node certificates, gossip key, tokens), issue, revoke", run: runCluster})
}

const clusterUsage = `Usage:
  quadrature cluster init  -dir DIR NAME=ADDR[,ADDR...] ...
  quadrature cluster issue -dir DIR NAME=ADDR[,ADDR...]
  quadrature cluster revoke [-api ADDR ...] NAME
  quadrature cluster unrevoke [-api ADDR ...] NAME

init writes a new group's credentials into DIR: a certificate authority
dedicated to the group (DIR/ca.crt, DIR/ca.key), a gossip key, an admin
and a read-only API token, and for each node a directory DIR/NAME holding
what that node needs. Copy DIR/NAME to the node (e.g. to
/etc/quadrature/credentials, mode 0700) and add one line to the cluster
block:

    credentials /etc/quadrature/credentials

Keep DIR/ca.key off the nodes: it is needed only to issue certificates.
issue adds a node to an existing group's DIR. revoke puts a node name on
the group's deny list (its certificate is refused by every node and it is
removed from the Raft configuration); unrevoke takes it off.
`

func runCluster(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, clusterUsage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, clusterUsage)
		return 0
	case "init", "issue":
		return runClusterIssue(args[0], args[1:], stdout, stderr)
	case "revoke", "unrevoke":
		return runClusterRevoke(args[0], args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "quadrature cluster: unknown subcommand %q\n\n%s", args[0], clusterUsage)
	return 2
}

func runClusterIssue(sub string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("quadrature cluster "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), clusterUsage, "\nFlags:\n"); fs.PrintDefaults() }
	dir := fs.String("dir", "", "credentials `directory` of the group (required)")
	validity := fs.Duration("node-validity", 0, "validity of node certificates (default 5 years)")
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *dir == "" {
		fmt.Fprintf(stderr, "quadrature cluster %s: -dir is required\n", sub)
		return 2
	}
	if len(pos) == 0 || (sub == "issue" && len(pos) != 1) {
		fmt.Fprintf(stderr, "quadrature cluster %s: name %s node as NAME=ADDR[,ADDR...]\n", sub, map[bool]string{true: "one", false: "each"}[sub == "issue"])
		return 2
	}
	var nodes []credentials.Node
	for _, p := range pos {
		n, err := credentials.ParseNode(p)
		if err != nil {
			fmt.Fprintf(stderr, "quadrature cluster %s: %v\n", sub, err)
			return 2
		}
		nodes = append(nodes, n)
	}
	opts := credentials.Options{NodeValidity: *validity}
	var err error
	if sub == "init" {
		err = credentials.Init(*dir, nodes, opts)
	} else {
		err = credentials.Issue(*dir, nodes[0], opts)
	}
	if err != nil {
		fmt.Fprintf(stderr, "quadrature cluster %s: %v\n", sub, err)
		return 1
	}
	for _, n := range nodes {
		fmt.Fprintf(stdout, "%s: copy %s to %s:/etc/quadrature/credentials (mode 0700)\n", n.Name, filepath.Join(*dir, n.Name), n.Name)
	}
	fmt.Fprintf(stdout, "\nIn the cluster block of every node:\n    credentials /etc/quadrature/credentials\n")
	if sub == "init" {
		fmt.Fprintf(stdout, "Keep %s off the nodes; the admin token is in %s.\n",
			filepath.Join(*dir, credentials.CAKeyFile), filepath.Join(*dir, credentials.TokenFile))
	}
	return 0
}

func runClusterRevoke(sub string, args []string, stdout, stderr io.Writer) int {
	f := newAPIFlags("cluster "+sub, "Usage: quadrature cluster "+sub+" [flags] NAME\n", stdout, stderr)
	revoke := sub == "revoke"
	return f.run(args, 1, 1, func(ctx context.Context, c *client.Client, pos []string) error {
		name := strings.TrimSpace(pos[0])
		if err := credentials.CheckName(name); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.Revoke(cctx, name, revoke); err != nil {
			return err
		}
		if revoke {
			fmt.Fprintf(stdout, "%s revoked: its certificate is refused by every node\n", name)
		} else {
			fmt.Fprintf(stdout, "%s is no longer revoked\n", name)
		}
		return nil
	})
}
