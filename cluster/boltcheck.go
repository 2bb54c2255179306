package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
)

// checkBoltFile is bbolt's consistency check (Tx.Check: every page below
// the high-water mark is reachable exactly once or free, reachable pages
// are branches or leaves, nothing points past the end) done with plain
// reads of the file instead of bbolt's memory map. bbolt itself trusts the
// file: on a truncated or scrambled one it faults or panics, and Tx.Check
// runs in a goroutine of its own where a panic cannot be recovered. This
// check reads at most maxPages pages (the rest of a larger file is not
// walked) and never panics on any input.
//
// The format is bbolt 1.3's: a 16-byte page header (id, flags, count,
// overflow), meta pages 0 and 1, branch and leaf elements of 16 bytes,
// bucket values that start with their root page id (0: an inline page
// follows) and a freelist page of page ids.
func checkBoltFile(r io.ReaderAt, size int64, maxPages int) error {
	w := &boltWalker{r: r, size: size, maxPages: maxPages}
	return w.check()
}

const (
	boltPageHeader  = 16
	boltElemSize    = 16
	boltMetaSize    = 64
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	boltBranch      = 0x01
	boltLeaf        = 0x02
	boltFreelist    = 0x10
	boltBucketLeaf  = 0x01
	boltNoFreelist  = ^uint64(0)
	boltMaxDepth    = 64
	boltMaxPageSize = 1 << 16
	boltMaxSpan     = 256 << 20 // one page with its overflow
)

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // high-water mark: pages [0, pgid) are in use or free
	txid     uint64
}

type boltWalker struct {
	r        io.ReaderAt
	size     int64
	maxPages int

	pageSize  int64
	meta      boltMeta
	reachable map[uint64]bool
	freed     map[uint64]bool
	visited   int
	partial   bool
	errs      []string
}

// errBoltBudget stops the walk once maxPages pages were read.
var errBoltBudget = errors.New("page budget spent")

func (w *boltWalker) fail(format string, args ...any) {
	if len(w.errs) < 3 {
		w.errs = append(w.errs, fmt.Sprintf(format, args...))
	}
}

func (w *boltWalker) check() error {
	if err := w.readMeta(); err != nil {
		return err
	}
	m := w.meta
	if m.pgid > uint64(w.size)/uint64(w.pageSize) {
		return fmt.Errorf("%d bytes, but its meta page records %d pages of %d bytes (truncated)", w.size, m.pgid, w.pageSize)
	}
	if m.pgid < 2 {
		return fmt.Errorf("meta page records %d pages, fewer than the two meta pages", m.pgid)
	}
	if m.root >= m.pgid {
		return fmt.Errorf("root page %d above the high-water mark %d", m.root, m.pgid)
	}
	if m.freelist != boltNoFreelist && m.freelist >= m.pgid {
		return fmt.Errorf("freelist page %d above the high-water mark %d", m.freelist, m.pgid)
	}
	w.reachable = map[uint64]bool{0: true, 1: true}
	w.freed = map[uint64]bool{}
	if m.freelist != boltNoFreelist {
		if err := w.readFreelist(m.freelist); err != nil {
			return err
		}
	}
	if err := w.walkPage(m.root, 0); err != nil {
		if errors.Is(err, errBoltBudget) {
			w.partial = true
		} else {
			return err
		}
	}
	if !w.partial && m.freelist != boltNoFreelist && len(w.errs) == 0 {
		for id := uint64(0); id < m.pgid; id++ {
			if !w.reachable[id] && !w.freed[id] {
				w.fail("page %d: unreachable unfreed", id)
				break
			}
		}
	}
	if len(w.errs) > 0 {
		return errors.New(strings.Join(w.errs, "; "))
	}
	return nil
}

// readMeta picks the meta page bbolt would use: the valid one with the
// higher transaction id. The page size comes from meta page 0 when it is
// valid, else the system's page size (as bbolt does).
func (w *boltWalker) readMeta() error {
	if w.size < 2*boltPageHeader+2*boltMetaSize {
		return fmt.Errorf("%d bytes, too short for bbolt's meta pages", w.size)
	}
	m0, err0 := w.metaAt(0)
	w.pageSize = int64(os.Getpagesize())
	if err0 == nil {
		w.pageSize = int64(m0.pageSize)
	}
	m1, err1 := w.metaAt(w.pageSize)
	if err1 == nil && int64(m1.pageSize) != w.pageSize {
		err1 = fmt.Errorf("page size %d differs from %d", m1.pageSize, w.pageSize)
	}
	switch {
	case err0 == nil && err1 == nil:
		w.meta = m0
		if m1.txid > m0.txid {
			w.meta = m1
		}
	case err0 == nil:
		w.meta = m0
	case err1 == nil:
		w.meta = m1
	default:
		return fmt.Errorf("no valid meta page (page 0: %v; page 1: %v)", err0, err1)
	}
	return nil
}

