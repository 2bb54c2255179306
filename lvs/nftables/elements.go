package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Read also dumps the table's named sets (to collect stale ones) and the
// elements of the counter sets; Stats adds the persistence maps.

const (
	msgGetSet     = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSET)
	msgNewSet     = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSET)
	msgGetSetElem = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM)
	msgNewSetElem = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSETELEM)
)

// setElem is one map element as the model needs it: its key, whether it
// ends an interval, and the chain it jumps to.
type setElem struct {
	Key   string // raw key bytes
	End   bool
	Chain string
	Value string // data of a non-verdict map element
	// Comment is the element's comment (userdata).
	Comment string
	// Packets and Bytes are the element's counter (counter sets only).
	Packets, Bytes uint64
}

func (e setElem) String() string { return fmt.Sprintf("%x/%v/%s", e.Key, e.End, e.Chain) }

func sortElems(es []setElem) {
	slices.SortFunc(es, func(a, b setElem) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		if a.End != b.End {
			if a.End {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Chain, b.Chain)
	})
}

// readSets dumps the named sets of table and the elements of the model's
// maps into d; with persist also the elements of the persistence maps
// (one per client: only Stats wants them).
func readSets(c *netlink.Conn, table string, d *dump, persist bool) error {
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_SET_TABLE, Data: cstring(table)}})
	if err != nil {
		return err
	}
	msgs, err := execDump(c, netlink.Message{
		Header: netlink.Header{Type: msgGetSet, Flags: netlink.Request | netlink.Dump},
		Data:   append(nfgenmsg(unix.NFPROTO_INET), attrs...),
	})
	if err != nil {
		return fmt.Errorf("dump sets: %w", err)
	}
	d.Elements = map[string][]setElem{}
	for _, m := range msgs {
		if m.Header.Type != msgNewSet {
			continue
		}
		t, name, anon, err := decodeSetMsg(m.Data)
		if err != nil {
			return fmt.Errorf("dump sets: %w", err)
		}
		if t != table || anon {
			continue
		}
		d.Sets = append(d.Sets, name)
		if _, p := persistSetID(name); !isFixedSet(name) && !(persist && p) {
			continue
		}
		es, err := readSetElems(c, table, name)
		if err != nil {
			return err
		}
		d.Elements[name] = es
	}
	return nil
}

// readSetElems dumps the elements of one set.
//
// A dump that spans several reads resumes by skipping the elements already
// sent, and a hash set that the kernel resizes meanwhile (it grows in the
// background after a large insert) walks in another order: the dump then
// repeats some elements and misses as many. A key seen twice is therefore
// the sign of a torn dump, and the set is dumped again.
func readSetElems(c *netlink.Conn, table, name string) ([]setElem, error) {
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: cstring(table)},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: cstring(name)},
	})
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		es, err := elemRequest(c, name, netlink.Message{
			Header: netlink.Header{Type: msgGetSetElem, Flags: netlink.Request | netlink.Dump},
			Data:   append(nfgenmsg(unix.NFPROTO_INET), attrs...),
		})
		if err != nil || !hasDuplicateKey(es) {
			return es, err
		}
		if attempt == maxDumpAttempts {
			return nil, fmt.Errorf("elements of %s: %w", name, errTornDump)
		}
		time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
	}
}

const maxDumpAttempts = 8

var errTornDump = errors.New("the dump repeated elements (the set was resized while dumped)")

// hasDuplicateKey reports whether sorted elements repeat a key (interval
// ends excepted).
func hasDuplicateKey(es []setElem) bool {
	for i := 1; i < len(es); i++ {
		if es[i].Key == es[i-1].Key && es[i].End == es[i-1].End {
			return true
		}
	}
	return false
}

// getSetElems looks up the elements with the given keys in one set (one
// request; the kernel answers element by element). A key that is absent
// makes the kernel stop with ENOENT: the elements found until then are
// returned with found false.
func getSetElems(c *netlink.Conn, table, name string, keys [][]byte) (es []setElem, found bool, err error) {
	if len(keys) == 0 {
		return nil, true, nil
	}
	var a attrs
	a = a.str(unix.NFTA_SET_ELEM_LIST_TABLE, table).str(unix.NFTA_SET_ELEM_LIST_SET, name)
	var at int
	a, at = a.nest(unix.NFTA_SET_ELEM_LIST_ELEMENTS)
	for _, k := range keys {
		a = encodeElem(a, elem{key: k}, true)
	}
	a = a.end(at)
	es, err = elemRequest(c, name, netlink.Message{
		Header: netlink.Header{Type: msgGetSetElem, Flags: netlink.Request | netlink.Acknowledge},
		Data:   append(nfgenmsg(unix.NFPROTO_INET), a...),
	})
	if errors.Is(err, unix.ENOENT) {
		return es, false, nil
	}
	return es, err == nil, err
}

