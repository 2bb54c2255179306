package nftables

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"quadrature/lvs"
)

// Masquerade selects source NAT for balanced connections.
type Masquerade uint8

const (
	// MasqueradeDNAT (the default) masquerades every connection this
	// backend DNATed, so replies return through the director even when it
	// is not the real servers' default gateway (real servers then see the
	// director's address, not the client's).
	MasqueradeDNAT Masquerade = iota
	// MasqueradeOff leaves source addresses alone: the director must be on
	// the real servers' return path (their default gateway), like IPVS NAT.
	MasqueradeOff
)

func (m Masquerade) String() string {
	switch m {
	case MasqueradeDNAT:
		return "dnat"
	case MasqueradeOff:
		return "off"
	}
	return fmt.Sprintf("masquerade-%d", uint8(m))
}

// ParseMasquerade parses the names String returns ("dnat", "off"), for
// configuration.
func ParseMasquerade(s string) (Masquerade, error) {
	for _, m := range []Masquerade{MasqueradeDNAT, MasqueradeOff} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("nftables backend: masquerade %q: want dnat or off", s)
}

// DefaultTableName is the table used when Options.TableName is empty.
const DefaultTableName = "quadrature"

// Options configure a DataPlane.
type Options struct {
	// TableName is the inet table this backend owns (default
	// "quadrature"). No other table is ever read or written.
	TableName string
	// NetNSPath, when set, is a network namespace file (for example
	// /run/netns/NAME) to program instead of the caller's namespace.
	NetNSPath string
	// Masquerade selects source NAT of balanced connections.
	Masquerade Masquerade
	// Logger receives warnings (nil: slog.Default()).
	Logger *slog.Logger
}

var tableNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)

// DataPlane programs the lvs table model into one nftables table. It
// implements lvs.DataPlane; like every DataPlane it is used by one
// goroutine at a time.
type DataPlane struct {
	opts Options
	log  *slog.Logger
	ns   *os.File
	nl   *netlink.Conn // reads: dumps, element lookups, the generation
	wr   *netlink.Conn // writes: one batch per Apply
	seq  uint32        // last sequence number used on wr

	// cur is the table as last read or written (the base of the next
	// Apply's diff) and curTable its services; gen is the ruleset
	// generation at which cur is known to be the kernel's (0: unknown,
	// the next Apply reads the table first).
	cur      *state
	curTable lvs.Table
	gen      uint32
	dirty    bool   // cur came from a read: the next Apply diffs the whole table
	lastSvc  uint32 // highest service ID handed out
	lastDest uint32 // highest destination ID handed out

	warnedTimeouts bool
}

var (
	_ lvs.DataPlane   = (*DataPlane)(nil)
	_ lvs.SliceReader = (*DataPlane)(nil)
)

// New opens netlink handles and checks that nf_tables answers. The error
// wraps lvs.ErrUnavailable when the kernel has no nf_tables or the process
// lacks CAP_NET_ADMIN. It does not create the table; the first Apply does.
func New(opts Options) (*DataPlane, error) {
	if opts.TableName == "" {
		opts.TableName = DefaultTableName
	}
	if !tableNameRE.MatchString(opts.TableName) {
		return nil, fmt.Errorf("nftables backend: invalid table name %q", opts.TableName)
	}
	if opts.Masquerade > MasqueradeOff {
		return nil, fmt.Errorf("nftables backend: invalid masquerade mode %d", opts.Masquerade)
	}
	dp := &DataPlane{opts: opts, log: opts.Logger}
	if dp.log == nil {
		dp.log = slog.Default()
	}
	dp.log = dp.log.With("backend", "nftables", "table", opts.TableName)
	nsfd := 0
	if opts.NetNSPath != "" {
		f, err := os.Open(opts.NetNSPath)
		if err != nil {
			return nil, fmt.Errorf("nftables backend: open netns: %w", err)
		}
		dp.ns = f
		nsfd = int(f.Fd())
	}
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsfd})
	if err != nil {
		dp.Close()
		return nil, classify("open netlink", err)
	}
	dp.nl = nl
	if err := growBuffers(nl); err != nil {
		dp.log.Warn("cannot grow the netlink buffers; large reads may fail", "err", err)
	}
	wr, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsfd})
	if err != nil {
		dp.Close()
		return nil, classify("open netlink", err)
	}
	dp.wr = wr
	if err := growBuffers(wr); err != nil {
		dp.log.Warn("cannot grow the netlink buffers; large batches may fail", "err", err)
	}
	if err := wr.SetOption(netlink.ExtendedAcknowledge, true); err != nil {
		dp.log.Debug("no extended acknowledgements", "err", err)
	}
	if _, err := getGen(dp.nl); err != nil {
		dp.Close()
		return nil, classify("probe", err)
	}
	return dp, nil
}

