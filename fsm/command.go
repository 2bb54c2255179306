package fsm

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"quadrature/internal/ids"
)

// MaxCommandVersion is the highest command schema version this build can
// apply. Version 1 is the first schema of every command type. Members
// advertise it in gossip metadata; the leader proposes a version only when
// every member Supports it.
const MaxCommandVersion uint16 = 1

// MinCommandVersion is the lowest command schema version this build still
// applies.
const MinCommandVersion uint16 = 1

// Supports reports whether this build can apply commands of version v.
func Supports(v uint16) bool { return v >= MinCommandVersion && v <= MaxCommandVersion }

// MaxCommandBytes bounds an encoded command; larger entries are rejected
// as malformed before decoding.
const MaxCommandBytes = 16 << 20

// Error is the type of the sentinel errors. Its Code survives forwarding
// from the leader (package cluster matches errors by Code), so
// errors.Is(err, fsm.ErrConflict) works on every node.
type Error struct {
	code, msg string
}

func (e *Error) Error() string { return e.msg }

// Code is a stable machine-readable name ("fsm.conflict", ...).
func (e *Error) Code() string { return e.code }

// Sentinel errors carried by Result.Err and returned by Apply (compare
// with errors.Is).
var (
	ErrUnknownCommand = &Error{"fsm.unknown_command", "fsm: unknown command type or version"}
	ErrMalformed      = &Error{"fsm.malformed", "fsm: malformed command"}
	ErrInvalid        = &Error{"fsm.invalid", "fsm: invalid command"}
	ErrConflict       = &Error{"fsm.conflict", "fsm: config version conflict"}
	ErrNotFound       = &Error{"fsm.not_found", "fsm: not found"}
	ErrNoConfig       = &Error{"fsm.no_config", "fsm: no configuration"}
	ErrInternal       = &Error{"fsm.internal", "fsm: internal error"}
)

// ConflictError is returned when SetConfig's ExpectVersion does not match.
type ConflictError struct {
	Expected uint64 // what the proposer expected
	Current  uint64 // the version in the state
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("fsm: config version conflict: expected %d, current %d", e.Expected, e.Current)
}

// Code is ErrConflict's code.
func (e *ConflictError) Code() string { return ErrConflict.code }

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// CommandType names a command in the envelope.
type CommandType string

// Command types of schema version 1.
const (
	TypeSetConfig      CommandType = "set_config"
	TypeReportVerdicts CommandType = "report_verdicts"
	TypeSetDrain       CommandType = "set_drain"
	TypeSetMaintenance CommandType = "set_maintenance"
	TypeSetLiveNodes   CommandType = "set_live_nodes"
	TypeSetPlacement   CommandType = "set_placement"
	TypeTransferVIP    CommandType = "transfer_vip"
	TypeRevokeNode     CommandType = "revoke_node"
)

// Command is one of the payload types below.
type Command interface {
	CommandType() CommandType
}

// Envelope is the encoded form of every command.
type Envelope struct {
	Type    CommandType     `json:"type"`
	Version uint16          `json:"v"`
	Payload json.RawMessage `json:"payload"`
	// Origin says who proposed the command ("api node=n2 remote=... auth=admin",
	// "sighup node=n1", "leader node=n1"); every node logs it when the
	// command is applied. It never changes what the command does.
	Origin string `json:"origin,omitempty"`
}

// MaxOriginBytes bounds Envelope.Origin.
const MaxOriginBytes = 512

// File is one file of the config source.
type File struct {
	Name    string `json:"name"`
	Content []byte `json:"content"`
}

// Host is one entry of the fixed host map used to resolve host names.
type Host struct {
	Name  string       `json:"name"`
	Addrs []netip.Addr `json:"addrs"`
}