func (w *boltWalker) metaAt(off int64) (boltMeta, error) {
	var b [boltPageHeader + boltMetaSize]byte
	if _, err := w.r.ReadAt(b[:], off); err != nil {
		return boltMeta{}, fmt.Errorf("read: %w", err)
	}
	m := b[boltPageHeader:]
	le := binary.LittleEndian
	if le.Uint32(m[0:4]) != boltMagic {
		return boltMeta{}, errors.New("bad magic")
	}
	if v := le.Uint32(m[4:8]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("version %d", v)
	}
	if sum := le.Uint64(m[56:64]); sum != 0 {
		h := fnv.New64a()
		_, _ = h.Write(m[:56])
		if h.Sum64() != sum {
			return boltMeta{}, errors.New("checksum mismatch")
		}
	}
	ps := le.Uint32(m[8:12])
	if ps < 512 || ps > boltMaxPageSize || ps&(ps-1) != 0 {
		return boltMeta{}, fmt.Errorf("page size %d", ps)
	}
	return boltMeta{
		pageSize: ps,
		root:     le.Uint64(m[16:24]),
		freelist: le.Uint64(m[32:40]),
		pgid:     le.Uint64(m[40:48]),
		txid:     le.Uint64(m[48:56]),
	}, nil
}

// page reads page id with its overflow pages, checking its header.
func (w *boltWalker) page(id uint64) (flags, count uint16, overflow uint32, buf []byte, err error) {
	if id >= w.meta.pgid {
		return 0, 0, 0, nil, fmt.Errorf("page %d: out of bounds: %d", id, w.meta.pgid)
	}
	if w.visited >= w.maxPages {
		return 0, 0, 0, nil, errBoltBudget
	}
	var hdr [boltPageHeader]byte
	if _, err := w.r.ReadAt(hdr[:], int64(id)*w.pageSize); err != nil {
		return 0, 0, 0, nil, fmt.Errorf("page %d: read: %w", id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(hdr[0:8]); got != id {
		return 0, 0, 0, nil, fmt.Errorf("page %d: header says page %d", id, got)
	}
	flags, count, overflow = le.Uint16(hdr[8:10]), le.Uint16(hdr[10:12]), le.Uint32(hdr[12:16])
	if id+uint64(overflow) >= w.meta.pgid {
		return 0, 0, 0, nil, fmt.Errorf("page %d: %d overflow pages run past the high-water mark %d", id, overflow, w.meta.pgid)
	}
	span := (int64(overflow) + 1) * w.pageSize
	if span > boltMaxSpan {
		return 0, 0, 0, nil, fmt.Errorf("page %d: %d overflow pages", id, overflow)
	}
	w.visited += int(overflow) + 1
	buf = make([]byte, span)
	if _, err := w.r.ReadAt(buf, int64(id)*w.pageSize); err != nil {
		return 0, 0, 0, nil, fmt.Errorf("page %d: read: %w", id, err)
	}
	return flags, count, overflow, buf, nil
}

func (w *boltWalker) readFreelist(id uint64) error {
	flags, count, overflow, buf, err := w.page(id)
	if err != nil {
		return fmt.Errorf("freelist: %w", err)
	}
	if flags&boltFreelist == 0 {
		return fmt.Errorf("freelist page %d: invalid type %#x", id, flags)
	}
	for i := uint64(0); i <= uint64(overflow); i++ {
		w.reachable[id+i] = true
	}
	le := binary.LittleEndian
	idx, n := uint64(0), uint64(count)
	if count == 0xFFFF {
		if len(buf) < boltPageHeader+8 {
			return fmt.Errorf("freelist page %d: too short", id)
		}
		idx, n = 1, le.Uint64(buf[boltPageHeader:])
	}
	if n > uint64(len(buf)) || boltPageHeader+(idx+n)*8 > uint64(len(buf)) {
		return fmt.Errorf("freelist page %d: %d ids do not fit", id, n)
	}
	for i := idx; i < idx+n; i++ {
		fid := le.Uint64(buf[boltPageHeader+i*8:])
		switch {
		case fid < 2 || fid >= w.meta.pgid:
			w.fail("freelist page %d: free page %d out of bounds", id, fid)
		case w.freed[fid]:
			w.fail("page %d: already freed", fid)
		case w.reachable[fid]:
			w.fail("page %d: freelist page marked free", fid)
		}
		w.freed[fid] = true
	}
	return nil
}

// walkPage checks page id of a bucket's tree and everything below it.
func (w *boltWalker) walkPage(id uint64, depth int) error {
	if depth > boltMaxDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, boltMaxDepth)
	}
	if w.reachable[id] {
		return fmt.Errorf("page %d: multiple references", id)
	}
	flags, count, overflow, buf, err := w.page(id)
	if err != nil {
		return err
	}
	for i := uint64(0); i <= uint64(overflow); i++ {
		if w.reachable[id+i] {
			return fmt.Errorf("page %d: multiple references", id+i)
		}
		w.reachable[id+i] = true
		if w.freed[id+i] {
			w.fail("page %d: reachable freed", id+i)
		}
	}
	switch {
	case flags&boltBranch != 0:
		return w.walkBranch(id, count, buf, depth)
	case flags&boltLeaf != 0:
		return w.walkLeaf(id, count, buf, depth)
	default:
		return fmt.Errorf("page %d: invalid type %#x", id, flags)
	}
}