// batchBuffer bounds the size of one Apply batch: the kernel takes a
// batch in one sendmsg, so the send buffer must hold it whole (the
// reconciler splits plans into parts of 4,096 operations, about 1 MiB;
// one service of 50,000 destinations is about 9 MiB).
const batchBuffer = 256 << 20

// growBuffers raises the socket buffers past net.core.{w,r}mem_max (as
// nft does), falling back to the capped setting without CAP_NET_ADMIN.
func growBuffers(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}, {unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], batchBuffer); e != nil {
				if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], batchBuffer); e != nil && serr == nil {
					serr = e
				}
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// classify wraps err with lvs.ErrUnavailable when it means that nf_tables
// cannot be used at all (no permission, no kernel support).
func classify(op string, err error) error {
	for _, e := range []error{syscall.EPERM, syscall.EACCES, syscall.EPROTONOSUPPORT, syscall.EAFNOSUPPORT, syscall.EOPNOTSUPP} {
		if errors.Is(err, e) {
			return fmt.Errorf("nftables backend: %s: %w: %w", op, lvs.ErrUnavailable, err)
		}
	}
	return fmt.Errorf("nftables backend: %s: %w", op, err)
}

// Name returns "nftables".
func (dp *DataPlane) Name() string { return "nftables" }

// Supports reports whether s can be programmed exactly; see CheckService.
func (dp *DataPlane) Supports(s lvs.Service) error { return CheckService(s) }

// Close releases the netlink handles.
func (dp *DataPlane) Close() error {
	var errs []error
	if dp.wr != nil {
		errs = append(errs, dp.wr.Close())
		dp.wr = nil
	}
	if dp.nl != nil {
		errs = append(errs, dp.nl.Close())
		dp.nl = nil
	}
	if dp.ns != nil {
		errs = append(errs, dp.ns.Close())
		dp.ns = nil
	}
	return errors.Join(errs...)
}

// readState dumps the table (chains, rules, sets, map elements) and
// decodes it; with persist also the persistence maps. gen is the ruleset
// generation the dump belongs to, 0 if something committed during it.
func (dp *DataPlane) readState(ctx context.Context, persist bool) (st *state, gen uint32, err error) {
	if dp.nl == nil {
		return nil, 0, errors.New("nftables backend: closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	g0, err := getGen(dp.nl)
	if err != nil {
		return nil, 0, classify("read generation", err)
	}
	d, err := readDump(dp.nl, dp.opts.TableName, persist)
	if err != nil {
		return nil, 0, classify("read", err)
	}
	g1, err := getGen(dp.nl)
	if err != nil {
		return nil, 0, classify("read generation", err)
	}
	if g1 != g0 {
		g1 = 0
	}
	return decodeState(d, dp.opts.Masquerade == MasqueradeDNAT), g1, nil
}

// refresh reads the table and makes it the base of the next Apply.
func (dp *DataPlane) refresh(ctx context.Context) (*state, error) {
	st, gen, err := dp.readState(ctx, false)
	if err != nil {
		return nil, err
	}
	if st.Malformed > 0 {
		dp.log.Warn("ignoring malformed rule comments", "count", st.Malformed)
	}
	dp.cur, dp.curTable, dp.gen = st, st.Table(), gen
	// A table that holds exactly what its services need can be patched
	// service by service; anything else is diffed whole by the next Apply.
	dp.dirty = !st.clean(dp.curTable)
	return st, nil
}

// Read returns the services the table balances, reconstructed from the
// programmed rules and elements. A service whose rules or elements are
// incomplete or inconsistent is left out, so the reconciler re-adds (and
// thereby repairs) it.
func (dp *DataPlane) Read(ctx context.Context) (lvs.Table, error) {
	if _, err := dp.refresh(ctx); err != nil {
		return lvs.Table{}, err
	}
	return dp.curTable.Normalize(), nil // a copy: callers may keep it
}

// Stats reads the per-destination counters: Connections counts new
// connections scheduled to a destination, PacketsIn/BytesIn the packets
// from clients, PacketsOut/BytesOut the replies; ActiveConns and
// InactiveConns count its conntrack entries (ESTABLISHED TCP, others),
// PersistConns the live persistence entries (clients) that point at it.
// Rate estimates are not kept by this backend and stay zero.
func (dp *DataPlane) Stats(ctx context.Context) (map[lvs.ServiceKey]lvs.ServiceStats, error) {
	st, _, err := dp.readState(ctx, true)
	if err != nil {
		return nil, err
	}
	conns, err := readConntrack(dp.nl)
	if err != nil {
		return nil, classify("read conntrack", err)
	}
	return st.statsOf(conns), nil
}