func elemRequest(c *netlink.Conn, name string, req netlink.Message) ([]setElem, error) {
	es := []setElem{}
	var derr error
	err := execEach(c, req, func(typ netlink.HeaderType, data []byte) {
		if typ != msgNewSetElem || derr != nil {
			return
		}
		set, got, err := decodeElemMsg(data)
		if err != nil {
			derr = err
		}
		if set == name {
			es = append(es, got...)
		}
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return es, fmt.Errorf("elements of %s: %w", name, err)
	}
	sortElems(es)
	return es, nil
}

// decodeSetMsg extracts table, name and the anonymous flag of a NEWSET.
func decodeSetMsg(b []byte) (table, name string, anon bool, err error) {
	if len(b) < 4 {
		return "", "", false, errShort
	}
	attrs, err := netlink.UnmarshalAttributes(b[4:])
	if err != nil {
		return "", "", false, fmt.Errorf("set attributes: %w", err)
	}
	for _, a := range attrs {
		switch a.Type & nlaTypeMask {
		case unix.NFTA_SET_TABLE:
			table = trimNUL(a.Data)
		case unix.NFTA_SET_NAME:
			name = trimNUL(a.Data)
		case unix.NFTA_SET_FLAGS:
			if len(a.Data) != 4 {
				return "", "", false, errors.New("set flags of wrong size")
			}
			anon = binary.BigEndian.Uint32(a.Data)&unix.NFT_SET_ANONYMOUS != 0
		}
	}
	if name == "" {
		return "", "", false, errors.New("set without name")
	}
	return table, name, anon, nil
}

// The element decoders walk attributes in place (eachAttr) rather than
// with netlink.UnmarshalAttributes, which allocates a slice per nesting
// level: a full read decodes every element of the table.

var errAttr = errors.New("malformed netlink attribute")

// eachAttr calls f for each attribute of b (type without flags) and
// fails on a malformed one or when f fails.
func eachAttr(b []byte, f func(typ uint16, data []byte) error) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return errAttr
		}
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < 4 || l > len(b) {
			return errAttr
		}
		if err := f(binary.NativeEndian.Uint16(b[2:4])&nlaTypeMask, b[4:l]); err != nil {
			return err
		}
		a := (l + 3) &^ 3
		if a >= len(b) {
			break
		}
		b = b[a:]
	}
	return nil
}

// decodeElemMsg extracts the set name and elements of a NEWSETELEM.
func decodeElemMsg(b []byte) (set string, elems []setElem, err error) {
	if len(b) < 4 {
		return "", nil, errShort
	}
	err = eachAttr(b[4:], func(typ uint16, data []byte) error {
		switch typ {
		case unix.NFTA_SET_ELEM_LIST_SET:
			set = trimNUL(data)
		case unix.NFTA_SET_ELEM_LIST_ELEMENTS:
			return eachAttr(data, func(typ uint16, data []byte) error {
				if typ != unix.NFTA_LIST_ELEM {
					return nil
				}
				e, err := decodeElem(data)
				if err != nil {
					return err
				}
				elems = append(elems, e)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("element attributes: %w", err)
	}
	return set, elems, nil
}

func decodeElem(b []byte) (setElem, error) {
	var e setElem
	err := eachAttr(b, func(typ uint16, data []byte) error {
		switch typ {
		case unix.NFTA_SET_ELEM_KEY:
			return eachAttr(data, func(typ uint16, v []byte) error {
				if typ == unix.NFTA_DATA_VALUE {
					e.Key = string(v)
				}
				return nil
			})
		case unix.NFTA_SET_ELEM_FLAGS:
			if len(data) != 4 {
				return errors.New("element flags of wrong size")
			}
			e.End = binary.BigEndian.Uint32(data)&unix.NFT_SET_ELEM_INTERVAL_END != 0
		case unix.NFTA_SET_ELEM_USERDATA:
			e.Comment = ruleComment(data)
		case unix.NFTA_SET_ELEM_EXPR:
			return decodeElemCounter(data, &e)
		case nftaSetElemExpressions:
			return eachAttr(data, func(typ uint16, x []byte) error {
				if typ == unix.NFTA_LIST_ELEM {
					return decodeElemCounter(x, &e)
				}
				return nil
			})
		case unix.NFTA_SET_ELEM_DATA:
			return eachAttr(data, func(typ uint16, d []byte) error {
				switch typ {
				case unix.NFTA_DATA_VALUE:
					e.Value = string(d)
				case unix.NFTA_DATA_VERDICT:
					return eachAttr(d, func(typ uint16, v []byte) error {
						if typ == unix.NFTA_VERDICT_CHAIN {
							e.Chain = trimNUL(v)
						}
						return nil
					})
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return setElem{}, fmt.Errorf("element: %w", err)
	}
	return e, nil
}

// decodeElemCounter reads a counter expression attached to an element.
func decodeElemCounter(b []byte, e *setElem) error {
	var name string
	var data []byte
	if err := eachAttr(b, func(typ uint16, d []byte) error {
		switch typ {
		case unix.NFTA_EXPR_NAME:
			name = trimNUL(d)
		case unix.NFTA_EXPR_DATA:
			data = d
		}
		return nil
	}); err != nil {
		return fmt.Errorf("element counter: %w", err)
	}
	if name != "counter" {
		return nil
	}
	return eachAttr(data, func(typ uint16, c []byte) error {
		if typ != unix.NFTA_COUNTER_BYTES && typ != unix.NFTA_COUNTER_PACKETS {
			return nil
		}
		if len(c) != 8 {
			return fmt.Errorf("element counter: attribute of %d bytes", len(c))
		}
		if typ == unix.NFTA_COUNTER_BYTES {
			e.Bytes = binary.BigEndian.Uint64(c)
		} else {
			e.Packets = binary.BigEndian.Uint64(c)
		}
		return nil
	})
}

// nftaSetElemExpressions is NFTA_SET_ELEM_EXPRESSIONS (not in x/sys).
const nftaSetElemExpressions = 11