// SetConfig replaces the configuration (compare-and-swap on the version).
type SetConfig struct {
	// ExpectVersion must equal the current config version (0 = none yet).
	ExpectVersion uint64 `json:"expect_version"`
	// Main is the name of the main file in Files.
	Main  string `json:"main"`
	Files []File `json:"files"`
	Hosts []Host `json:"hosts,omitempty"`
	// Nodes are the node names the config is evaluated and validated for
	// (the members known to the proposer); the committed live nodes are
	// added to them.
	Nodes []string `json:"nodes"`
}

// Observation is one node's view of one real server.
type Observation struct {
	VS     string         `json:"vs"` // config.VirtualServer.ID (package internal/ids)
	RS     netip.AddrPort `json:"rs"`
	Up     bool           `json:"up"`
	Weight int            `json:"weight"` // effective weight on that node (configured + MISC dynamic)
	Reason string         `json:"reason,omitempty"`
	// Seq is the reporter's own sequence number; a non-zero Seq lower than
	// the stored one marks a stale (reordered) observation, which is
	// ignored.
	Seq uint64 `json:"seq,omitempty"`
	// A new field here needs a new command schema version (see
	// MaxCommandVersion): commands are decoded strictly, so a node of the
	// previous version would refuse reports the others apply.
}

// ReportVerdicts carries a batch of observations from one node. With Full,
// the batch replaces all of that node's observations.
type ReportVerdicts struct {
	Node         string        `json:"node"`
	Full         bool          `json:"full,omitempty"`
	Observations []Observation `json:"observations"`
}

// SetDrain drains (weight 0, connections survive) or undrains a real server.
type SetDrain struct {
	VS      string         `json:"vs"`
	RS      netip.AddrPort `json:"rs"`
	Drained bool           `json:"drained"`
}

// SetMaintenance puts a node in or out of maintenance.
type SetMaintenance struct {
	Node string `json:"node"`
	On   bool   `json:"on"`
}

// SetLiveNodes replaces the committed live-node set.
type SetLiveNodes struct {
	Nodes []string `json:"nodes"`
}

// NodePriority is one node's priority for an instance.
type NodePriority struct {
	Node     string `json:"node"`
	Priority int    `json:"priority"`
}

// InstancePriorities is the placement of one VRRP instance.
type InstancePriorities struct {
	Instance string         `json:"instance"`
	Nodes    []NodePriority `json:"nodes"`
}

// SetPlacement replaces the explicit placement (empty clears it). An
// explicit priority overrides the configured and the auto one.
type SetPlacement struct {
	Priorities []InstancePriorities `json:"priorities"`
}

// RevokeNode puts a node name on the deny list (Revoked) or takes it off:
// a revoked node's certificate is refused on every node's Raft port, its
// open connections are closed and the leader never adds it as a voter.
type RevokeNode struct {
	Node    string `json:"node"`
	Revoked bool   `json:"revoked"`
}

// TransferVIP asks for an instance (and its sync group) to move to ToNode;
// an empty ToNode clears the override.
type TransferVIP struct {
	Instance string `json:"instance"`
	ToNode   string `json:"to_node"`
}

func (SetConfig) CommandType() CommandType      { return TypeSetConfig }
func (ReportVerdicts) CommandType() CommandType { return TypeReportVerdicts }
func (SetDrain) CommandType() CommandType       { return TypeSetDrain }
func (SetMaintenance) CommandType() CommandType { return TypeSetMaintenance }
func (SetLiveNodes) CommandType() CommandType   { return TypeSetLiveNodes }
func (SetPlacement) CommandType() CommandType   { return TypeSetPlacement }
func (TransferVIP) CommandType() CommandType    { return TypeTransferVIP }
func (RevokeNode) CommandType() CommandType     { return TypeRevokeNode }

// Encode returns the canonical encoding of c at MaxCommandVersion: slices
// that are sets are sorted, so equal commands encode to equal bytes.
func Encode(c Command) ([]byte, error) {
	return EncodeVersion(c, MaxCommandVersion)
}

