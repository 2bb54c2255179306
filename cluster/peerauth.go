package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/raft"
)

// peer is who is on the other end of a connection to the Raft port: the
// node name its certificate carries (mutual TLS; "" without TLS) and its
// address.
type peer struct {
	name   string
	remote netip.Addr
}

func (p peer) String() string {
	if p.name == "" {
		return p.remote.String()
	}
	return p.name + "@" + p.remote.String()
}

// Reasons a connection is refused (label of quadrature_cluster_peer_refused_total).
const (
	refusedRevoked    = "revoked"
	refusedNotNode    = "not_a_node"
	refusedNotPeer    = "not_a_peer_address"
	refusedNoIdentity = "no_identity"
	refusedBadCert    = "bad_certificate" // TLS handshake failed (other CA, no certificate, expired)
)

// errPeerRefused wraps every refusal of a peer.
var errPeerRefused = errors.New("cluster: peer refused")

// peerOf reads the identity of an accepted connection (after its TLS
// handshake, when TLS is on).
func peerOf(c net.Conn) peer {
	p := peer{}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		p.remote = ap.Addr().Unmap()
	}
	if tc, ok := c.(*tls.Conn); ok {
		if cs := tc.ConnectionState(); len(cs.PeerCertificates) > 0 {
			p.name = cs.PeerCertificates[0].Subject.CommonName
		}
	}
	return p
}

// raftServers returns the IDs and address IPs of the current Raft
// configuration (empty before the node has any).
func (n *Node) raftServers() (ids map[string]bool, ips map[netip.Addr]bool) {
	ids, ips = map[string]bool{}, map[netip.Addr]bool{}
	if n.raft == nil {
		return ids, ips
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return ids, ips
	}
	for _, s := range f.Configuration().Servers {
		ids[string(s.ID)] = true
		if ap, err := netip.ParseAddrPort(string(s.Address)); err == nil {
			ips[ap.Addr().Unmap()] = true
		}
	}
	return ids, ips
}

// peerIPs are the literal IP addresses of Config.Peers (host names are not
// resolved) and, without TLS, BindAddr: the node's own host.
func (n *Node) peerIPs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	if n.cfg.TLS == nil {
		out[n.cfg.BindAddr.Unmap()] = true
	}
	for _, p := range n.cfg.Peers {
		host := p
		if h, _, err := net.SplitHostPort(p); err == nil {
			host = h
		}
		if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
			out[a.Unmap()] = true
		}
	}
	return out
}

// namesKnown reports whether Config.Nodes names anyone besides this node.
func (n *Node) namesKnown() bool {
	for _, name := range n.cfg.Nodes {
		if name != n.cfg.NodeName {
			return true
		}
	}
	return false
}

// isRevoked reports whether name is on the deny list.
func (n *Node) isRevoked(name string) bool {
	n.revokedMu.Lock()
	defer n.revokedMu.Unlock()
	return name != "" && slices.Contains(n.revoked, name)
}

// authorizePeer decides whether p may talk to this node's Raft port at
// all. With TLS (the chain to the group's CA is already verified) the
// certificate's name must be a node of the group: this node, a configured
// node, or a server of the Raft configuration; when the file names no
// other node, a configured peer address stands in for the name. Without
// TLS (insecure) only configured peer addresses and the addresses of Raft
// servers are accepted. A revoked name is always refused.
func (n *Node) authorizePeer(p peer) (reason string, err error) {
	if n.isRevoked(p.name) {
		return refusedRevoked, fmt.Errorf("%w: %s: node %s is revoked", errPeerRefused, p, p.name)
	}
	ids, ips := n.raftServers()
	if n.cfg.TLS != nil {
		if p.name == "" {
			return refusedNoIdentity, fmt.Errorf("%w: %s: no certificate name", errPeerRefused, p)
		}
		if p.name == n.cfg.NodeName || slices.Contains(n.cfg.Nodes, p.name) || ids[p.name] {
			return "", nil
		}
		if !n.namesKnown() && n.peerIPs()[p.remote] {
			return "", nil
		}
		return refusedNotNode, fmt.Errorf("%w: %s: certificate name %q is not a node of this group", errPeerRefused, p, p.name)
	}
	if n.peerIPs()[p.remote] || ips[p.remote] {
		return "", nil
	}
	return refusedNotPeer, fmt.Errorf("%w: %s: address is not a configured peer", errPeerRefused, p)
}

