package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Snapshotter is the optional part of a Backend that backs up and restores
// the group's replicated state (GET /v1/snapshot, POST
// /v1/snapshot/restore): the configuration source (main file and
// includes), verdicts, drains, maintenance, transfers, the deny list.
type Snapshotter interface {
	// SaveSnapshot returns a consistent snapshot of the replicated state
	// (every write acknowledged before the call is in it) and the header
	// that describes it; WriteSnapshot fills Format, Size and SHA256.
	SaveSnapshot(ctx context.Context) (SnapshotHeader, []byte, error)
	// RestoreSnapshot replaces the group's state with data, the payload
	// of an envelope ReadSnapshot verified (h is its header). It decodes
	// data fully before changing anything: a snapshot the state machine
	// cannot decode, or whose header does not match it, is an
	// *InvalidError with code invalid_snapshot and changes nothing.
	RestoreSnapshot(ctx context.Context, h SnapshotHeader, data []byte) (SnapshotRestoreResult, error)
}

// MaxSnapshotBody bounds a snapshot: the restore request body, and what a
// save may return.
const MaxSnapshotBody = 16 << 20

// SnapshotContentType is the media type of a snapshot envelope.
const SnapshotContentType = "application/vnd.quadrature.snapshot"

// SnapshotFormat is the version of the envelope.
const SnapshotFormat = 1

// snapshotMagic is the first line of every envelope.
const snapshotMagic = "quadrature-snapshot 1\n"

// maxSnapshotHeader bounds the header line.
const maxSnapshotHeader = 4096

// SnapshotHeader describes a snapshot. It is the second line of the
// envelope (one JSON object), after the line "quadrature-snapshot 1":
//
//	quadrature-snapshot 1
//	{"format":1,...,"size":N,"sha256":"HEX"}
//	N bytes: the state machine's snapshot (fsm's canonical JSON)
//
// and nothing after them. SHA256 is the digest of the N bytes.
type SnapshotHeader struct {
	Format            int       `json:"format"`
	Node              string    `json:"node"`    // the node that took it
	Created           time.Time `json:"created"` // when (UTC)
	QuadratureVersion string    `json:"quadrature_version,omitempty"`
	RaftIndex         uint64    `json:"raft_index"` // raft index of the state
	RaftTerm          uint64    `json:"raft_term"`
	ConfigVersion     uint64    `json:"config_version"`
	FSMFormat         int       `json:"fsm_format"` // format of the payload (fsm.SnapshotFormat)
	Size              int64     `json:"size"`       // payload bytes
	SHA256            string    `json:"sha256"`     // hex SHA-256 of the payload
}

// SnapshotRestoreResult is the body of a successful POST
// /v1/snapshot/restore.
type SnapshotRestoreResult struct {
	Restored bool `json:"restored"`
	// ConfigVersion is the configuration version the group runs now
	// (the snapshot's).
	ConfigVersion uint64 `json:"config_version"`
	// RaftIndex is the raft index the snapshot was installed at (past
	// the group's log: a restore never reuses an index).
	RaftIndex uint64 `json:"raft_index"`
	// Snapshot is the header of the restored snapshot.
	Snapshot SnapshotHeader `json:"snapshot"`
}

// ErrBadSnapshot: what was given as a snapshot is not a complete, intact
// snapshot envelope (not one at all, truncated, trailing data, wrong
// checksum). Errors of ReadSnapshot match it.
var ErrBadSnapshot = errors.New("not a valid quadrature snapshot")

func badSnapshot(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadSnapshot, fmt.Sprintf(format, args...))
}

