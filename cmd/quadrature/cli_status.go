package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"quadrature/api"
	"quadrature/api/client"
)

func init() {
	register(command{name: "status", summary: "show this node's status (API client)", run: runStatus})
	register(command{name: "members", summary: "list the group's members (API client)", run: runMembers})
	register(command{name: "list", summary: "show the live IPVS table with verdicts, like ipvsadm -Ln (API client)", run: runList})
}

const statusUsage = `Usage: quadrature status [flags]
  Show the node's status: leader, raft state, config version, applied index,
  kernel table digest, degraded and fenced flags, then its VRRP instances
  (-all: the instances of every member, asked through this node).
`

func runStatus(args []string, stdout, stderr io.Writer) int {
	f := newAPIFlags("status", statusUsage, stdout, stderr)
	f.reads = true
	all := f.fs.Bool("all", false, "show the VRRP instances of every member")
	return f.run(args, 0, 0, func(ctx context.Context, c *client.Client, _ []string) error {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		var nodes api.VRRPAllBody
		if *all {
			nodes, err = c.VRRPNodes(ctx, "all")
		} else {
			var one api.VRRPBody
			one, err = c.VRRP(ctx)
			nodes.Nodes = []api.VRRPNode{{Node: one.Node, Instances: one.Instances}}
		}
		if err != nil {
			return err
		}
		if f.json() {
			return writeJSONOut(stdout, struct {
				api.Status
				VRRP api.VRRPAllBody `json:"vrrp"`
			}{st, nodes})
		}
		leader := st.Leader
		if leader == "" {
			leader = "(none)"
		}
		table(stdout, [][]string{
			{"node", st.Node},
			{"leader", leader},
			{"raft state", st.RaftState},
			{"role", st.Role},
			{"config version", strconv.FormatUint(st.ConfigVersion, 10)},
			{"applied index", fmt.Sprintf("%d (commit %d)", st.AppliedIndex, st.CommitIndex)},
			{"table digest", st.TableDigest},
			{"degraded", yesNo(st.Degraded)},
			{"fenced", yesNo(st.Fenced)},
			{"members", strconv.Itoa(st.Members)},
			{"version", st.Version},
		})
		fmt.Fprintln(stdout)
		writeVRRPTable(stdout, nodes)
		return nil
	})
}

func writeVRRPTable(w io.Writer, b api.VRRPAllBody) {
	rows := [][]string{{"NODE", "INSTANCE", "VRID", "STATE", "PRIO", "MASTER", "VIPS"}}
	for _, n := range b.Nodes {
		if n.Error != "" {
			rows = append(rows, []string{n.Node, "-", "-", "?", "-", "-", "no answer: " + n.Error})
			continue
		}
		for _, i := range n.Instances {
			vips := make([]string, len(i.VIPs))
			for k, v := range i.VIPs {
				vips[k] = v.String()
			}
			prio := strconv.Itoa(i.Priority)
			if i.Priority != i.BasePriority {
				prio += fmt.Sprintf(" (base %d)", i.BasePriority)
			}
			rows = append(rows, []string{n.Node, i.Name, strconv.Itoa(int(i.VRID)), i.State, prio, i.Master, strings.Join(vips, " ")})
		}
	}
	table(w, rows)
}

const membersUsage = `Usage: quadrature members [flags]
  List the members of the group: liveness, role, raft suffrage, leader,
  applied index and kernel table digest (a differing digest means the
  node's IPVS table diverges).
`

func runMembers(args []string, stdout, stderr io.Writer) int {
	f := newAPIFlags("members", membersUsage, stdout, stderr)
	f.reads = true
	return f.run(args, 0, 0, func(ctx context.Context, c *client.Client, _ []string) error {
		ms, err := c.Members(ctx)
		if err != nil {
			return err
		}
		if f.json() {
			return writeJSONOut(stdout, api.MembersBody{Members: ms})
		}
		common := commonDigest(ms)
		rows := [][]string{{"NAME", "STATE", "ROLE", "SUFFRAGE", "LEADER", "APPLIED", "DIGEST", "ADDR", "API", "MAINT"}}
		for _, m := range ms {
			dg := shortDigest(m.TableDigest)
			if m.State == "alive" && m.TableDigest != "" && m.TableDigest != common {
				dg += " (diverges)"
			}
			applied := "-"
			if m.AppliedIndex != 0 {
				applied = strconv.FormatUint(m.AppliedIndex, 10)
			}
			rows = append(rows, []string{m.Name, m.State, m.Role, m.Suffrage, yesNo(m.Leader),
				applied, dg, m.Addr, m.APIAddr, yesNo(m.Maintenance)})
		}
		table(stdout, rows)
		return nil
	})
}

