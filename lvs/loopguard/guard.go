package loopguard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"sync"
	"syscall"

	"github.com/google/nftables"
	"github.com/prometheus/client_golang/prometheus"

	"quadrature/lvs"
)

// DefaultTableName is the inet table the guard owns when Options.TableName
// is empty.
const DefaultTableName = "quadrature_aa"

// Options configure a Guard.
type Options struct {
	// TableName is the inet table the guard owns (default
	// "quadrature_aa"). It must differ from the nftables load-balancing
	// backend's table; no other table is read or written.
	TableName string
	// NetNSPath, when set, is a network namespace file (for example
	// /run/netns/NAME) to program instead of the caller's namespace.
	NetNSPath string
	// Logger receives one line per change or repair (nil: slog.Default()).
	Logger *slog.Logger
	// Registerer, when set, receives the guard's metrics (metrics.go).
	Registerer prometheus.Registerer
}

var tableNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)

// Guard owns one nftables table that keeps peer-forwarded packets away
// from IPVS. Its methods are safe for concurrent use (they serialize).
type Guard struct {
	mu      sync.Mutex
	opts    Options
	log     *slog.Logger
	ns      *os.File
	conn    *nftables.Conn
	table   *nftables.Table
	metrics *metrics
}

// New opens the nf_tables netlink handle (in Options.NetNSPath when set)
// and checks that the kernel answers. The error wraps lvs.ErrUnavailable
// when the kernel has no nf_tables or the process lacks CAP_NET_ADMIN. It
// does not touch the table; Set does.
func New(opts Options) (*Guard, error) {
	if opts.TableName == "" {
		opts.TableName = DefaultTableName
	}
	if !tableNameRE.MatchString(opts.TableName) {
		return nil, fmt.Errorf("loopguard: invalid table name %q", opts.TableName)
	}
	g := &Guard{opts: opts, log: opts.Logger}
	if g.log == nil {
		g.log = slog.Default()
	}
	g.log = g.log.With("component", "loopguard", "table", opts.TableName)
	var copts []nftables.ConnOption
	copts = append(copts, nftables.AsLasting())
	if opts.NetNSPath != "" {
		f, err := os.Open(opts.NetNSPath)
		if err != nil {
			return nil, fmt.Errorf("loopguard: open netns: %w", err)
		}
		g.ns = f
		copts = append(copts, nftables.WithNetNSFd(int(f.Fd())))
	}
	conn, err := nftables.New(copts...)
	if err != nil {
		g.closeHandles()
		return nil, classify("open nftables", err)
	}
	g.conn = conn
	g.table = &nftables.Table{Name: opts.TableName, Family: nftables.TableFamilyINet}
	if _, err := conn.ListTablesOfFamily(nftables.TableFamilyINet); err != nil {
		g.closeHandles()
		return nil, classify("probe", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		g.closeHandles()
		return nil, err
	}
	g.metrics = m
	return g, nil
}

// classify wraps err with lvs.ErrUnavailable when nf_tables cannot be
// used at all (no permission, no kernel support).
func classify(op string, err error) error {
	for _, e := range []error{syscall.EPERM, syscall.EACCES, syscall.EPROTONOSUPPORT, syscall.EAFNOSUPPORT, syscall.EOPNOTSUPP} {
		if errors.Is(err, e) {
			return fmt.Errorf("loopguard: %s: %w: %w", op, lvs.ErrUnavailable, err)
		}
	}
	return fmt.Errorf("loopguard: %s: %w", op, err)
}

// State is what the kernel holds, as Read decodes it.
type State struct {
	// Present reports whether the table exists.
	Present bool
	// Desired is what the table implements: peers and the targets whose
	// rules are exactly right (a damaged rule is left out).
	Desired Desired
	// Drift lists every difference from a table the guard would write
	// (extra or damaged chains, sets or rules); empty when it is intact.
	Drift []string
	// Packets counts, per target, the packets the guard rewrote since its
	// rule was written (first packets of connections: NAT rules see only
	// the packet that creates the conntrack entry).
	Packets map[Target]uint64
}

// Read dumps the owned table and decodes it.
func (g *Guard) Read(ctx context.Context) (State, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.read(ctx)
}

func (g *Guard) read(ctx context.Context) (State, error) {
	var st State
	if g.conn == nil {
		return st, errors.New("loopguard: closed")
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	tables, err := g.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return st, classify("list tables", err)
	}
	for _, t := range tables {
		if t.Name == g.table.Name {
			st.Present = true
		}
	}
	if !st.Present {
		return st, nil
	}
	chains, err := g.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return st, classify("list chains", err)
	}
	var ours *nftables.Chain
	for _, c := range chains {
		if c.Table == nil || c.Table.Name != g.table.Name {
			continue
		}
		if c.Name != chainName || ours != nil {
			st.Drift = append(st.Drift, fmt.Sprintf("unexpected chain %q", c.Name))
			continue
		}
		ours = c
	}
	if ours == nil {
		st.Drift = append(st.Drift, "chain "+chainName+" missing")
	} else if ours.Type != nftables.ChainTypeNAT || ours.Hooknum == nil || *ours.Hooknum != *nftables.ChainHookPrerouting ||
		ours.Priority == nil || *ours.Priority != *natPriority || (ours.Policy != nil && *ours.Policy != nftables.ChainPolicyAccept) {
		st.Drift = append(st.Drift, "chain "+chainName+" is not a nat prerouting chain at priority dstnat with policy accept")
	}
	sets, err := g.conn.GetSets(g.table)
	if err != nil {
		return st, classify("list sets", err)
	}
	var peers *nftables.Set
	for _, s := range sets {
		if s.Name != setName || peers != nil {
			st.Drift = append(st.Drift, fmt.Sprintf("unexpected set %q", s.Name))
			continue
		}
		peers = s
	}
	if peers == nil {
		st.Drift = append(st.Drift, "set "+setName+" missing")
	} else {
		if peers.KeyType.Name != nftables.TypeEtherAddr.Name || peers.Anonymous || peers.Constant || peers.Interval || peers.IsMap || peers.HasTimeout {
			st.Drift = append(st.Drift, "set "+setName+" is not a plain ether_addr set")
		}
		els, err := g.conn.GetSetElements(peers)
		if err != nil {
			return st, classify("list set elements", err)
		}
		for _, e := range els {
			if len(e.Key) != 6 {
				st.Drift = append(st.Drift, fmt.Sprintf("set %s: element of %d bytes", setName, len(e.Key)))
				continue
			}
			st.Desired.Peers = append(st.Desired.Peers, net.HardwareAddr(slices.Clone(e.Key)))
		}
		slices.SortFunc(st.Desired.Peers, func(a, b net.HardwareAddr) int { return bytes.Compare(a, b) })
	}
	if ours != nil {
		rules, err := g.conn.GetRules(g.table, ours)
		if err != nil {
			return st, classify("list rules", err)
		}
		st.Packets = map[Target]uint64{}
		for _, r := range rules {
			t, err := decodeRule(r)
			if err != nil {
				st.Drift = append(st.Drift, err.Error())
				continue
			}
			st.Desired.Targets = append(st.Desired.Targets, t)
			st.Packets[t], _ = counterOf(r.Exprs)
		}
	}
	return st, nil
}