// EncodeVersion encodes c with an explicit schema version (for tests and
// for proposing an older version during a rolling upgrade).
func EncodeVersion(c Command, v uint16) ([]byte, error) {
	return encode(c, v, "")
}

// EncodeFrom is Encode with the command's origin in the envelope.
func EncodeFrom(c Command, origin string) ([]byte, error) {
	return encode(c, MaxCommandVersion, origin)
}

// MustEncodeFrom is EncodeFrom for commands known to be encodable.
func MustEncodeFrom(c Command, origin string) []byte {
	b, err := EncodeFrom(c, origin)
	if err != nil {
		panic(err)
	}
	return b
}

// Peek reads the type and origin of an encoded command without decoding
// its payload (for logging what is applied).
func Peek(b []byte) (CommandType, string, error) {
	var env struct {
		Type   CommandType `json:"type"`
		Origin string      `json:"origin"`
	}
	if len(b) > MaxCommandBytes {
		return "", "", fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return "", "", fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	return env.Type, env.Origin, nil
}

func encode(c Command, v uint16, origin string) ([]byte, error) {
	if len(origin) > MaxOriginBytes {
		origin = origin[:MaxOriginBytes]
	}
	if c == nil || (reflect.ValueOf(c).Kind() == reflect.Pointer && reflect.ValueOf(c).IsNil()) {
		return nil, fmt.Errorf("fsm: encode: nil command")
	}
	p, err := json.Marshal(canonicalCommand(c))
	if err != nil {
		return nil, fmt.Errorf("fsm: encode %s: %w", c.CommandType(), err)
	}
	return json.Marshal(Envelope{Type: c.CommandType(), Version: v, Payload: p, Origin: origin})
}

// MustEncode is Encode for commands known to be encodable (tests, literals).
func MustEncode(c Command) []byte {
	b, err := Encode(c)
	if err != nil {
		panic(err)
	}
	return b
}

// canonicalCommand returns a copy of c with set-like slices sorted.
func canonicalCommand(c Command) Command {
	switch c := c.(type) {
	case SetConfig:
		c.Files = slices.Clone(c.Files)
		slices.SortStableFunc(c.Files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
		c.Hosts = slices.Clone(c.Hosts)
		for i := range c.Hosts {
			c.Hosts[i].Addrs = slices.Clone(c.Hosts[i].Addrs)
			slices.SortFunc(c.Hosts[i].Addrs, netip.Addr.Compare)
		}
		slices.SortStableFunc(c.Hosts, func(a, b Host) int { return strings.Compare(a.Name, b.Name) })
		c.Nodes = sortedUnique(c.Nodes)
		return c
	case *SetConfig:
		return canonicalCommand(*c)
	case ReportVerdicts:
		c.Observations = slices.Clone(c.Observations)
		slices.SortStableFunc(c.Observations, compareObservation)
		return c
	case *ReportVerdicts:
		return canonicalCommand(*c)
	case SetLiveNodes:
		c.Nodes = sortedUnique(c.Nodes)
		return c
	case *SetLiveNodes:
		return canonicalCommand(*c)
	case SetPlacement:
		c.Priorities = slices.Clone(c.Priorities)
		for i := range c.Priorities {
			c.Priorities[i].Nodes = slices.Clone(c.Priorities[i].Nodes)
			slices.SortStableFunc(c.Priorities[i].Nodes, func(a, b NodePriority) int { return strings.Compare(a.Node, b.Node) })
		}
		slices.SortStableFunc(c.Priorities, func(a, b InstancePriorities) int { return strings.Compare(a.Instance, b.Instance) })
		return c
	case *SetPlacement:
		return canonicalCommand(*c)
	case *SetDrain:
		return *c
	case *SetMaintenance:
		return *c
	case *TransferVIP:
		return *c
	case *RevokeNode:
		return *c
	}
	return c
}

func compareObservation(a, b Observation) int {
	if c := strings.Compare(a.VS, b.VS); c != 0 {
		return c
	}
	return compareAddrPort(a.RS, b.RS)
}

func compareAddrPort(a, b netip.AddrPort) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Port(), b.Port())
}