const listUsage = `Usage: quadrature list [flags]
  Print the node's live IPVS table in the ipvsadm -Ln layout, with the
  group's verdict for each real server and how many live reporters agree
  (e.g. "up 3/3"); drained real servers say so.
`

func runList(args []string, stdout, stderr io.Writer) int {
	f := newAPIFlags("list", listUsage, stdout, stderr)
	f.reads = true
	return f.run(args, 0, 0, func(ctx context.Context, c *client.Client, _ []string) error {
		svcs, err := c.Services(ctx)
		if err != nil {
			return err
		}
		if f.json() {
			return writeJSONOut(stdout, svcs)
		}
		writeIPVSList(stdout, svcs)
		return nil
	})
}

// writeIPVSList prints the table like ipvsadm -Ln, plus a Verdict column.
func writeIPVSList(w io.Writer, b api.ServicesBody) {
	switch b.Backend {
	case "", "ipvs": // ipvsadm's first line, for scripts that expect it
		fmt.Fprintf(w, "IP Virtual Server version 1.2.1 (node %s)\n", b.Node)
	default:
		fmt.Fprintf(w, "Load-balancing table of node %s (%s backend, not IPVS)\n", b.Node, b.Backend)
	}
	fmt.Fprintln(w, "Prot LocalAddress:Port Scheduler Flags")
	fmt.Fprintln(w, "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn  Verdict")
	svcs := append([]api.VirtualService(nil), b.Services...)
	sort.SliceStable(svcs, func(i, j int) bool { return vsLess(svcs[i], svcs[j]) })
	for _, vs := range svcs {
		line := ""
		if vs.FWMark != 0 {
			line = fmt.Sprintf("FWM  %d %s", vs.FWMark, vs.Scheduler)
		} else {
			line = fmt.Sprintf("%s  %s %s", strings.ToUpper(vs.Protocol), vs.Addr, vs.Scheduler)
		}
		if vs.Flags != "" {
			line += " " + vs.Flags
		}
		fmt.Fprintln(w, line)
		rss := append([]api.RealServer(nil), vs.RealServers...)
		sort.SliceStable(rss, func(i, j int) bool { return rss[i].Addr.Compare(rss[j].Addr) < 0 })
		for _, rs := range rss {
			verdict := fmt.Sprintf("%s %d/%d", rs.Verdict, rs.Agreeing, rs.Reporters)
			if rs.Drained {
				verdict += " drained"
			}
			addr := rs.ID
			if rs.Addr.IsValid() {
				addr = rs.Addr.String()
			}
			fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d %s\n", addr, rs.Forward, rs.Weight,
				rs.Counters.ActiveConns, rs.Counters.InactiveConns, verdict)
		}
	}
}

// vsLess orders like ipvsadm: address services by protocol and address,
// then firewall-mark services.
func vsLess(a, b api.VirtualService) bool {
	if (a.FWMark != 0) != (b.FWMark != 0) {
		return a.FWMark == 0
	}
	if a.FWMark != b.FWMark {
		return a.FWMark < b.FWMark
	}
	if a.Protocol != b.Protocol {
		return a.Protocol < b.Protocol
	}
	return a.Addr.Compare(b.Addr) < 0
}

// commonDigest is the table digest most alive directors report (ties go
// to the smaller digest, so the choice is stable); a member whose digest
// differs from it diverges.
func commonDigest(ms []api.Member) string {
	count := map[string]int{}
	for _, m := range ms {
		if m.State == "alive" && m.TableDigest != "" {
			count[m.TableDigest]++
		}
	}
	best, n := "", 0
	for d, c := range count {
		if c > n || (c == n && d < best) {
			best, n = d, c
		}
	}
	return best
}

// shortDigest abbreviates a digest for tables, like a git hash.
func shortDigest(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}
