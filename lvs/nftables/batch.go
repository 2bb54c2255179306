package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The write side encodes nf_tables messages itself (the library's Conn
// waits for one acknowledgement per message, one receive each, and cannot
// describe typeof maps): a batch is one buffer, BATCH_BEGIN (carrying the
// ruleset generation it was computed against) ... BATCH_END, sent with one
// sendmsg. The kernel processes a batch synchronously inside sendmsg, so
// once it returns every error is already queued on the socket: no
// acknowledgements are requested, and the socket is drained without
// blocking, as nft does.

// maxElemBytes bounds the encoded elements of one NEWSETELEM/DELSETELEM
// message: an element list is one netlink attribute, whose length field
// has 16 bits.
const maxElemBytes = 48 << 10

// nlBatch accumulates the messages of one transaction.
type nlBatch struct {
	table string
	buf   []byte
	seq   uint32
	first uint32
	what  map[uint32]string // sequence → description, for errors
	n     int               // messages between begin and end
	err   error
}

// newBatch starts a batch whose messages are numbered after seq (seq+1
// is the batch begin message).
func newBatch(table string, seq uint32) *nlBatch {
	return &nlBatch{table: table, seq: seq + 1, first: seq, what: map[uint32]string{}}
}

// attrs is an append-only netlink attribute encoder.
type attrs []byte

func (a attrs) put(typ uint16, data []byte) attrs {
	l := 4 + len(data)
	a = binary.NativeEndian.AppendUint16(a, uint16(l))
	a = binary.NativeEndian.AppendUint16(a, typ)
	a = append(a, data...)
	for l%4 != 0 {
		a = append(a, 0)
		l++
	}
	return a
}

func (a attrs) str(typ uint16, s string) attrs {
	a = binary.NativeEndian.AppendUint16(a, uint16(4+len(s)+1))
	a = binary.NativeEndian.AppendUint16(a, typ)
	a = append(a, s...)
	a = append(a, 0)
	for len(a)%4 != 0 {
		a = append(a, 0)
	}
	return a
}

func (a attrs) u32(typ uint16, v uint32) attrs {
	return a.put(typ, binary.BigEndian.AppendUint32(nil, v))
}

// nest starts a nested attribute; end closes it.
func (a attrs) nest(typ uint16) (attrs, int) {
	at := len(a)
	a = binary.NativeEndian.AppendUint16(a, 0)
	a = binary.NativeEndian.AppendUint16(a, typ|unix.NLA_F_NESTED)
	return a, at
}

func (a attrs) end(at int) attrs {
	binary.NativeEndian.PutUint16(a[at:], uint16(len(a)-at))
	return a
}

// msg appends one message of type typ (an NFT_MSG_*) with body a.
func (b *nlBatch) msg(typ uint16, flags uint16, a attrs, what string) {
	b.raw(unix.NFNL_SUBSYS_NFTABLES<<8|typ, unix.NLM_F_REQUEST|flags, unix.NFPROTO_INET, 0, a, what)
	b.n++
}

func (b *nlBatch) raw(typ, flags uint16, family uint8, resID uint16, a attrs, what string) {
	b.seq++
	l := unix.NLMSG_HDRLEN + 4 + len(a)
	if l > 1<<31 {
		b.err = errors.New("netlink message too large")
		return
	}
	b.buf = binary.NativeEndian.AppendUint32(b.buf, uint32(l))
	b.buf = binary.NativeEndian.AppendUint16(b.buf, typ)
	b.buf = binary.NativeEndian.AppendUint16(b.buf, flags)
	b.buf = binary.NativeEndian.AppendUint32(b.buf, b.seq)
	b.buf = binary.NativeEndian.AppendUint32(b.buf, 0)
	b.buf = append(b.buf, family, unix.NFNETLINK_V0, byte(resID>>8), byte(resID))
	b.buf = append(b.buf, a...)
	for len(b.buf)%4 != 0 {
		b.buf = append(b.buf, 0)
	}
	if what != "" {
		b.what[b.seq] = what
	}
}

func (b *nlBatch) tableAttr() attrs { return attrs(nil).str(unix.NFTA_TABLE_NAME, b.table) }

func (b *nlBatch) addTable() {
	b.msg(unix.NFT_MSG_NEWTABLE, unix.NLM_F_CREATE, b.tableAttr(), "add table")
}
func (b *nlBatch) delTable() { b.msg(unix.NFT_MSG_DELTABLE, 0, b.tableAttr(), "delete table") }

// chainHook describes a base chain.
type chainHook struct {
	hook uint32
	prio int32
	typ  string
}

func (b *nlBatch) addChain(name string, h *chainHook) {
	a := attrs(nil).str(unix.NFTA_CHAIN_TABLE, b.table).str(unix.NFTA_CHAIN_NAME, name)
	if h != nil {
		var at int
		a, at = a.nest(unix.NFTA_CHAIN_HOOK)
		a = a.u32(unix.NFTA_HOOK_HOOKNUM, h.hook).u32(unix.NFTA_HOOK_PRIORITY, uint32(h.prio))
		a = a.end(at)
		a = a.str(unix.NFTA_CHAIN_TYPE, h.typ)
	}
	b.msg(unix.NFT_MSG_NEWCHAIN, unix.NLM_F_CREATE, a, "add chain "+name)
}

func (b *nlBatch) delChain(name string) {
	b.msg(unix.NFT_MSG_DELCHAIN, 0, attrs(nil).str(unix.NFTA_CHAIN_TABLE, b.table).str(unix.NFTA_CHAIN_NAME, name), "delete chain "+name)
}

func (b *nlBatch) flushChain(name string) {
	b.msg(unix.NFT_MSG_DELRULE, 0, attrs(nil).str(unix.NFTA_RULE_TABLE, b.table).str(unix.NFTA_RULE_CHAIN, name), "flush chain "+name)
}

// addRule appends a rule with a comment to chain.
func (b *nlBatch) addRule(chain string, comment string, exprs []expr.Any) {
	a := attrs(nil).str(unix.NFTA_RULE_TABLE, b.table).str(unix.NFTA_RULE_CHAIN, chain)
	var at int
	a, at = a.nest(unix.NFTA_RULE_EXPRESSIONS)
	for _, e := range exprs {
		data, err := expr.Marshal(unix.NFPROTO_INET, e)
		if err != nil && b.err == nil {
			b.err = fmt.Errorf("rule %q: %w", comment, err)
		}
		a = a.put(unix.NFTA_LIST_ELEM|unix.NLA_F_NESTED, data)
	}
	a = a.end(at)
	if comment != "" {
		ud := []byte{udataComment, byte(len(comment) + 1)}
		ud = append(append(ud, comment...), 0)
		a = a.put(unix.NFTA_RULE_USERDATA, ud)
	}
	b.msg(unix.NFT_MSG_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_APPEND, a, "rule "+comment)
}

// setSpec is a named set as this backend creates it.
type setSpec struct {
	name     string
	flags    uint32
	keyType  uint32
	keyLen   uint32
	dataType uint32 // maps only
	dataLen  uint32
	timeout  uint64 // milliseconds, sets with NFT_SET_TIMEOUT
	userdata []byte // as nft writes it (byte orders, typeof), so nft lists it
	counter  bool   // every element carries a counter
}

// setExprCounter is NFTA_SET_EXPR holding a counter, as nft sends it for
// `counter` sets.
var setExprCounter = attrs(nil).str(unix.NFTA_EXPR_NAME, "counter")

func (b *nlBatch) addSet(s setSpec, id uint32) {
	a := attrs(nil).str(unix.NFTA_SET_TABLE, b.table).str(unix.NFTA_SET_NAME, s.name)
	if s.flags != 0 {
		a = a.u32(unix.NFTA_SET_FLAGS, s.flags)
	}
	a = a.u32(unix.NFTA_SET_KEY_TYPE, s.keyType).u32(unix.NFTA_SET_KEY_LEN, s.keyLen)
	if s.flags&unix.NFT_SET_MAP != 0 {
		a = a.u32(unix.NFTA_SET_DATA_TYPE, s.dataType).u32(unix.NFTA_SET_DATA_LEN, s.dataLen)
	}
	if s.timeout != 0 {
		a = a.put(unix.NFTA_SET_TIMEOUT, binary.BigEndian.AppendUint64(nil, s.timeout))
	}
	a = a.u32(unix.NFTA_SET_ID, id)
	if len(s.userdata) > 0 {
		a = a.put(unix.NFTA_SET_USERDATA, s.userdata)
	}
	if s.counter {
		var at int
		a, at = a.nest(nftaSetExpr)
		a = append(a, setExprCounter...)
		a = a.end(at)
	}
	b.msg(unix.NFT_MSG_NEWSET, unix.NLM_F_CREATE, a, "add set "+s.name)
}

func (b *nlBatch) delSet(name string) {
	b.msg(unix.NFT_MSG_DELSET, 0, attrs(nil).str(unix.NFTA_SET_TABLE, b.table).str(unix.NFTA_SET_NAME, name), "delete set "+name)
}

// elem is one set element to add or delete.
type elem struct {
	key     []byte
	data    []byte // map data (nil: none)
	chain   string // verdict map: jump to chain
	comment string
}

// elems appends NEWSETELEM (or DELSETELEM with del) messages for set,
// each under maxElemBytes.
func (b *nlBatch) elems(set string, es []elem, del bool) {
	typ, flags, verb := uint16(unix.NFT_MSG_NEWSETELEM), uint16(unix.NLM_F_CREATE), "add"
	if del {
		typ, flags, verb = unix.NFT_MSG_DELSETELEM, 0, "delete"
	}
	for len(es) > 0 {
		a := attrs(nil).str(unix.NFTA_SET_ELEM_LIST_TABLE, b.table).str(unix.NFTA_SET_ELEM_LIST_SET, set)
		var at int
		a, at = a.nest(unix.NFTA_SET_ELEM_LIST_ELEMENTS)
		start := len(a)
		n := 0
		for n < len(es) && len(a)-start < maxElemBytes {
			a = encodeElem(a, es[n], del)
			n++
		}
		a = a.end(at)
		b.msg(typ, flags, a, fmt.Sprintf("%s %d elements of %s", verb, n, set))
		es = es[n:]
	}
}

func encodeElem(a attrs, e elem, del bool) attrs {
	var le, k, d, v int
	a, le = a.nest(unix.NFTA_LIST_ELEM)
	a, k = a.nest(unix.NFTA_SET_ELEM_KEY)
	a = a.put(unix.NFTA_DATA_VALUE, e.key)
	a = a.end(k)
	if !del {
		switch {
		case e.chain != "":
			a, d = a.nest(unix.NFTA_SET_ELEM_DATA)
			a, v = a.nest(unix.NFTA_DATA_VERDICT)
			a = a.u32(unix.NFTA_VERDICT_CODE, nftJump)
			a = a.str(unix.NFTA_VERDICT_CHAIN, e.chain)
			a = a.end(v)
			a = a.end(d)
		case e.data != nil:
			a, d = a.nest(unix.NFTA_SET_ELEM_DATA)
			a = a.put(unix.NFTA_DATA_VALUE, e.data)
			a = a.end(d)
		}
		if e.comment != "" {
			ud := []byte{udataComment, byte(len(e.comment) + 1)}
			ud = append(append(ud, e.comment...), 0)
			a = a.put(unix.NFTA_SET_ELEM_USERDATA, ud)
		}
	}
	return a.end(le)
}

// batchError is a failed batch: the errors the kernel reported, by the
// message they refer to.
type batchError struct {
	errno syscall.Errno
	msgs  []string
}

func (e *batchError) Error() string {
	return fmt.Sprintf("%v (%s)", e.errno, joinMax(e.msgs, 3))
}

func (e *batchError) Unwrap() error { return e.errno }

func joinMax(s []string, n int) string {
	out := ""
	for i, m := range s {
		if i == n {
			return out + fmt.Sprintf(", and %d more", len(s)-n)
		}
		if i > 0 {
			out += ", "
		}
		out += m
	}
	return out
}

// send frames the batch (BATCH_BEGIN with genid, when non-zero, so the
// kernel refuses it with ERESTART if any other transaction committed in
// between; BATCH_END), sends it with one sendmsg and collects the errors.
func (b *nlBatch) send(c *netlink.Conn, genid uint32) error {
	if b.err != nil {
		return b.err
	}
	body, last := b.buf, b.seq
	b.buf, b.seq = nil, b.first
	var ga attrs
	if genid != 0 {
		ga = ga.u32(nfnlBatchGenID, genid)
	}
	b.raw(unix.NFNL_MSG_BATCH_BEGIN, unix.NLM_F_REQUEST, unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES, ga, "batch (ruleset generation)")
	b.buf, b.seq = append(b.buf, body...), last
	b.raw(unix.NFNL_MSG_BATCH_END, unix.NLM_F_REQUEST, unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES, nil, "")
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b.buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN && serr != unix.EINTR
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("send batch of %d messages (%d bytes): %w", b.n, len(b.buf), serr)
	}
	// Drain what the kernel queued while processing the batch.
	var be *batchError
	bp := dumpBuffers.Get().(*[]byte)
	defer dumpBuffers.Put(bp)
	buf := *bp
	for {
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return true
		}); err != nil {
			return err
		}
		if rerr == unix.EAGAIN {
			break
		}
		if rerr == unix.EINTR {
			continue
		}
		if rerr != nil {
			return fmt.Errorf("receive batch errors: %w", rerr)
		}
		for m := buf[:n]; len(m) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(m[0:4]))
			if l < unix.NLMSG_HDRLEN || l > len(m) {
				break
			}
			typ := binary.NativeEndian.Uint16(m[4:6])
			seq := binary.NativeEndian.Uint32(m[8:12])
			if typ == unix.NLMSG_ERROR && l >= unix.NLMSG_HDRLEN+4 {
				if errno := int32(binary.NativeEndian.Uint32(m[unix.NLMSG_HDRLEN:])); errno != 0 {
					if be == nil {
						be = &batchError{errno: syscall.Errno(-errno)}
					}
					w := b.what[seq]
					if w == "" {
						w = fmt.Sprintf("message %d", seq-b.first)
					}
					be.msgs = append(be.msgs, fmt.Sprintf("%s: %v", w, syscall.Errno(-errno)))
				}
			}
			a := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
			if a > len(m) {
				break
			}
			m = m[a:]
		}
	}
	if be != nil {
		return be
	}
	return nil
}

const (
	nfnlBatchGenID = 1          // NFNL_BATCH_GENID
	nftaSetExpr    = 17         // NFTA_SET_EXPR
	nftJump        = 0xfffffffd // NFT_JUMP (-3)
)