// WriteSnapshot writes the envelope of payload with header h (Format, Size
// and SHA256 are set here) and returns the header written.
func WriteSnapshot(w io.Writer, h SnapshotHeader, payload []byte) (SnapshotHeader, error) {
	h.Format = SnapshotFormat
	h.Size = int64(len(payload))
	sum := sha256.Sum256(payload)
	h.SHA256 = hex.EncodeToString(sum[:])
	line, err := json.Marshal(h)
	if err != nil {
		return h, err
	}
	if len(line) >= maxSnapshotHeader {
		return h, fmt.Errorf("snapshot header of %d bytes is too long", len(line))
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(snapshotMagic)
	bw.Write(line)
	bw.WriteByte('\n')
	bw.Write(payload)
	return h, bw.Flush()
}

// EncodeSnapshot is WriteSnapshot into memory.
func EncodeSnapshot(h SnapshotHeader, payload []byte) (SnapshotHeader, []byte, error) {
	var b bytes.Buffer
	b.Grow(len(snapshotMagic) + 512 + len(payload))
	h, err := WriteSnapshot(&b, h, payload)
	return h, b.Bytes(), err
}

// ReadSnapshot reads one envelope from r and verifies it: the first line,
// the header (strict JSON, known format), exactly Size payload bytes up to
// the end of r (max at most), their SHA-256. It does not look inside the
// payload (the backend's state machine does). Every error matches
// ErrBadSnapshot, except a read error of r itself (returned as it is, e.g.
// *http.MaxBytesError).
func ReadSnapshot(r io.Reader, max int64) (SnapshotHeader, []byte, error) {
	var h SnapshotHeader
	br := bufio.NewReaderSize(r, maxSnapshotHeader)
	magic := make([]byte, len(snapshotMagic))
	n, err := io.ReadFull(br, magic)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return h, nil, err
	}
	if n == 0 {
		return h, nil, badSnapshot("empty")
	}
	if string(magic[:n]) != snapshotMagic {
		if n < len(snapshotMagic) && strings.HasPrefix(snapshotMagic, string(magic[:n])) {
			return h, nil, badSnapshot("truncated in the header")
		}
		return h, nil, badSnapshot("it does not start with %q", snapshotMagic[:len(snapshotMagic)-1])
	}
	line, err := br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return h, nil, badSnapshot("header line longer than %d bytes", maxSnapshotHeader)
	case errors.Is(err, io.EOF):
		return h, nil, badSnapshot("truncated in the header")
	case err != nil:
		return h, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return SnapshotHeader{}, nil, badSnapshot("header: %v", err)
	}
	if dec.More() {
		return SnapshotHeader{}, nil, badSnapshot("header: data after the JSON object")
	}
	switch {
	case h.Format != SnapshotFormat:
		return h, nil, badSnapshot("envelope format %d, this build reads %d", h.Format, SnapshotFormat)
	case h.Size <= 0:
		return h, nil, badSnapshot("header: size %d", h.Size)
	case h.Size > max:
		return h, nil, badSnapshot("%d bytes, more than the limit of %d", h.Size, max)
	}
	want, err := hex.DecodeString(h.SHA256)
	if err != nil || len(want) != sha256.Size {
		return h, nil, badSnapshot("header: sha256 %q is not a hex SHA-256", h.SHA256)
	}
	h.SHA256 = hex.EncodeToString(want) // lower case, as written
	payload := make([]byte, h.Size)
	got, err := io.ReadFull(br, payload)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return h, nil, badSnapshot("truncated: the header announces %d bytes of state, only %d follow", h.Size, got)
	}
	if err != nil {
		return h, nil, err
	}
	var extra [1]byte
	switch k, err := br.Read(extra[:]); {
	case k > 0:
		return h, nil, badSnapshot("data after the %d bytes the header announces", h.Size)
	case err != nil && !errors.Is(err, io.EOF):
		return h, nil, err
	}
	sum := sha256.Sum256(payload)
	if !bytes.Equal(sum[:], want) {
		return h, nil, badSnapshot("checksum mismatch: the state's SHA-256 is %s, the header says %s (the file is damaged)",
			hex.EncodeToString(sum[:]), h.SHA256)
	}
	return h, payload, nil
}

var errNoSnapshotter = errors.New("this backend cannot save or restore snapshots")

// snapshotter returns the backend's Snapshotter, or answers 501 and false.
func (s *Server) snapshotter(w http.ResponseWriter) (Snapshotter, bool) {
	if sn, ok := s.backend.(Snapshotter); ok {
		return sn, true
	}
	writeError(w, http.StatusNotImplemented, ErrorBody{Error: errNoSnapshotter.Error(), Code: "not_implemented"})
	return nil, false
}

func (s *Server) registerSnapshotRoutes() {
	// Admin even to read: a snapshot is the whole replicated state (the
	// configuration with whatever secrets it holds, the deny list), a
	// backup for the operator who may restore it.
	s.route("GET", "/v1/snapshot", Admin, 0, s.handleSaveSnapshot)
	s.route("POST", "/v1/snapshot/restore", Admin, MaxSnapshotBody+maxSnapshotHeader+int64(len(snapshotMagic)), s.handleRestoreSnapshot)
}

func (s *Server) handleSaveSnapshot(w http.ResponseWriter, r *http.Request) {
	sn, ok := s.snapshotter(w)
	if !ok {
		return
	}
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	h, data, err := sn.SaveSnapshot(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(data) > MaxSnapshotBody {
		s.fail(w, r, fmt.Errorf("the snapshot is %d bytes, more than the limit of %d", len(data), MaxSnapshotBody))
		return
	}
	if h.Created.IsZero() {
		h.Created = time.Now().UTC()
	}
	if h.QuadratureVersion == "" {
		h.QuadratureVersion = s.opts.Version
	}
	h, body, err := EncodeSnapshot(h, data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", SnapshotContentType)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="quadrature-%d.snap"`, h.RaftIndex))
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Quadrature-Raft-Index", strconv.FormatUint(h.RaftIndex, 10))
	hd.Set("X-Quadrature-Config-Version", strconv.FormatUint(h.ConfigVersion, 10))
	hd.Set("X-Quadrature-Snapshot-Sha256", h.SHA256)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	s.log.Info("snapshot saved", "raft_index", h.RaftIndex, "config_version", h.ConfigVersion, "bytes", h.Size, "remote", r.RemoteAddr)
}

func (s *Server) handleRestoreSnapshot(w http.ResponseWriter, r *http.Request) {
	sn, ok := s.snapshotter(w)
	if !ok {
		return
	}
	h, data, err := ReadSnapshot(r.Body, MaxSnapshotBody)
	if err != nil {
		if errors.Is(err, ErrBadSnapshot) {
			writeError(w, http.StatusUnprocessableEntity, ErrorBody{Error: err.Error(), Code: "invalid_snapshot"})
			return
		}
		s.fail(w, r, decodeError(err))
		return
	}
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	res, err := sn.RestoreSnapshot(ctx, h, data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Warn("snapshot restored into the group", "config_version", res.ConfigVersion, "raft_index", res.RaftIndex,
		"snapshot_node", h.Node, "snapshot_raft_index", h.RaftIndex, "sha256", h.SHA256, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, res)
}

// InvalidSnapshotError is the refusal of a snapshot whose envelope is
// intact but whose content the backend cannot restore (code
// invalid_snapshot).
func InvalidSnapshotError(err error) *InvalidError {
	return &InvalidError{Msg: "snapshot refused, nothing changed: " + err.Error(), Code: "invalid_snapshot"}
}