// Decode parses an encoded command. An unknown type or a version this
// build does not support returns an error wrapping ErrUnknownCommand (with
// the envelope, so callers can log the type); bad JSON, trailing data or
// unknown fields return an error wrapping ErrMalformed.
func Decode(b []byte) (Command, error) {
	c, _, err := decodeEnvelope(b)
	return c, err
}

// decodeEnvelope is Decode that also returns the envelope's origin.
func decodeEnvelope(b []byte) (Command, string, error) {
	if len(b) > MaxCommandBytes {
		return nil, "", fmt.Errorf("%w: %d bytes (limit %d)", ErrMalformed, len(b), MaxCommandBytes)
	}
	var env Envelope
	if err := strictUnmarshal(b, &env); err != nil {
		return nil, "", fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if len(env.Origin) > MaxOriginBytes {
		return nil, "", fmt.Errorf("%w: origin of %d bytes (limit %d)", ErrMalformed, len(env.Origin), MaxOriginBytes)
	}
	c, err := decodePayload(env)
	return c, env.Origin, err
}

func decodePayload(env Envelope) (Command, error) {
	var c Command
	switch env.Type {
	case TypeSetConfig:
		c = &SetConfig{}
	case TypeReportVerdicts:
		c = &ReportVerdicts{}
	case TypeSetDrain:
		c = &SetDrain{}
	case TypeSetMaintenance:
		c = &SetMaintenance{}
	case TypeSetLiveNodes:
		c = &SetLiveNodes{}
	case TypeSetPlacement:
		c = &SetPlacement{}
	case TypeTransferVIP:
		c = &TransferVIP{}
	case TypeRevokeNode:
		c = &RevokeNode{}
	default:
		return nil, fmt.Errorf("%w: type %.64q version %d", ErrUnknownCommand, string(env.Type), env.Version)
	}
	if !Supports(env.Version) {
		return nil, fmt.Errorf("%w: type %s version %d (this build applies %d..%d)",
			ErrUnknownCommand, env.Type, env.Version, MinCommandVersion, MaxCommandVersion)
	}
	if len(env.Payload) == 0 {
		return nil, fmt.Errorf("%w: %s: no payload", ErrMalformed, env.Type)
	}
	if err := strictUnmarshal(env.Payload, c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, env.Type, err)
	}
	// Return values, not pointers, so callers switch on one set of types.
	switch p := c.(type) {
	case *SetConfig:
		return *p, nil
	case *ReportVerdicts:
		for i := range p.Observations {
			p.Observations[i].VS = normalizeID(p.Observations[i].VS)
		}
		return *p, nil
	case *SetDrain:
		p.VS = normalizeID(p.VS)
		return *p, nil
	case *SetMaintenance:
		return *p, nil
	case *SetLiveNodes:
		return *p, nil
	case *SetPlacement:
		return *p, nil
	case *TransferVIP:
		return *p, nil
	case *RevokeNode:
		return *p, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrInternal, env.Type)
}

// strictUnmarshal decodes exactly one JSON value with no unknown fields.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// sortedUnique returns the sorted distinct elements of s.
func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// normalizeID spells a virtual service ID in the scheme of package
// internal/ids: commands and snapshots written by earlier builds carry
// "TCP 192.0.2.10:80" where this one writes "tcp/192.0.2.10:80". Every
// replica runs the same function on the same bytes, so they stay equal. An
// ID in neither scheme is kept as it is (it names no virtual server, and
// the command handlers say so). Every legacy spelling has a space and no
// ID of the scheme has one, so a current command is not re-rendered (this
// runs for every observation of every report).
func normalizeID(id string) string {
	if !strings.Contains(id, " ") {
		return id
	}
	if n, ok := ids.Normalize(id); ok {
		return n
	}
	return id
}