// Set makes the owned table implement d, in one atomic batch, and only
// when the kernel differs (the desired state, or drift found by reading
// the table back: a damaged or extra rule, chain or set, a changed
// element). An empty d (no peer or no target) removes the table, so a
// node without peers pays no connection tracking for it. An invalid d is
// an error and leaves the kernel untouched.
func (g *Guard) Set(ctx context.Context, d Desired) error {
	want, err := d.Normalize()
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st, err := g.read(ctx)
	if err != nil {
		return err
	}
	if want.Empty() {
		if !st.Present {
			return nil
		}
		if err := g.remove(); err != nil {
			return err
		}
		g.log.Info("loopguard table removed (no peers or no local DR service)")
		g.metrics.write("remove")
		g.metrics.set(want)
		return nil
	}
	if st.Present && len(st.Drift) == 0 && st.Desired.Equal(want) {
		g.metrics.set(want)
		return nil
	}
	reason := "change"
	if len(st.Drift) > 0 {
		reason = "drift"
		g.log.Warn("loopguard table drifted, rewriting it", "drift", st.Drift)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := program(g.conn, g.table, want, st.Present); err != nil {
		return err
	}
	if err := g.conn.Flush(); err != nil {
		return classify("write", err)
	}
	g.log.Info("loopguard table written", "reason", reason, "peers", len(want.Peers), "targets", len(want.Targets), "desired", want.String())
	g.metrics.write(reason)
	g.metrics.set(want)
	return nil
}

func (g *Guard) remove() error {
	g.conn.AddTable(g.table)
	g.conn.DelTable(g.table)
	if err := g.conn.Flush(); err != nil {
		return classify("delete table", err)
	}
	return nil
}

// Close removes the owned table and releases the netlink handle: call it
// when this node stops being an active-active director for good (it
// leaves the cluster, or the feature is turned off). Peer-forwarded
// packets then reach IPVS again (or are dropped when the VIP is not
// local). For an ordinary stop or restart use Detach. It is safe to call
// more than once.
func (g *Guard) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conn == nil {
		return nil
	}
	var errs []error
	st, err := g.read(context.Background())
	if err != nil {
		errs = append(errs, err)
	} else if st.Present {
		if err := g.remove(); err != nil {
			errs = append(errs, err)
		} else {
			g.log.Info("loopguard table removed on close")
		}
	}
	errs = append(errs, g.closeHandles())
	return errors.Join(errs...)
}

// Detach releases the netlink handle and leaves the table in place: what
// an agent does when it stops or restarts while the node goes on serving.
// Its peers keep forwarding connections to this node as long as its
// application passes their health checks, and those packets must still
// reach the application; a later Set (by the next agent) adopts the
// table. Safe to call more than once, and after Close.
func (g *Guard) Detach() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closeHandles()
}

func (g *Guard) closeHandles() error {
	var errs []error
	if g.conn != nil {
		errs = append(errs, g.conn.CloseLasting())
		g.conn = nil
	}
	if g.ns != nil {
		errs = append(errs, g.ns.Close())
		g.ns = nil
	}
	return errors.Join(errs...)
}