// authorizeRPC decides whether an accepted peer may run op. Applying and
// reading through the leader need a member of the Raft configuration;
// membership changes additionally need mutual TLS (an operator's API call
// forwarded by another node), except a node removing itself (graceful
// leave) from its own address.
func (n *Node) authorizeRPC(p peer, req rpcRequest) error {
	if req.Op == opStatus {
		return nil
	}
	ids, ips := n.raftServers()
	member := ips[p.remote]
	if n.cfg.TLS != nil {
		member = ids[p.name]
	}
	if !member {
		return fmt.Errorf("%w: %s: %s needs a member of the raft configuration", errPeerRefused, p, req.Op)
	}
	switch req.Op {
	case opAddVoter, opAddNonvoter, opRemoveServer:
		if n.cfg.TLS != nil {
			return nil
		}
		if req.Op == opRemoveServer && n.serverAt(req.ID, p.remote) {
			return nil
		}
		return fmt.Errorf("%w: %s: membership changes over RPC need mutual TLS; send them to the leader's API", errPeerRefused, p)
	}
	return nil
}

// authorizeOut vets the peer a dial of ours reached: with TLS, a peer whose
// certificate carries a revoked name is hung up on (so the leader stops
// replicating to a revoked node even while it is still a server).
func (n *Node) authorizeOut(p peer) error {
	if n.isRevoked(p.name) {
		return fmt.Errorf("%w: %s: node %s is revoked", errPeerRefused, p, p.name)
	}
	return nil
}

// serverAt reports whether Raft server id has its address at ip.
func (n *Node) serverAt(id string, ip netip.Addr) bool {
	if n.raft == nil {
		return false
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			ap, err := netip.ParseAddrPort(string(s.Address))
			return err == nil && ap.Addr().Unmap() == ip
		}
	}
	return false
}

// configuredMember reports whether a gossip member may be made a voter by
// the leader (or bootstrap with this node): never a revoked name; with TLS,
// a configured node by name (by address, a configured peer's, when the file
// names no other node); without TLS, a member at a configured peer address
// or a Raft server's (the only ones the Raft port accepts), and by name
// too when the file names the nodes.
func (n *Node) configuredMember(name string, addrs ...netip.Addr) bool {
	if n.isRevoked(name) {
		return false
	}
	if n.cfg.TLS != nil && n.namesKnown() {
		return slices.Contains(n.cfg.Nodes, name)
	}
	if n.namesKnown() && !slices.Contains(n.cfg.Nodes, name) {
		return false
	}
	ips := n.peerIPs()
	if n.cfg.TLS == nil {
		_, serverIPs := n.raftServers()
		for a := range serverIPs {
			ips[a] = true
		}
	}
	for _, a := range addrs {
		if ips[a.Unmap()] {
			return true
		}
	}
	return false
}

// trackedConns are the accepted connections and who they belong to, so a
// revocation closes the ones already open.
type trackedConns struct {
	mu sync.Mutex
	m  map[net.Conn]peer
}

func (s *trackedConns) add(c net.Conn, p peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[net.Conn]peer{}
	}
	s.m[c] = p
}

func (s *trackedConns) remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, c)
}

// closeIf closes (and forgets) the connections whose peer matches.
func (s *trackedConns) closeIf(match func(peer) bool) int {
	s.mu.Lock()
	var doomed []net.Conn
	for c, p := range s.m {
		if match(p) {
			doomed = append(doomed, c)
			delete(s.m, c)
		}
	}
	s.mu.Unlock()
	for _, c := range doomed {
		_ = c.Close()
	}
	return len(doomed)
}

// acceptedConn forgets itself when raft closes it.
type acceptedConn struct {
	net.Conn
	set  *trackedConns
	once sync.Once
}

func (c *acceptedConn) Close() error {
	c.once.Do(func() { c.set.remove(c) })
	return c.Conn.Close()
}

var _ raft.StreamLayer = (*streamLayer)(nil)
