package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"quadrature/api"
	"quadrature/api/client"
)

func init() {
	register(command{name: "drain", summary: "drain a real server: weight 0 on every node (API client)", run: runDrain})
	register(command{name: "undrain", summary: "undo a drain (API client)", run: runUndrain})
	register(command{name: "maintenance", summary: "switch a node's maintenance mode on or off (API client)", run: runMaintenance})
	register(command{name: "transfer", summary: "move a VRRP instance and its VIPs to a node (API client)", run: runTransfer})
	register(command{name: "raft", summary: "list or change the raft membership, take a snapshot (API client)", run: runRaft})
}

const drainUsage = `Usage: quadrature drain [flags] VS RS
  Drain real server RS of virtual service VS on every node: weight 0, so
  existing connections finish and no new ones arrive. VS and RS are the IDs
  shown by 'quadrature list -o json' (e.g. tcp/192.0.2.100:3128 and
  198.51.100.11:3128); a bare VS ADDR:PORT works when only one protocol
  uses it. Draining twice is not an error.
`

const undrainUsage = `Usage: quadrature undrain [flags] VS RS
  Undo 'quadrature drain'. Undraining twice is not an error.
`

func runDrain(args []string, stdout, stderr io.Writer) int {
	return drainCmd("drain", true, args, stdout, stderr)
}

func runUndrain(args []string, stdout, stderr io.Writer) int {
	return drainCmd("undrain", false, args, stdout, stderr)
}

func drainCmd(name string, drained bool, args []string, stdout, stderr io.Writer) int {
	usage := drainUsage
	if !drained {
		usage = undrainUsage
	}
	f := newAPIFlags(name, usage, stdout, stderr)
	return f.run(args, 2, 2, func(ctx context.Context, c *client.Client, pos []string) error {
		vs, err := resolveVS(ctx, c, pos[0])
		if err != nil {
			return err
		}
		pos[0] = vs
		if drained {
			err = c.Drain(ctx, pos[0], pos[1])
		} else {
			err = c.Undrain(ctx, pos[0], pos[1])
		}
		if err != nil {
			return err
		}
		return done(f, stdout, fmt.Sprintf("%sed %s in %s", name, pos[1], pos[0]))
	})
}