func (w *boltWalker) walkBranch(id uint64, count uint16, buf []byte, depth int) error {
	if count == 0 {
		return fmt.Errorf("branch page %d: no elements", id)
	}
	if boltPageHeader+int(count)*boltElemSize > len(buf) {
		return fmt.Errorf("branch page %d: %d elements do not fit", id, count)
	}
	le := binary.LittleEndian
	for i := 0; i < int(count); i++ {
		off := boltPageHeader + i*boltElemSize
		e := buf[off : off+boltElemSize]
		pos, ksize, child := uint64(le.Uint32(e[0:4])), uint64(le.Uint32(e[4:8])), le.Uint64(e[8:16])
		if uint64(off)+pos+ksize > uint64(len(buf)) {
			return fmt.Errorf("branch page %d: element %d key out of the page", id, i)
		}
		if err := w.walkPage(child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (w *boltWalker) walkLeaf(id uint64, count uint16, buf []byte, depth int) error {
	if boltPageHeader+int(count)*boltElemSize > len(buf) {
		return fmt.Errorf("leaf page %d: %d elements do not fit", id, count)
	}
	le := binary.LittleEndian
	for i := 0; i < int(count); i++ {
		off := boltPageHeader + i*boltElemSize
		e := buf[off : off+boltElemSize]
		flags := le.Uint32(e[0:4])
		pos, ksize, vsize := uint64(le.Uint32(e[4:8])), uint64(le.Uint32(e[8:12])), uint64(le.Uint32(e[12:16]))
		start := uint64(off) + pos
		if start+ksize+vsize > uint64(len(buf)) {
			return fmt.Errorf("leaf page %d: element %d out of the page", id, i)
		}
		if flags&boltBucketLeaf == 0 {
			continue
		}
		v := buf[start+ksize : start+ksize+vsize]
		if len(v) < 16 {
			return fmt.Errorf("leaf page %d: element %d: bucket value of %d bytes", id, i, len(v))
		}
		if root := le.Uint64(v[0:8]); root != 0 {
			if err := w.walkPage(root, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := w.walkInline(id, v[16:], depth+1); err != nil {
			return err
		}
	}
	return nil
}

// walkInline checks a bucket stored inline in its parent's leaf: a leaf
// page (header and elements) inside the value.
func (w *boltWalker) walkInline(parent uint64, b []byte, depth int) error {
	if depth > boltMaxDepth {
		return fmt.Errorf("page %d: inline buckets deeper than %d", parent, boltMaxDepth)
	}
	if len(b) < boltPageHeader {
		return fmt.Errorf("leaf page %d: inline bucket of %d bytes", parent, len(b))
	}
	le := binary.LittleEndian
	if flags := le.Uint16(b[8:10]); flags&boltLeaf == 0 {
		return fmt.Errorf("leaf page %d: inline bucket page of invalid type %#x", parent, flags)
	}
	return w.walkLeaf(parent, le.Uint16(b[10:12]), b, depth)
}