// resolveVS accepts a virtual service as its ID (tcp/192.0.2.100:3128,
// fwmark/1) or, for convenience, as the bare ADDR:PORT when exactly one
// service has that address.
func resolveVS(ctx context.Context, c *client.Client, vs string) (string, error) {
	ap, err := netip.ParseAddrPort(vs)
	if err != nil {
		return vs, nil // an ID, or something the server will refuse
	}
	svcs, err := c.Services(ctx)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, s := range svcs.Services {
		if s.ID == vs {
			return vs, nil
		}
		if s.Addr == ap {
			ids = append(ids, s.ID)
		}
	}
	switch len(ids) {
	case 0:
		return vs, nil
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%s is ambiguous: %s", vs, strings.Join(ids, ", "))
}

// done prints the outcome of a write.
func done(f *apiFlags, stdout io.Writer, msg string) error {
	if f.json() {
		return writeJSONOut(stdout, api.OK{OK: true})
	}
	_, err := fmt.Fprintln(stdout, msg)
	return err
}

const maintenanceUsage = `Usage: quadrature maintenance [flags] NODE on|off
  Switch maintenance mode of NODE. A node in maintenance gives up its VIPs
  and is left out of the placement until switched off.
`

func runMaintenance(args []string, stdout, stderr io.Writer) int {
	f := newAPIFlags("maintenance", maintenanceUsage, stdout, stderr)
	return f.run(args, 2, 2, func(ctx context.Context, c *client.Client, pos []string) error {
		var on bool
		switch pos[1] {
		case "on", "true", "1":
			on = true
		case "off", "false", "0":
		default:
			return fmt.Errorf("want on or off, got %q", pos[1])
		}
		if err := c.Maintenance(ctx, pos[0], on); err != nil {
			return err
		}
		return done(f, stdout, fmt.Sprintf("maintenance %s for %s", pos[1], pos[0]))
	})
}

const transferUsage = `Usage:
  quadrature transfer [flags] INSTANCE NODE
  quadrature transfer [flags] -clear INSTANCE
  Ask the group to make NODE the master of VRRP instance INSTANCE (its VIPs
  move with a priority change and VRRP preemption); the transfer holds until
  it is cleared (-clear), after which the placement decides again.
`

func runTransfer(args []string, stdout, stderr io.Writer) int {
	f := newAPIFlags("transfer", transferUsage, stdout, stderr)
	clear := f.fs.Bool("clear", false, "clear the transfer of INSTANCE")
	check := func(pos []string) string {
		switch {
		case *clear && len(pos) != 1:
			return fmt.Sprintf("-clear takes INSTANCE only, got %d arguments", len(pos))
		case !*clear && len(pos) != 2:
			return fmt.Sprintf("want INSTANCE NODE (or -clear INSTANCE), got %d arguments", len(pos))
		}
		return ""
	}
	return f.runChecked(args, check, func(ctx context.Context, c *client.Client, pos []string) error {
		if *clear {
			if err := c.Transfer(ctx, pos[0], ""); err != nil {
				return err
			}
			return done(f, stdout, fmt.Sprintf("transfer of %s cleared", pos[0]))
		}
		if err := c.Transfer(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		return done(f, stdout, fmt.Sprintf("transfer of %s to %s requested", pos[0], pos[1]))
	})
}

const raftUsage = `Usage:
  quadrature raft list [flags]
  quadrature raft add-voter [flags] NAME ADDR
  quadrature raft add-witness [flags] NAME ADDR
  quadrature raft remove [flags] NAME
  quadrature raft snapshot [flags]
ADDR is the host:port of the node's raft transport. A witness runs raft and
memberlist only, to give two directors a quorum.
`

func runRaft(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, raftUsage)
		return 2
	}
	verb, rest := args[0], args[1:]
	f := newAPIFlags("raft "+verb, raftUsage, stdout, stderr)
	switch verb {
	case "list":
		f.reads = true
		return f.run(rest, 0, 0, func(ctx context.Context, c *client.Client, _ []string) error {
			srv, err := c.RaftServers(ctx)
			if err != nil {
				return err
			}
			if f.json() {
				return writeJSONOut(stdout, api.RaftServersBody{Servers: srv})
			}
			rows := [][]string{{"NAME", "ADDR", "SUFFRAGE", "ROLE", "LEADER"}}
			for _, s := range srv {
				rows = append(rows, []string{s.Name, s.Addr, s.Suffrage, s.Role, yesNo(s.Leader)})
			}
			table(stdout, rows)
			return nil
		})
	case "add-voter", "add-witness":
		return f.run(rest, 2, 2, func(ctx context.Context, c *client.Client, pos []string) error {
			add, kind := c.AddVoter, "voter"
			if verb == "add-witness" {
				add, kind = c.AddWitness, "witness"
			}
			if err := add(ctx, pos[0], pos[1]); err != nil {
				return err
			}
			return done(f, stdout, fmt.Sprintf("added %s %s at %s", kind, pos[0], pos[1]))
		})
	case "remove":
		return f.run(rest, 1, 1, func(ctx context.Context, c *client.Client, pos []string) error {
			if err := c.RemoveServer(ctx, pos[0]); err != nil {
				return err
			}
			return done(f, stdout, "removed "+pos[0])
		})
	case "snapshot":
		return f.run(rest, 0, 0, func(ctx context.Context, c *client.Client, _ []string) error {
			if err := c.Snapshot(ctx); err != nil {
				return err
			}
			return done(f, stdout, "snapshot taken")
		})
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, raftUsage)
		return 0
	}
	fmt.Fprintf(stderr, "quadrature raft: unknown subcommand %s (list, add-voter, add-witness, remove, snapshot)\n", strconv.Quote(verb))
	return 2
}
